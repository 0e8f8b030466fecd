//! Webhook endpoints as configured: where, with which secret, which event types, and whether
//! the body carries the user's phone number.

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use url::{Host, Url};
use wxlogin_core::events::{EventType, Subscription};

use crate::signing::{SecretError, WebhookSecret};

/// A webhook endpoint, or the lookup hook's URL, was refused at configuration time. The
/// text never quotes the URL (its query may hold a token) or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The URL does not parse or breaks the policy of [`check_url`].
    #[error("invalid hook URL: {0}")]
    Url(&'static str),
    /// The secret is not a Standard Webhooks secret.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// An event type name that is not one of the contract (nor `*`).
    #[error("unknown event type `{0}`")]
    UnknownEventType(String),
    /// The list of event types is empty.
    #[error("a webhook endpoint needs at least one event type (or \"*\")")]
    NoEventTypes,
}

/// One configured webhook endpoint.
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// Where events are POSTed; passed [`check_url`].
    pub url: Url,
    /// The endpoint's own signing secret.
    pub secret: WebhookSecret,
    /// The types it receives, `["*"]` already expanded ([`parse_event_types`]).
    pub types: Vec<EventType>,
    /// Whether bodies carry the user's current phone number (E.164).
    pub include_phone: bool,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &endpoint_id(&self.url))
            .field("url", &shown_url(&self.url))
            .field("types", &self.types)
            .field("include_phone", &self.include_phone)
            .finish_non_exhaustive()
    }
}

impl WebhookEndpoint {
    /// Builds an endpoint from configuration text: the URL (checked by [`check_url`]), the
    /// `whsec_…` secret and the event type names (`*` allowed).
    pub fn new<S: AsRef<str>>(
        url: &str,
        secret: &str,
        types: &[S],
        include_phone: bool,
    ) -> Result<Self, EndpointError> {
        let url = parse_url(url)?;
        Ok(Self {
            url,
            secret: WebhookSecret::parse(secret)?,
            types: parse_event_types(types)?,
            include_phone,
        })
    }

    /// The endpoint's stable id ([`endpoint_id`] of its URL).
    pub fn id(&self) -> String {
        endpoint_id(&self.url)
    }

    /// What the event store fans out to it.
    pub fn subscription(&self) -> Subscription {
        Subscription {
            endpoint: self.id(),
            types: self.types.clone(),
        }
    }
}

/// A stable id for an endpoint: `wh_` and the first 16 hex digits of the SHA-256 of its URL.
/// It keys the endpoint's deliveries in the store, so changing the URL starts a new endpoint
/// (which receives no history), and the URL itself (which may hold a token) is never stored.
pub fn endpoint_id(url: &Url) -> String {
    let digest = Sha256::digest(url.as_str().as_bytes());
    format!("wh_{}", hex::encode(&digest[..8]))
}

/// Parses a hook URL and applies [`check_url`].
pub fn parse_url(text: &str) -> Result<Url, EndpointError> {
    let url = Url::parse(text.trim()).map_err(|_| EndpointError::Url("not a URL"))?;
    check_url(&url)?;
    Ok(url)
}

/// The policy for hook URLs, applied at configuration load: `https`, or plain `http` only
/// to a loopback IP address (`127.0.0.0/8`, `[::1]`), since bodies carry personal data and
/// the signature does not hide them; no user name or password (a credential in a URL ends up
/// in logs and proxies; the signature authenticates us instead); no fragment.
pub fn check_url(url: &Url) -> Result<(), EndpointError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::Url("must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(EndpointError::Url("must not have a fragment"));
    }
    let host = url.host().ok_or(EndpointError::Url("needs a host"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&host) => Ok(()),
        "http" => Err(EndpointError::Url(
            "plain http is allowed only to a loopback address (127.0.0.1, [::1]); use https",
        )),
        _ => Err(EndpointError::Url("needs an https scheme")),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
        // A name could resolve anywhere: only literal addresses are known to stay local.
        Host::Domain(_) => false,
    }
}

/// The URL as logs may show it: scheme, host, port and path, without the query.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.into()
}

/// Reads configured event type names: each a type of the contract, or `*` for every type but
/// `user.signed_in` ([`EventType::in_wildcard`]; frequent, so it must be asked for by name).
/// Sorted, without duplicates.
pub fn parse_event_types<S: AsRef<str>>(names: &[S]) -> Result<Vec<EventType>, EndpointError> {
    let mut types = Vec::new();
    for name in names {
        let name = name.as_ref().trim();
        if name == "*" {
            types.extend(EventType::ALL.into_iter().filter(|t| t.in_wildcard()));
        } else {
            let kind = EventType::parse(name)
                .ok_or_else(|| EndpointError::UnknownEventType(name.chars().take(64).collect()))?;
            types.push(kind);
        }
    }
    if types.is_empty() {
        return Err(EndpointError::NoEventTypes);
    }
    types.sort();
    types.dedup();
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn check(text: &str) -> Result<(), EndpointError> {
        parse_url(text).map(|_| ())
    }

    #[test]
    fn https_anywhere_and_http_only_on_loopback_addresses() {
        assert_eq!(check("https://hooks.example.com/wx?token=abc"), Ok(()));
        assert_eq!(check("http://127.0.0.1:8080/hook"), Ok(()));
        assert_eq!(check("http://127.9.9.9/hook"), Ok(()));
        assert_eq!(check("http://[::1]:9000/"), Ok(()));
        for refused in [
            "http://hooks.example.com/",
            "http://localhost:8080/",
            "http://10.0.0.1/",
            "ftp://hooks.example.com/",
            "https://user:pass@hooks.example.com/",
            "https://user@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "not a url",
        ] {
            assert!(check(refused).is_err(), "{refused}");
        }
        let shown = check("https://user:hunter2@hooks.example.com/").unwrap_err();
        assert!(!shown.to_string().contains("hunter2"));
    }

    #[test]
    fn the_wildcard_is_every_type_but_signed_in() {
        let all = parse_event_types(&["*"]).unwrap();
        assert_eq!(all.len(), EventType::ALL.len() - 1);
        assert!(!all.contains(&EventType::UserSignedIn));
        let with = parse_event_types(&["*", "user.signed_in", "user.registered"]).unwrap();
        assert_eq!(with.len(), EventType::ALL.len());
        assert_eq!(
            parse_event_types(&["user.deleted", "user.deleted"]).unwrap(),
            vec![EventType::UserDeleted]
        );
        assert_eq!(
            parse_event_types(&["user.exploded"]),
            Err(EndpointError::UnknownEventType("user.exploded".into()))
        );
        assert_eq!(
            parse_event_types::<&str>(&[]),
            Err(EndpointError::NoEventTypes)
        );
    }

    #[test]
    fn endpoint_ids_are_stable_short_and_hide_the_url() {
        let a = Url::parse("https://hooks.example.com/wx?token=abc").unwrap();
        let b = Url::parse("https://hooks.example.com/wx?token=abd").unwrap();
        assert_eq!(endpoint_id(&a), endpoint_id(&a.clone()));
        assert_ne!(endpoint_id(&a), endpoint_id(&b));
        assert_eq!(endpoint_id(&a).len(), 3 + 16);
        assert!(endpoint_id(&a).starts_with("wh_"));
        // Computed independently: sha256(b"https://hooks.example.com/wx?token=abc")[:8].hex()
        assert_eq!(endpoint_id(&a), "wh_b7b55b3be307ac93");
    }

    #[test]
    fn an_endpoint_prints_neither_its_secret_nor_its_query() {
        let endpoint = WebhookEndpoint::new(
            "https://hooks.example.com/wx?token=abc",
            SECRET,
            &["*"],
            true,
        )
        .unwrap();
        let shown = format!("{endpoint:?}");
        assert!(
            !shown.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "{shown}"
        );
        assert!(!shown.contains("token=abc"), "{shown}");
        assert!(shown.contains("hooks.example.com/wx"), "{shown}");
        assert_eq!(endpoint.subscription().endpoint, endpoint.id());
    }
}
