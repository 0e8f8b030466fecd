//! The overview: counts, registrations and sign-ins as bar charts (SVG drawn here, no script),
//! WeChat API health from this process's metrics, the access-token lease, and the webhook
//! backlog.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;
use wxlogin_core::admin::{Activity, Scope};

use super::layout::{self, Nav};
use super::session::Session;
use super::text::T;
use super::{ConsoleState, Fail};

/// `?done=`.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /console/`.
pub async fn page(
    State(state): State<ConsoleState>,
    s: Session,
    Query(q): Query<Done>,
) -> Result<Response, Fail> {
    let admin = &state.admin.admin;
    let counts = if s.can(Scope::UsersRead) {
        Some((admin.stats(&s.who).await?, admin.activity(&s.who).await?))
    } else {
        None
    };
    let backlog = if s.can(Scope::EventsRead) {
        Some(admin.delivery_backlog(&s.who).await?)
    } else {
        None
    };
    let health = wechat_health(&state.app.metrics.render());
    let lease = match &state.app.shared {
        None => T::LeaseLocal,
        Some(shared) if (shared.lease_shared)() => T::LeaseShared,
        Some(_) => T::LeaseFallback,
    };
    let body = html! {
        (layout::notice(&s, q.done.as_deref()))
        @if let Some((stats, activity)) = &counts {
            section.tiles {
                (tile(s.t(T::TotalUsers), stats.users))
                (tile(s.t(T::DisabledUsers), stats.disabled))
                (tile(s.t(T::Registrations24h), stats.registrations_24h))
                (tile(s.t(T::SignIns24h), stats.logins_24h))
            }
            section.charts {
                (chart(&s, s.t(T::Last24Hours), &activity.hourly, activity.hours_from, false))
                (chart(&s, s.t(T::Last30Days), &activity.daily, activity.days_from, true))
            }
        }
        section.panel {
            h2 { (s.t(T::WeChatHealth)) }
            p.help { (s.t(T::WeChatHealthHelp)) }
            @if health.is_empty() {
                p { (s.t(T::NoCalls)) }
            } @else {
                div.scroll { table {
                    thead { tr {
                        th { (s.t(T::Api)) } th.num { (s.t(T::Calls)) } th.num { (s.t(T::CallsOk)) }
                        th { (s.t(T::Errcodes)) } th.num { (s.t(T::BreakerOpens)) }
                        th.num { (s.t(T::ShortCircuited)) }
                    } }
                    tbody {
                        @for (api, h) in &health {
                            tr {
                                td { code { (api) } }
                                td.num { (h.calls) }
                                td.num { (h.ok) }
                                td { @for (code, n) in &h.errors { span.tag { (code) ": " (n) } " " } }
                                td.num.bad[h.breaker_opens > 0] { (h.breaker_opens) }
                                td.num { (h.short_circuited) }
                            }
                        }
                    }
                } }
            }
        }
        section.panel {
            h2 { (s.t(T::AccessToken)) }
            p { (s.t(lease)) }
        }
        @if let Some((pending, dead)) = backlog {
            section.panel {
                h2 { (s.t(T::Webhooks)) }
                p {
                    (s.t(T::Pending)) ": " strong { (pending) } " · "
                    (s.t(T::DeadLetters)) ": " strong.bad[dead > 0] { (dead) }
                    @if dead > 0 {
                        " " a href="/console/events?delivery=dead" { (s.t(T::ShowDeadLetters)) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&s, Nav::Overview, s.t(T::Overview), body))
}

fn tile(label: &str, value: u64) -> Markup {
    html! { div.tile { span.label { (label) } span.value { (value) } } }
}

/// Grouped bars, registrations beside sign-ins, one group per period; each bar carries its
/// number in a `<title>` (a tooltip, and what a screen reader says).
fn chart(s: &Session, title: &str, a: &Activity, from: OffsetDateTime, days: bool) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 160.0;
    const BASE: f64 = 140.0;
    let n = a.registrations.len().max(1);
    let max = a
        .registrations
        .iter()
        .chain(&a.sign_ins)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = W / n as f64;
    let bar = (slot - 2.0) / 2.0;
    let height = |v: u64| (v as f64 / max as f64) * (BASE - 10.0);
    let step = if days { 24 * 3600 } else { 3600 };
    let label = |i: usize| {
        let t = from + time::Duration::seconds(step * i as i64);
        if days {
            format!("{:02}-{:02}", u8::from(t.month()), t.day())
        } else {
            format!("{:02}:00", t.hour())
        }
    };
    let every = if days { 5 } else { 4 };
    html! {
        figure.chart {
            figcaption {
                (title) " "
                span.legend.reg { (s.t(T::Registrations)) } " "
                span.legend.sign { (s.t(T::SignIns)) }
            }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title)
                xmlns="http://www.w3.org/2000/svg" {
                line.axis x1="0" y1=(BASE) x2=(W) y2=(BASE) {}
                text.max x="2" y="10" { (max) }
                @for i in 0..n {
                    @let x = slot * i as f64 + 1.0;
                    @let r = a.registrations.get(i).copied().unwrap_or(0);
                    @let g = a.sign_ins.get(i).copied().unwrap_or(0);
                    rect.reg x=(fmt(x)) y=(fmt(BASE - height(r))) width=(fmt(bar)) height=(fmt(height(r))) {
                        title { (label(i)) " · " (s.t(T::Registrations)) ": " (r) }
                    }
                    rect.sign x=(fmt(x + bar)) y=(fmt(BASE - height(g))) width=(fmt(bar)) height=(fmt(height(g))) {
                        title { (label(i)) " · " (s.t(T::SignIns)) ": " (g) }
                    }
                    @if i % every == 0 {
                        text.tick x=(fmt(x)) y=(H - 4.0) { (label(i)) }
                    }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// What the metrics say about one WeChat API.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApiHealth {
    /// Requests sent.
    pub calls: u64,
    /// Of which errcode 0.
    pub ok: u64,
    /// The others, by errcode or failure class.
    pub errors: BTreeMap<String, u64>,
    /// `wxlogin_wechat_breaker_open_total`.
    pub breaker_opens: u64,
    /// `wxlogin_wechat_short_circuited_total`.
    pub short_circuited: u64,
}

/// Reads the `wxlogin_wechat_*` counters out of a Prometheus text exposition, per API. An API
/// shows once it has a call, a breaker opening or a refused call.
pub fn wechat_health(exposition: &str) -> BTreeMap<String, ApiHealth> {
    let mut out: BTreeMap<String, ApiHealth> = BTreeMap::new();
    for line in exposition.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        // Counters are whole numbers; the exposition writes them as floats.
        let value = value.max(0.0) as u64;
        let Some(api) = labels.get("api") else {
            continue;
        };
        if value == 0 {
            continue;
        }
        let entry = out.entry(api.clone()).or_default();
        match name {
            "wxlogin_wechat_calls_total" => {
                entry.calls += value;
                match labels.get("errcode").map(String::as_str) {
                    Some("0") => entry.ok += value,
                    Some(code) => *entry.errors.entry(code.to_owned()).or_default() += value,
                    None => {}
                }
            }
            "wxlogin_wechat_breaker_open_total" => entry.breaker_opens += value,
            "wxlogin_wechat_short_circuited_total" => entry.short_circuited += value,
            _ => {}
        }
    }
    out.retain(|_, h| *h != ApiHealth::default());
    out
}

/// `name{k="v",…} value` → its parts; `None` for comments and other lines.
fn sample(line: &str) -> Option<(&str, BTreeMap<String, String>, f64)> {
    if !line.starts_with("wxlogin_wechat_") {
        return None;
    }
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (name, value) = line.split_once(' ')?;
            return Some((name, BTreeMap::new(), value.trim().parse().ok()?));
        }
    };
    let close = rest.rfind('}')?;
    let mut labels = BTreeMap::new();
    let mut chars = rest[..close].chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').trim().to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    let value = rest[close + 1..].trim().split(' ').next()?.parse().ok()?;
    Some((name, labels, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechat_health_is_read_from_the_exposition() {
        let text = r#"# TYPE wxlogin_wechat_calls_total counter
wxlogin_wechat_calls_total{api="jscode2session",errcode="0"} 7
wxlogin_wechat_calls_total{api="jscode2session",errcode="40029"} 2
wxlogin_wechat_calls_total{api="jscode2session",errcode="timeout"} 1
wxlogin_wechat_calls_total{api="getuserphonenumber",errcode="0"} 0
wxlogin_wechat_breaker_open_total{api="jscode2session"} 1
wxlogin_wechat_short_circuited_total{api="stable_token"} 0
wxlogin_http_requests_total{route="/v1/login",method="POST",status="200"} 9
"#;
        let health = wechat_health(text);
        assert_eq!(health.len(), 1, "APIs with nothing to say are left out");
        let h = &health["jscode2session"];
        assert_eq!((h.calls, h.ok, h.breaker_opens), (10, 7, 1));
        assert_eq!(h.errors["40029"], 2);
        assert_eq!(h.errors["timeout"], 1);
    }
}
