//! WXBizDataCrypt encryption: what WeChat does to legacy `encryptedData`.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::SimError;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// Encrypts `plaintext` as WeChat's legacy encrypted data: AES-128-CBC keyed by the decoded
/// session_key, with the decoded iv, PKCS#7 padding, standard base64 (with `=`) out.
///
/// Both inputs must be strict standard base64 of exactly 16 bytes.
pub fn encrypt_legacy(
    session_key_b64: &str,
    iv_b64: &str,
    plaintext: &[u8],
) -> Result<String, SimError> {
    let key = decode16(session_key_b64).ok_or(SimError::BadSessionKey)?;
    let iv = decode16(iv_b64).ok_or(SimError::BadIv)?;
    Ok(STANDARD.encode(encrypt_raw(&key, &iv, plaintext)))
}

/// The same with raw key and iv bytes.
pub(crate) fn encrypt_raw(key: &[u8; 16], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Aes128CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

fn decode16(b64: &str) -> Option<[u8; 16]> {
    STANDARD.decode(b64).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_vector_b_reencrypts_byte_for_byte() {
        let plaintext = br#"{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1700000000,"appid":"wx4f4bc4dec97d474b"}}"#;
        let out = encrypt_legacy(
            "EBESExQVFhcYGRobHB0eHw==",
            "oKGio6SlpqeoqaqrrK2urw==",
            plaintext,
        )
        .unwrap();
        assert_eq!(
            out,
            "7nOysZyyM/Ab/P6Mpe4Ef+wsn0mfXKQ3uOCjDO5SSSn5CRQ76SpBCDfzXjQwIBMIbSQrNJ2kQt+EY617B6nBGLqladdtw9ZTmJdimvM0EaeMfqpQX5fQQ3xIB3qHaXv+rlkFmGOkx6ew5a7PodVtTxxG0awLkXsESFbLJ3RNgn3NPMZ5CvIkfBC8k3swUkuMXyKO+2pfCGH2eFBaYfOtIw=="
        );
    }

    #[test]
    fn keys_and_ivs_that_are_not_16_bytes_of_strict_base64_are_refused() {
        let iv = "oKGio6SlpqeoqaqrrK2urw==";
        let aes192_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
        assert_eq!(
            encrypt_legacy(aes192_key, iv, b"x"),
            Err(SimError::BadSessionKey)
        );
        assert_eq!(
            encrypt_legacy("EBESExQVFhcYGRobHB0eHw%3D%3D", iv, b"x"),
            Err(SimError::BadSessionKey)
        );
        assert_eq!(
            encrypt_legacy("EBESExQVFhcYGRobHB0eHw==", "AAECAwQFBgcICQoLDA0ODxAR", b"x"),
            Err(SimError::BadIv)
        );
    }

    #[test]
    fn a_block_aligned_plaintext_gets_a_full_padding_block() {
        let out = encrypt_raw(&[0; 16], &[0; 16], &[b'a'; 32]);
        assert_eq!(out.len(), 48);
    }
}
