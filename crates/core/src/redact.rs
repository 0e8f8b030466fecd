//! Connection URLs (SQL databases, Redis) with their password masked, so that `Debug` output,
//! logs and start-up errors can show which server is meant without showing how to get in.
//!
//! Here rather than in one adapter because every adapter and the server print such URLs, and
//! adapters do not depend on each other.

/// What a masked password is replaced with.
const MASK: &str = "***";

/// `url` with any password replaced by `***`: the one in the user info
/// (`postgres://wx:hunter2@db/wx`) and any query parameter whose name contains `password`
/// (`?password=…`, `?sslpassword=…`). Everything else (scheme, user, host, port, path, other
/// parameters) is kept, so the result still says which database is meant.
///
/// Works on text, without parsing the URL, so a URL that a parser would reject (a SQLite path
/// with odd characters) still prints.
pub fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (base, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };

    let mut out = String::with_capacity(url.len());
    out.push_str(&redact_userinfo(base));
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    out.push_str(fragment);
    out
}

/// `scheme://user:password@host/path` → `scheme://user:***@host/path`.
fn redact_userinfo(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return base.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let authority = &base[authority_start..authority_end];
    // The last '@' ends the user info: an unencoded '@' in a password stays masked.
    let Some(at) = authority.rfind('@') else {
        return base.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return base.to_owned();
    };
    format!(
        "{}{}:{MASK}{}",
        &base[..authority_start],
        &userinfo[..colon],
        &base[authority_start + at..]
    )
}

/// `a=1&password=x` → `a=1&password=***`.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                format!("{key}={MASK}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn a_password_in_the_user_info_is_masked_but_the_host_is_kept() {
        let shown = redact_url("postgres://wx:hunter2@db:5432/wx?sslmode=require");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "postgres://wx:***@db:5432/wx?sslmode=require");
    }

    #[test]
    fn a_password_containing_an_at_sign_is_masked_whole() {
        let shown = redact_url("mysql://root:p@ss@db/wx");
        assert!(!shown.contains("p@ss"), "{shown}");
        assert_eq!(shown, "mysql://root:***@db/wx");
    }

    #[test]
    fn password_query_parameters_are_masked() {
        let shown = redact_url("postgres://db/wx?user=wx&password=hunter2&sslpassword=s3cret#frag");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert_eq!(
            shown,
            "postgres://db/wx?user=wx&password=***&sslpassword=***#frag"
        );
    }

    #[test]
    fn urls_without_a_password_are_unchanged() {
        for url in [
            "sqlite://./wxlogin-data/wxlogin.db",
            "sqlite::memory:",
            "sqlite:///var/lib/wxlogin/wx.db?mode=rwc",
            "postgres://wx@db/wx",
            "not a url at all",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
