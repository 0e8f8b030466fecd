//! `POST /v1/phone`: verify the phone (code API or legacy encrypted data), then sign in or
//! hand out a registration ticket.

use tracing::instrument;

use super::{AuthService, PhoneMatch, PhoneResult, RegistrationPolicy, secs};
use crate::admin::CreateOutcome;
use crate::counters;
use crate::crypto::{Handle, HandleHash, sha256};
use crate::error::AuthError;
use crate::events::UserSource;
use crate::ids::AppId;
use crate::phone::Phone;
use crate::ports::{
    Identity, LimitKind, LookupAnswer, LookupRequest, SessionRecord, TicketRecord, UserRecord,
};
use crate::secret::PhoneCode;
use crate::service::Profile;
use crate::service::login::MAX_CODE_LEN;
use crate::views::PhoneView;
use crate::wxcrypt::{DecryptError, Payload};

/// How the phone number is proven.
pub enum PhoneProof {
    /// The current API: `e.detail.code`.
    Code(PhoneCode),
    /// The legacy API: `e.detail.encryptedData` and `e.detail.iv`.
    Encrypted {
        /// Base64 ciphertext.
        encrypted_data: String,
        /// Base64 iv.
        iv: String,
    },
}

impl std::fmt::Debug for PhoneProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(_) => f.write_str("PhoneProof::Code([redacted])"),
            Self::Encrypted { .. } => f.write_str("PhoneProof::Encrypted([redacted])"),
        }
    }
}

impl AuthService {
    /// Verifies the phone for the session's user. `appid`, when the client sends one, must be
    /// the session's.
    #[instrument(skip_all)]
    pub async fn phone(
        &self,
        session: &str,
        appid: Option<&str>,
        proof: PhoneProof,
    ) -> PhoneResult {
        let session = self.live_session(session, appid).await?;
        self.limit(LimitKind::OpenId, &openid_bucket(&session.identity))
            .await?;
        match proof {
            PhoneProof::Code(code) => {
                let raw = code.expose_secret();
                if raw.is_empty() || raw.len() > MAX_CODE_LEN {
                    return counters::phone(
                        "code",
                        Err(AuthError::PhoneCodeInvalid {
                            wechat_errcode: None,
                        }),
                    );
                }
                // Keyed by session too: another session presenting the same code must not be
                // handed this session's outcome.
                let key = sha256(&[b"phone", &session.hash.0, raw.as_bytes()]);
                self.phone_outcomes
                    .once(key, async {
                        counters::phone("code", self.phone_by_code(&session, key, code).await)
                    })
                    .await
            }
            PhoneProof::Encrypted { encrypted_data, iv } => {
                let verified = async {
                    let phone = self
                        .phone_by_legacy_data(&session, &encrypted_data, &iv)
                        .await?;
                    self.phone_verified(&session, phone).await
                };
                counters::phone("legacy", verified.await)
            }
        }
    }

    pub(super) async fn live_session(
        &self,
        presented: &str,
        appid: Option<&str>,
    ) -> Result<SessionRecord, AuthError> {
        let hash = HandleHash::of(presented);
        let session = self
            .ports
            .sessions
            .live_session(&hash, self.now())
            .await?
            .ok_or(AuthError::SessionInvalid)?;
        match appid {
            Some(appid) if appid != session.identity.appid.as_str() => {
                Err(AuthError::SessionInvalid)
            }
            _ => Ok(session),
        }
    }

    /// The phone a proof verifies for `session`, without signing anyone in (a phone change).
    /// A code is exchanged once; unlike `/v1/phone` its outcome is not remembered, so a
    /// double tap gets `phone_code_invalid` the second time.
    pub(super) async fn verified_phone(
        &self,
        session: &SessionRecord,
        proof: PhoneProof,
    ) -> Result<Phone, AuthError> {
        match proof {
            PhoneProof::Code(code) => {
                let raw = code.expose_secret();
                if raw.is_empty() || raw.len() > MAX_CODE_LEN {
                    return Err(AuthError::PhoneCodeInvalid {
                        wechat_errcode: None,
                    });
                }
                self.exchange_phone_code(session, code).await
            }
            PhoneProof::Encrypted { encrypted_data, iv } => {
                self.phone_by_legacy_data(session, &encrypted_data, &iv)
                    .await
            }
        }
    }

    async fn phone_by_code(
        &self,
        session: &SessionRecord,
        key: [u8; 32],
        code: PhoneCode,
    ) -> PhoneResult {
        let phone = match self.exchanged.phones.remove(&key).await {
            Some(phone) => phone,
            None => self.exchange_phone_code(session, code).await?,
        };
        let outcome = self.phone_verified(session, phone.clone()).await;
        if let Err(e) = &outcome
            && !e.is_cacheable()
        {
            // As for login codes: WeChat used the code up; keep its answer for a retry.
            self.exchanged.phones.insert(key, phone).await;
        }
        outcome
    }

    async fn exchange_phone_code(
        &self,
        session: &SessionRecord,
        code: PhoneCode,
    ) -> Result<Phone, AuthError> {
        let app = &session.identity.appid;
        let info = self
            .ports
            .wechat
            .phone_number(app, code, Some(&session.identity.openid))
            .await
            // The adapter logged the failure, with its cause; here it is only classified.
            .map_err(|f| AuthError::from_phone_failure(&f))?;
        if !info.watermark_appid.is_empty() && info.watermark_appid != app.as_str() {
            return Err(AuthError::AppidMismatch);
        }
        Phone::from_parts(&info.country_code, &info.pure_phone_number)
    }

    /// The legacy proof: decrypt with the session_keys we hold for this identity.
    ///
    /// Against forgery (AES-CBC has no integrity, so a padding oracle would let a user forge
    /// any phone under their own session_key): every plaintext failure is one kind with one
    /// metric label (`undecryptable`), both candidate keys are always tried, and at most
    /// `legacy_failure_cap` failures are allowed per session_key: after that even a genuine
    /// payload is refused until a new login code rotates the key. Malformed input (base64,
    /// lengths) does not count: it tells nothing about the key.
    async fn phone_by_legacy_data(
        &self,
        session: &SessionRecord,
        data: &str,
        iv: &str,
    ) -> Result<Phone, AuthError> {
        let payload = Payload::parse(data, iv)
            .map_err(|_| decrypt_failed("malformed", AuthError::PayloadMalformed))?;
        let identity = &session.identity;
        let keys = self
            .ports
            .sessions
            .session_keys(&identity.appid, &identity.openid)
            .await?
            .ok_or(AuthError::SessionKeyStale)?;
        // Keyed by the sealed current key: a rotation (a new login code) starts a new count.
        let counter = sha256(&[
            b"legacy-failures",
            identity.appid.as_str().as_bytes(),
            identity.openid.as_str().as_bytes(),
            &keys.current,
        ]);
        if self.legacy_failures.failures(&counter).await? >= self.settings.legacy_failure_cap {
            return Err(decrypt_failed("locked", AuthError::SessionKeyStale));
        }
        let now = self.now();
        let mut candidates = vec![&keys.current];
        if let Some(previous) = &keys.previous
            && now < keys.rotated_at + secs(self.settings.session_key_grace)
        {
            candidates.push(previous);
        }
        let context = format!("session_key:{}:{}", identity.appid, identity.openid);
        let mut decrypted = Err(DecryptError::Undecryptable);
        for sealed in candidates {
            let key = self
                .sealer
                .open_string(&context, sealed)
                .map_err(|_| AuthError::Internal("a stored session_key does not open".into()))?;
            // Every candidate is tried, whatever an earlier one said, so the time taken does
            // not tell which key (if any) came close.
            let attempt = payload.decrypt_with(&key, identity.appid.as_str());
            if decrypted.is_err() {
                decrypted = attempt;
            }
        }
        let refused = match decrypted {
            Ok(decrypted) => match self.check_watermark(decrypted.watermark_timestamp(), now) {
                Ok(()) if !self.settings.verify_legacy_payloads => {
                    return Phone::from_legacy_json(&decrypted.json);
                }
                Ok(()) => match self.issued_by_wechat(&identity.appid, &payload).await? {
                    true => return Phone::from_legacy_json(&decrypted.json),
                    false => decrypt_failed("unverified", AuthError::SessionKeyStale),
                },
                Err(e) => e,
            },
            Err(DecryptError::AppidMismatch) => {
                decrypt_failed("appid_mismatch", AuthError::AppidMismatch)
            }
            Err(e) if e.is_wrong_key() => {
                decrypt_failed("undecryptable", AuthError::SessionKeyStale)
            }
            Err(e) => {
                let cause = format!("stored session_key unusable: {}", e.reason());
                return Err(AuthError::Internal(cause.into()));
            }
        };
        self.legacy_failures
            .record_failure(&counter, self.settings.session_ttl)
            .await?;
        Err(refused)
    }

    /// `wechat.verify_legacy_payloads`: whether WeChat itself issued this payload. Asked only
    /// once the payload has decrypted, so failed attempts cost WeChat nothing.
    async fn issued_by_wechat(&self, app: &AppId, payload: &Payload) -> Result<bool, AuthError> {
        self.ports
            .wechat
            .check_encrypted_msg(app, payload.ciphertext_sha256())
            .await
            // The adapter logged the failure, with its cause.
            .map_err(|f| AuthError::from_phone_failure(&f))
    }

    fn check_watermark(
        &self,
        timestamp: Option<i64>,
        now: time::OffsetDateTime,
    ) -> Result<(), AuthError> {
        let oldest = (now - secs(self.settings.watermark_window)).unix_timestamp();
        let newest = (now + secs(self.settings.watermark_skew)).unix_timestamp();
        match timestamp {
            Some(ts) if (oldest..=newest).contains(&ts) => Ok(()),
            _ => Err(decrypt_failed(
                "watermark_expired",
                AuthError::WatermarkExpired,
            )),
        }
    }

    /// The phone is proven for this session: sign in its owner (found here, or by the
    /// operator's lookup hook), or issue a ticket.
    async fn phone_verified(&self, session: &SessionRecord, phone: Phone) -> PhoneResult {
        self.limit(LimitKind::Phone, &self.phone_bucket(&phone))
            .await?;
        let phone_hash = self.phone_index.hash(&phone.phone_number);
        if let Some(user) = self.ports.users.user_by_phone(&phone_hash).await? {
            return self.phone_sign_in(session, user).await;
        }
        if let Some(user) = self.looked_up(session, &phone, phone_hash).await? {
            return self.phone_sign_in(session, user).await;
        }
        if self.settings.registration == RegistrationPolicy::Closed {
            return Err(AuthError::RegistrationClosed);
        }
        let now = self.now();
        let ticket = Handle::generate("wxt_");
        let hash = ticket.hash();
        let record = TicketRecord {
            hash,
            identity: session.identity.clone(),
            phone_sealed: self
                .sealer
                .seal(&ticket_context(&hash), phone.storage_text().as_bytes()),
            created_at: now,
            expires_at: now + secs(self.settings.ticket_ttl),
        };
        self.ports.users.put_ticket(&record).await?;
        Ok(PhoneView::NotRegistered {
            registered: false,
            phone,
            registration_ticket: ticket.into_secret(),
            ticket_expires_in: self.settings.ticket_ttl.as_secs(),
        })
    }

    /// The phone's owner signs in through this session; the contract: the openid is bound to
    /// the phone's owner from now on. A disabled owner is refused and nothing is bound.
    async fn phone_sign_in(&self, session: &SessionRecord, user: UserRecord) -> PhoneResult {
        if user.disabled {
            return Err(AuthError::UserDisabled);
        }
        if self.settings.phone_match == PhoneMatch::RefuseIfBound
            && let Some(bound) = self
                .ports
                .users
                .identity_in_app(&user.id, &session.identity.appid)
                .await?
            && bound.openid != session.identity.openid
        {
            // The number's user already has a WeChat account in this app: a recycled number
            // (or a second WeChat account) must not take it over. Nothing is bound.
            return Err(AuthError::PhoneBoundElsewhere);
        }
        self.ports
            .users
            .bind_identity(&user.id, &session.identity, self.now())
            .await?;
        let tokens = self.sign_in(&user, &session.identity).await?;
        Ok(PhoneView::Registered {
            registered: true,
            user: self.user_view(&user)?,
            tokens,
        })
    }

    /// Asks the operator's lookup hook, when there is one, whether a phone with no user here
    /// belongs to one of theirs; if so creates that user (bound to this identity, with the
    /// external_id they named). `None`: no hook, or the hook does not know the phone. A hook
    /// that fails or stalls is `unavailable`, with nothing stored: the client retries.
    async fn looked_up(
        &self,
        session: &SessionRecord,
        phone: &Phone,
        phone_hash: [u8; 32],
    ) -> Result<Option<UserRecord>, AuthError> {
        let Some(lookup) = &self.ports.lookup else {
            return Ok(None);
        };
        let request = LookupRequest {
            phone: phone.phone_number.clone(),
            appid: session.identity.appid.clone(),
            openid: session.identity.openid.clone(),
            unionid: session.identity.unionid.clone(),
        };
        // Not logged here: the failure is the cause of the `unavailable` answer.
        let answer = lookup.lookup(&request).await.map_err(|e| {
            counters::count_lookup("failed");
            AuthError::Unavailable(e.into())
        })?;
        let LookupAnswer::Found {
            external_id,
            nickname,
            avatar_url,
        } = answer
        else {
            counters::count_lookup("not_found");
            return Ok(None);
        };
        counters::count_lookup("found");
        // The hook's profile is a suggestion: a field out of the contract's bounds is dropped
        // rather than failing the sign-in.
        let nickname = nickname.filter(|n| {
            Profile {
                nickname: Some(n.clone()),
                avatar_url: None,
            }
            .validate()
            .is_ok()
        });
        let avatar_url = avatar_url.filter(|u| {
            Profile {
                nickname: None,
                avatar_url: Some(u.clone()),
            }
            .validate()
            .is_ok()
        });
        let now = self.now();
        let profile = Profile {
            nickname,
            avatar_url,
        };
        let new_user = self.new_user(phone, profile, Some(external_id), now);
        match self
            .ports
            .accounts
            .create_user(new_user, &session.identity, UserSource::Lookup, now)
            .await?
        {
            CreateOutcome::Created(user) => {
                counters::count(counters::REGISTRATIONS_TOTAL);
                Ok(Some(user))
            }
            // A concurrent request created the phone's user first: sign that one in.
            CreateOutcome::PhoneTaken => Ok(self.ports.users.user_by_phone(&phone_hash).await?),
            // The operator's table says this person is a user we already hold (under another
            // phone): that user signs in, as the operator's system decided.
            CreateOutcome::ExternalIdTaken(id) => Ok(self.ports.users.user(&id).await?),
        }
    }
}

/// Counts a failed legacy decryption by reason (`wxlogin_decrypt_failures_total`) and passes
/// the error on. The reasons are a fixed set: `malformed`, `undecryptable` (padding and content
/// alike, on purpose), `appid_mismatch`, `watermark_expired`, `locked` (over the cap),
/// `unverified` (decrypted, but WeChat says it did not issue it).
fn decrypt_failed(reason: &'static str, error: AuthError) -> AuthError {
    metrics::counter!(counters::DECRYPT_FAILURES_TOTAL, "reason" => reason).increment(1);
    error
}

pub(super) fn ticket_context(hash: &HandleHash) -> String {
    format!("ticket-phone:{}", hex::encode(hash.0))
}

/// The per-openid bucket: openids are per app, so the appid is part of the key.
pub(super) fn openid_bucket(identity: &Identity) -> String {
    format!("{}:{}", identity.appid, identity.openid)
}
