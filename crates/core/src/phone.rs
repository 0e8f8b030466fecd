//! Phone numbers: E.164 from WeChat's parts, and the masked form shown to clients.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::AuthError;

/// A phone number in E.164, split as the contract shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Phone {
    /// `+8613800138000`.
    #[schema(example = "+8613800138000")]
    pub phone_number: String,
    /// `13800138000`.
    pub pure_phone_number: String,
    /// `86`.
    pub country_code: String,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl Phone {
    /// Builds from WeChat's `countryCode` and `purePhoneNumber`, checking they are digits and
    /// that the whole fits E.164 (at most 15 digits).
    pub fn from_parts(country_code: &str, pure: &str) -> Result<Self, AuthError> {
        let cc = country_code.trim_start_matches('+');
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(cc)
            || cc.len() > 3
            || cc.starts_with('0')
            || !digits(pure)
            || pure.len() < 4
            || cc.len() + pure.len() > 15
        {
            return Err(AuthError::Internal(
                "wechat sent a phone number that is not E.164".into(),
            ));
        }
        Ok(Self {
            phone_number: format!("+{cc}{pure}"),
            pure_phone_number: pure.to_owned(),
            country_code: cc.to_owned(),
        })
    }

    /// Builds from a legacy decrypted phone payload (`countryCode` a string or a number).
    pub fn from_legacy_json(json: &serde_json::Map<String, Value>) -> Result<Self, AuthError> {
        let cc = match json.get("countryCode") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(AuthError::PayloadMalformed),
        };
        let pure = json
            .get("purePhoneNumber")
            .and_then(Value::as_str)
            .ok_or(AuthError::PayloadMalformed)?;
        Self::from_parts(&cc, pure).map_err(|_| AuthError::PayloadMalformed)
    }

    /// Parses a number an operator typed or imported: E.164 (`+8613800138000`), or 11 digits
    /// taken as a mainland China number (`13800138000` is `+86 13800138000`). The country
    /// code is split off by ITU-T E.164's assignment: `1` and `7` are one digit, a fixed list
    /// is two, the rest three. Written by hand: it is that one table, where a phone-number
    /// crate would bring every country's metadata.
    pub fn parse_input(raw: &str) -> Result<Self, AuthError> {
        let raw = raw.trim();
        let invalid = || AuthError::InvalidRequest("phone must be E.164 or 11 digits".into());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if raw.len() == 11 && digits(raw) {
            return Self::from_parts("86", raw).map_err(|_| invalid());
        }
        let body = raw.strip_prefix('+').ok_or_else(invalid)?;
        if !digits(body) {
            return Err(invalid());
        }
        const TWO_DIGIT: [&str; 44] = [
            "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45",
            "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
            "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94",
            "95", "98",
        ];
        let cc_len = if body.starts_with('1') || body.starts_with('7') {
            1
        } else if TWO_DIGIT.iter().any(|p| body.starts_with(p)) {
            2
        } else {
            3
        };
        if body.len() <= cc_len {
            return Err(invalid());
        }
        let (cc, pure) = body.split_at(cc_len);
        Self::from_parts(cc, pure).map_err(|_| invalid())
    }

    /// The form sealed at rest, `86:13800138000`, which keeps the country code's length.
    pub fn storage_text(&self) -> String {
        format!("{}:{}", self.country_code, self.pure_phone_number)
    }

    /// Reads [`Phone::storage_text`] back.
    pub fn from_storage_text(text: &str) -> Result<Self, AuthError> {
        let (cc, pure) = text
            .split_once(':')
            .ok_or_else(|| AuthError::Internal("stored phone is malformed".into()))?;
        Self::from_parts(cc, pure)
    }

    /// `+86 138****8000`: the country code, the first three and last four digits.
    pub fn masked(&self) -> String {
        mask(&self.country_code, &self.pure_phone_number)
    }
}

/// Masks a national number: keeps the first 3 and last 4 digits of long numbers, fewer of
/// short ones, so that at least half of the digits are always hidden.
pub fn mask(country_code: &str, pure: &str) -> String {
    let n = pure.chars().count();
    let (head, tail) = if n >= 11 {
        (3, 4)
    } else if n >= 8 {
        (2, 2)
    } else {
        (1, 1)
    };
    let head_part: String = pure.chars().take(head).collect();
    let tail_part: String = pure.chars().skip(n.saturating_sub(tail)).collect();
    format!(
        "+{country_code} {head_part}{}{tail_part}",
        "*".repeat(n.saturating_sub(head + tail).max(1))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_input_is_e164_or_eleven_chinese_digits() {
        let p = Phone::parse_input("13800138000").unwrap();
        assert_eq!(p.phone_number, "+8613800138000");
        assert_eq!(p.country_code, "86");
        let p = Phone::parse_input("+8613800138000").unwrap();
        assert_eq!(
            (p.country_code.as_str(), p.pure_phone_number.as_str()),
            ("86", "13800138000")
        );
        let p = Phone::parse_input("+14155550123").unwrap();
        assert_eq!(p.country_code, "1");
        let p = Phone::parse_input("+85291234567").unwrap();
        assert_eq!(p.country_code, "852");
        let p = Phone::parse_input("+447911123456").unwrap();
        assert_eq!(p.country_code, "44");
        for bad in [
            "",
            "+",
            "138001380",
            "+86abc",
            "8613800138000x",
            "+1234567890123456",
            "+86",
        ] {
            assert!(Phone::parse_input(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_mainland_number_is_masked_as_in_the_contract() {
        let p = Phone::from_parts("86", "13800138000").unwrap();
        assert_eq!(p.phone_number, "+8613800138000");
        assert_eq!(p.masked(), "+86 138****8000");
        assert_eq!(Phone::from_storage_text(&p.storage_text()).unwrap(), p);
    }

    #[test]
    fn short_numbers_still_hide_half_their_digits() {
        assert_eq!(mask("852", "91234567"), "+852 91****67");
        assert_eq!(mask("1", "1234"), "+1 1**4");
    }

    #[test]
    fn non_digits_and_overlong_numbers_are_refused() {
        assert!(Phone::from_parts("86", "1380013800a").is_err());
        assert!(Phone::from_parts("", "13800138000").is_err());
        assert!(Phone::from_parts("86", "1234567890123456").is_err());
    }

    #[test]
    fn country_code_may_be_a_string_or_a_number_in_legacy_data() {
        let as_number: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"purePhoneNumber":"13800138000","countryCode":86}"#).unwrap();
        let as_string: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"purePhoneNumber":"13800138000","countryCode":"86"}"#)
                .unwrap();
        assert_eq!(
            Phone::from_legacy_json(&as_number).unwrap(),
            Phone::from_legacy_json(&as_string).unwrap()
        );
    }
}
