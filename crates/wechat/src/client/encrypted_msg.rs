//! `POST /wxa/business/checkencryptedmsg`: did WeChat itself produce a legacy `encryptedData`?
//!
//! Legacy phone data is AES-128-CBC under the user's session_key, which has no integrity: a
//! client holding its own session_key can encrypt anything. WeChat remembers the SHA-256 of
//! every ciphertext it hands out for 3 days and answers whether a hash is one of them.

use wxlogin_core::secret::WxAccessToken;

use super::WeChatClient;
use crate::errcode::Endpoint;
use crate::error::WeChatError;
use crate::wire::{CheckEncryptedMsgRequest, EncryptedMsgCheck, EncryptedMsgReply};

impl WeChatClient {
    /// `POST /wxa/business/checkencryptedmsg`: asks whether WeChat produced the ciphertext
    /// (the base64-decoded `encryptedData`) whose SHA-256 is `ciphertext_sha256`, within the
    /// last 3 days. One request; the access token goes in the query, the lowercase hex hash in
    /// the JSON body. A refused token (40001, 40014, 41001, 42001) is an error with
    /// [`crate::Outcome::Token`]; the call consumes nothing, so the caller may resend it with a
    /// fresh token.
    pub async fn check_encrypted_msg(
        &self,
        token: &WxAccessToken,
        ciphertext_sha256: &[u8; 32],
    ) -> Result<EncryptedMsgCheck, WeChatError> {
        let mut url = self.url(Endpoint::CheckEncryptedMsg);
        url.query_pairs_mut()
            .append_pair("access_token", token.expose_secret());
        let hash = hex::encode(ciphertext_sha256);
        let request = self.http.post(url).json(&CheckEncryptedMsgRequest {
            encrypted_msg_hash: &hash,
        });
        let secrets = [token.expose_secret()];
        self.call(
            Endpoint::CheckEncryptedMsg,
            request,
            &secrets,
            EncryptedMsgReply::into_check,
        )
        .await
    }
}
