//! Phone numbers: E.164 input split into country code and national number, and the
//! `phone_info` shape WeChat writes them in.
//!
//! E.164 country codes are prefix-free: zones 1 and 7 are one digit, a fixed set of two-digit
//! codes exists (20, 27, 30-34, 36, 39, 40, 41, 43-49, 51-58, 60-66, 81, 82, 84, 86, 90-95,
//! 98), and every other code has three digits (852, 886, 971, ...). So the split needs no
//! table of three-digit codes.

use serde::Serialize;

use crate::error::SimError;

const TWO_DIGIT_CODES: &[u16] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// A phone number split the way WeChat reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PhoneNumber {
    country_code: String,
    national: String,
}

impl PhoneNumber {
    /// Parses `+` then 8 to 15 digits.
    pub(crate) fn parse_e164(raw: &str) -> Result<Self, SimError> {
        let digits = raw
            .strip_prefix('+')
            .ok_or(SimError::InvalidPhone("must start with +"))?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SimError::InvalidPhone("only digits may follow the +"));
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(SimError::InvalidPhone("must have 8 to 15 digits"));
        }
        let cc_len = country_code_len(digits)?;
        let (cc, national) = digits.split_at(cc_len);
        Ok(Self {
            country_code: cc.to_owned(),
            national: national.to_owned(),
        })
    }

    /// The `phone_info` object (also the legacy plaintext), in WeChat's field order.
    pub(crate) fn info<'a>(
        &'a self,
        appid: &'a str,
        timestamp: i64,
        cc_as_number: bool,
    ) -> PhoneInfo<'a> {
        let country_code = match self.country_code.parse::<u16>() {
            Ok(n) if cc_as_number => CountryCode::Number(n),
            _ => CountryCode::Text(&self.country_code),
        };
        // Mainland numbers carry no country code; WeChat says foreign ones "include" it.
        let phone_number = if self.country_code == "86" {
            self.national.clone()
        } else {
            format!("+{}{}", self.country_code, self.national)
        };
        PhoneInfo {
            phone_number,
            pure_phone_number: &self.national,
            country_code,
            watermark: Watermark { timestamp, appid },
        }
    }
}

fn country_code_len(digits: &str) -> Result<usize, SimError> {
    let first = digits.as_bytes().first().copied().unwrap_or(b'0');
    match first {
        b'0' => Err(SimError::InvalidPhone("no country code starts with 0")),
        b'1' | b'7' => Ok(1),
        _ => {
            let two = digits.get(..2).and_then(|s| s.parse::<u16>().ok());
            Ok(if two.is_some_and(|t| TWO_DIGIT_CODES.contains(&t)) {
                2
            } else {
                3
            })
        }
    }
}

/// `countryCode`: a string in the field table and in legacy data, a number in the doc example.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum CountryCode<'a> {
    Text(&'a str),
    Number(u16),
}

/// `watermark`: when the user acted, and for which app.
#[derive(Debug, Serialize)]
pub(crate) struct Watermark<'a> {
    pub(crate) timestamp: i64,
    pub(crate) appid: &'a str,
}

/// WeChat's `phone_info` (and the legacy phone plaintext).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PhoneInfo<'a> {
    pub(crate) phone_number: String,
    pub(crate) pure_phone_number: &'a str,
    pub(crate) country_code: CountryCode<'a>,
    pub(crate) watermark: Watermark<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(raw: &str) -> (String, String) {
        let p = PhoneNumber::parse_e164(raw).unwrap();
        (p.country_code, p.national)
    }

    #[test]
    fn country_codes_of_one_two_and_three_digits_are_split_off() {
        assert_eq!(split("+8613800138000"), ("86".into(), "13800138000".into()));
        assert_eq!(split("+14155550123"), ("1".into(), "4155550123".into()));
        assert_eq!(split("+74951234567"), ("7".into(), "4951234567".into()));
        assert_eq!(split("+447911123456"), ("44".into(), "7911123456".into()));
        assert_eq!(split("+85291234567"), ("852".into(), "91234567".into()));
        assert_eq!(split("+886912345678"), ("886".into(), "912345678".into()));
        assert_eq!(split("+971501234567"), ("971".into(), "501234567".into()));
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for bad in [
            "",
            "8613800138000",
            "+86 13800138000",
            "+861380013800a",
            "+1234567",
            "+1234567890123456",
            "+0123456789",
            "++8613800138000",
        ] {
            assert!(PhoneNumber::parse_e164(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mainland_numbers_are_written_as_wechat_does() {
        let p = PhoneNumber::parse_e164("+8613800138000").unwrap();
        let json = serde_json::to_string(&p.info("wx1", 1_700_000_000, false)).unwrap();
        assert_eq!(
            json,
            r#"{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1700000000,"appid":"wx1"}}"#
        );
        let numeric = serde_json::to_value(p.info("wx1", 1, true)).unwrap();
        assert_eq!(numeric["countryCode"], 86);
    }

    #[test]
    fn foreign_numbers_include_the_country_code_in_phone_number() {
        let p = PhoneNumber::parse_e164("+85291234567").unwrap();
        let v = serde_json::to_value(p.info("wx1", 1, false)).unwrap();
        assert_eq!(v["phoneNumber"], "+85291234567");
        assert_eq!(v["purePhoneNumber"], "91234567");
        assert_eq!(v["countryCode"], "852");
    }
}
