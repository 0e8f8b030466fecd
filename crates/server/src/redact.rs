//! The last line of defence for logs: every formatted log line passes through
//! [`RedactingMakeWriter`], which masks what looks like a secret before it is written.
//!
//! The code never logs secrets on purpose (they are newtypes whose `Debug` says
//! `[redacted]`, and reqwest errors are stripped of their URLs), but a dependency at TRACE
//! level, or a careless `{:?}` in a future change, could. This writer catches, by shape:
//! * our handles (`wxs_…`, `wxr_…`, `wxt_…`) and JWTs (`eyJ….….…`);
//! * values of keys that carry secrets in query strings, JSON, headers and `key=value`
//!   fields: `secret`, `js_code`, `code`, `access_token`, `session_key`, `refresh_token`,
//!   `encrypted_data`/`encryptedData`, `iv`, `ticket`, `authorization`, `password`, …;
//! * phone numbers: E.164 (`+8613800138000`) and mainland 11-digit numbers;
//! * and, by value, every secret registered with [`register_secret`] at start (the
//!   AppSecrets), so a secret printed bare is masked too.
//!
//! It costs a few regex scans per log line, paid only for lines that are written.

use std::io::{self, Write};
use std::sync::{OnceLock, RwLock};

use regex::Regex;
use tracing_subscriber::fmt::MakeWriter;

const MASK: &str = "[redacted]";

fn patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let rules: [(&str, &'static str); 5] = [
            // Our opaque handles: session, refresh token, registration ticket.
            (r"\bwx[srt]_[A-Za-z0-9_\-]{8,}", "wx_[redacted]"),
            // JWTs (ours, or any other bearer token that is one).
            (
                r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
                "[redacted-jwt]",
            ),
            // key=value, key: value, "key":"value", key%3Dvalue in URLs; case-insensitive.
            (
                r#"(?i)\b(secret|appsecret|js_code|code|access_token|session_key|sessionkey|refresh_token|encrypted_data|encrypteddata|iv|ticket|registration_ticket|authorization|password|master_key|bearer)(\\?"?\s*(?:=|:|%3D)\s*\\?"?)(?:Bearer\s+)?[^\s"&,;}\\]+"#,
                "${1}${2}[redacted]",
            ),
            // E.164 phone numbers.
            (r"\+[1-9]\d{7,14}\b", "+[redacted-phone]"),
            // Mainland mobile numbers without the country code.
            (r"\b1[3-9]\d{9}\b", "[redacted-phone]"),
        ];
        rules
            .into_iter()
            .filter_map(|(re, with)| Regex::new(re).ok().map(|re| (re, with)))
            .collect()
    })
}

fn known() -> &'static RwLock<Vec<String>> {
    static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(RwLock::default)
}

/// Masks `secret` wherever it appears in a log line from now on (values of 6 bytes or more;
/// shorter ones would mask ordinary words).
pub fn register_secret(secret: &str) {
    if secret.len() < 6 {
        return;
    }
    let mut known = match known().write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if !known.iter().any(|k| k == secret) {
        known.push(secret.to_owned());
    }
}

/// `line` with everything secret-shaped masked.
pub fn redact(line: &str) -> String {
    let mut out = line.to_owned();
    {
        let known = match known().read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for secret in known.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
    }
    for (re, with) in patterns() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *with).into_owned();
        }
    }
    out
}

/// Wraps a [`MakeWriter`] (stdout, a file, a test buffer) so that every line is redacted.
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
        }
    }
}

/// See [`RedactingMakeWriter`]. tracing-subscriber's fmt layer formats a whole event into
/// one buffer and writes it with one call, so each `write` sees whole lines.
#[derive(Debug)]
pub struct RedactingWriter<W> {
    inner: W,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shapes_are_masked() {
        let cases = [
            (
                "GET /sns/jscode2session?appid=wx1&secret=abc123def&js_code=0a1b2c&grant_type=authorization_code",
                &["abc123def", "0a1b2c"][..],
            ),
            (
                r#"{"session":"wxs_AAAABBBBCCCCDDDD","refresh_token":"wxr_EEEEFFFFGGGGHHHH"}"#,
                &["AAAABBBBCCCCDDDD", "EEEEFFFFGGGGHHHH"],
            ),
            (
                "authorization: Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                &["eyJzdWIiOiIxIn0", "c2lnbmF0dXJl"],
            ),
            (
                r#"phone="+8613800138000" pure=13800138000"#,
                &["13800138000"],
            ),
            (
                r#"body={\"access_token\":\"ACCESS-TOKEN-VALUE\",\"expires_in\":7200}"#,
                &["ACCESS-TOKEN-VALUE"],
            ),
            (
                r#""session_key":"tiihtNczf5v6AKRyjwEUhQ==""#,
                &["tiihtNczf5v6AKRyjwEUhQ"],
            ),
            (r#"code: "081AbCdEf""#, &["081AbCdEf"]),
        ];
        for (line, secrets) in cases {
            let out = redact(line);
            for s in secrets {
                assert!(!out.contains(s), "{s} survived in {out}");
            }
        }
    }

    #[test]
    fn ordinary_lines_are_left_alone() {
        let line = r#"{"route":"/v1/login","status":200,"elapsed_ms":1.5,"errcode":40029,"ts":1764000000,"error":"login_code_invalid"}"#;
        assert_eq!(redact(line), line);
    }

    #[test]
    fn registered_secrets_are_masked_by_value() {
        register_secret("a-bare-app-secret-value");
        let out = redact("oops: a-bare-app-secret-value was printed");
        assert!(!out.contains("a-bare-app-secret-value"), "{out}");
    }

    #[test]
    fn the_writer_redacts_what_it_forwards() {
        let mut w = RedactingWriter { inner: Vec::new() };
        w.write_all(b"secret=hunter2-xyz\n").unwrap();
        assert_eq!(String::from_utf8(w.inner).unwrap(), "secret=[redacted]\n");
    }
}
