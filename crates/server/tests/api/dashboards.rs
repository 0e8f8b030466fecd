//! The shipped Grafana dashboard and Prometheus alerts query only metrics a fresh server
//! exposes: a renamed or never-registered metric would leave a panel empty and an alert
//! silent forever, and nobody notices an alert that never fires.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::helpers::TestApp;

fn deploy_file(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `wxlogin_*` identifier in a PromQL expression.
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    let mut rest = expr;
    while let Some(at) = rest.find("wxlogin_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // An identifier, not the tail of a longer one (`my_wxlogin_x`).
        let starts_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if starts_word {
            into.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
}

/// The `expr` strings anywhere in the dashboard JSON (panel targets, nested rows).
fn dashboard_exprs(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => into.push(expr.clone()),
                    _ => dashboard_exprs(value, into),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, into)),
        _ => {}
    }
}

/// The `expr:` values of a rules file: inline, or a `>-`/`|` block (the lines indented
/// deeper than the key). Enough YAML for the file we ship; the test fails if it finds none.
fn alert_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('>') || value.starts_with('|') {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                .map(|l| l.trim())
                .collect();
            exprs.push(block.join(" "));
        } else {
            exprs.push(value.to_owned());
        }
    }
    exprs
}

/// The metric names in a Prometheus text exposition (histograms as `_bucket`, `_sum`, `_count`).
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_rule_parser_reads_inline_and_block_expressions() {
    let yaml = "rules:\n  - alert: A\n    expr: rate(wxlogin_a_total[5m]) > 0\n  - alert: B\n    expr: >-\n      sum(wxlogin_b_total)\n      / sum(wxlogin_c_total)\n    for: 5m\n";
    let mut names = BTreeSet::new();
    for expr in alert_exprs(yaml) {
        metric_names(&expr, &mut names);
    }
    let expected = ["wxlogin_a_total", "wxlogin_b_total", "wxlogin_c_total"];
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_query_exists_on_a_fresh_server() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&deploy_file("grafana/wxlogin.json")).unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    let alerts = alert_exprs(&deploy_file("prometheus/alerts.yml"));
    assert!(
        exprs.len() >= 15,
        "dashboard queries found: {}",
        exprs.len()
    );
    assert!(
        alerts.len() >= 8,
        "alert expressions found: {}",
        alerts.len()
    );

    let mut queried = BTreeSet::new();
    for expr in exprs.iter().chain(&alerts) {
        metric_names(expr, &mut queried);
    }
    // Before any request: only what start-up registered.
    let app = TestApp::spawn().await;
    let exposed = exposed(&app.metrics().await);
    let missing: Vec<_> = queried.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "queried but not on /metrics: {missing:?}"
    );
    // The business and security families the issue asked for are among those queried.
    for family in [
        "wxlogin_logins_total",
        "wxlogin_registrations_total",
        "wxlogin_phone_verifications_total",
        "wxlogin_refresh_reuse_total",
        "wxlogin_sessions_opened_total",
        "wxlogin_decrypt_failures_total",
        "wxlogin_rate_limited_total",
        "wxlogin_wechat_breaker_open_total",
        "wxlogin_http_connections_refused_total",
    ] {
        assert!(
            queried.contains(family),
            "{family} is on no dashboard or alert"
        );
    }
}

#[tokio::test]
async fn a_fresh_server_shows_every_fixed_label_set_at_zero() {
    let app = TestApp::spawn().await;
    let text = app.metrics().await;
    for reason in [
        "malformed",
        "undecryptable",
        "appid_mismatch",
        "watermark_expired",
        "locked",
        "unverified",
    ] {
        let series = format!("wxlogin_decrypt_failures_total{{reason=\"{reason}\"}}");
        assert!(text.contains(&series), "{series} missing");
    }
    for kind in ["ip", "openid", "phone"] {
        let series = format!("wxlogin_rate_limited_total{{kind=\"{kind}\"}}");
        assert!(text.contains(&series), "{series} missing");
    }
    for method in ["code", "legacy"] {
        for result in ["registered", "not_registered", "failed"] {
            assert!(
                text.lines()
                    .any(|l| l.starts_with("wxlogin_phone_verifications_total{")
                        && l.contains(&format!("method=\"{method}\""))
                        && l.contains(&format!("result=\"{result}\""))),
                "phone verifications {method}/{result} missing"
            );
        }
    }
    assert!(
        text.contains("# HELP wxlogin_logins_total"),
        "families carry help text"
    );
}

/// The value of the series `name` whose labels include every `labels` pair (0 when absent).
/// Counters are process-wide and tests run in parallel, so assert growth, not exact values.
pub(crate) fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn logins_phone_verifications_registrations_and_refresh_reuse_are_counted() {
    let app = TestApp::spawn().await;
    let before = app.metrics().await;
    let account = app.register_user("dora", "+8613800138123").await;
    app.login(&app.login_code("dora")).await.ok();
    app.login("not-a-code-wechat-knows").await;
    let first = app.refresh(&account.refresh_token).await;
    first.ok();
    app.refresh(&account.refresh_token)
        .await
        .assert_error(401, "refresh_token_reused");
    let after = app.metrics().await;

    let grew = |name: &str, labels: &[(&str, &str)]| {
        metric_value(&after, name, labels) > metric_value(&before, name, labels)
    };
    for result in ["new", "known", "failed"] {
        assert!(
            grew("wxlogin_logins_total", &[("result", result)]),
            "login {result}"
        );
    }
    assert!(grew(
        "wxlogin_phone_verifications_total",
        &[("method", "code"), ("result", "not_registered")]
    ));
    assert!(grew("wxlogin_registrations_total", &[]));
    assert!(grew("wxlogin_sessions_opened_total", &[]));
    assert!(grew("wxlogin_refresh_reuse_total", &[]));
    // The SQLite writer committed those writes in groups, each measured.
    for histogram in [
        "wxlogin_sqlite_group_units_count",
        "wxlogin_sqlite_group_seconds_count",
        "wxlogin_sqlite_commit_seconds_count",
    ] {
        assert!(grew(histogram, &[]), "{histogram}");
    }
    assert!(
        after.contains("wxlogin_sqlite_commit_seconds_bucket{le=\"0.0001\"}"),
        "commit times have sub-millisecond buckets"
    );
}
