//! The page chrome (header, navigation, language switch, sign-out), the sign-in page, the
//! message page, and the small pieces every page uses. Markup is maud's: every `(value)` is
//! HTML-escaped, and nothing here uses `PreEscaped` on data.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use wxlogin_core::admin::Scope;

use super::session::Session;
use super::text::T;
use crate::i18n::Lang;

/// Which navigation link is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// `/console/`.
    Overview,
    /// `/console/users`.
    Users,
    /// `/console/events`.
    Events,
    /// `/console/keys`.
    Keys,
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · " (T::Console.get(lang)) }
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// The language switch: a relative `?lang=` link keeps the page, and the cookie remembers.
fn lang_switch(lang: Lang) -> Markup {
    html! {
        nav.lang aria-label=(T::Language.get(lang)) {
            a href="?lang=zh" lang="zh-CN" hreflang="zh-CN" aria-current=[(lang == Lang::Zh).then_some("true")] { "中文" }
            " · "
            a href="?lang=en" lang="en" hreflang="en" aria-current=[(lang == Lang::En).then_some("true")] { "English" }
        }
    }
}

/// A whole page for a signed-in session.
pub fn page(s: &Session, nav: Nav, title: &str, body: Markup) -> Response {
    let link = |to: Nav, href: &str, text: T| {
        html! {
            a href=(href) aria-current=[(nav == to).then_some("page")] { (s.t(text)) }
        }
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(s.lang.tag()) {
            (head(s.lang, title))
            body {
                header.top {
                    a.brand href="/console/" { (s.t(T::Console)) }
                    nav.main aria-label=(s.t(T::Console)) {
                        (link(Nav::Overview, "/console/", T::Overview))
                        @if s.can(Scope::UsersRead) {
                            (link(Nav::Users, "/console/users", T::Users))
                        }
                        @if s.can(Scope::EventsRead) {
                            (link(Nav::Events, "/console/events", T::Events))
                        }
                        (link(Nav::Keys, "/console/keys", T::Keys))
                    }
                    div.who {
                        span title=(scopes(s)) { (s.t(T::SignedInAs)) " " strong { (s.who.name) } }
                        (lang_switch(s.lang))
                        form.inline method="post" action="/console/sign-out" {
                            (csrf(s))
                            button.link type="submit" { (s.t(T::SignOut)) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

fn scopes(s: &Session) -> String {
    let names: Vec<_> = s.who.scopes().iter().map(|sc| sc.as_str()).collect();
    format!("{}: {}", s.t(T::Scopes), names.join(", "))
}

/// The hidden CSRF field of a form.
pub fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A form with one button that POSTs to `action`.
pub fn button_form(s: &Session, action: &str, label: &str, danger: bool) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(s))
            button.danger[danger] type="submit" { (label) }
        }
    }
}

/// The sign-in page, with a problem to show when there is one.
pub fn sign_in(lang: Lang, status: StatusCode, problem: Option<T>) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            (head(lang, T::SignInTitle.get(lang)))
            body.center {
                main.card {
                    h1 { (T::Console.get(lang)) }
                    (lang_switch(lang))
                    @if let Some(problem) = problem {
                        p.problem role="alert" { (problem.get(lang)) }
                    }
                    p { (T::SignInHelp.get(lang)) }
                    form method="post" action="/console/sign-in" {
                        label for="key" { (T::AdminKey.get(lang)) }
                        input #key type="password" name="key" required autocomplete="off"
                            autocapitalize="off" spellcheck="false" autofocus;
                        button type="submit" { (T::SignIn.get(lang)) }
                    }
                }
            }
        }
    };
    html_response(status, markup)
}

/// A page that only says something (errors, refusals).
pub fn message_page(lang: Lang, status: StatusCode, text: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            (head(lang, T::Error.get(lang)))
            body.center {
                main.card {
                    h1 { (T::Console.get(lang)) }
                    p.problem role="alert" { (text) }
                    p { a href="/console/" { (T::Back.get(lang)) } }
                }
            }
        }
    };
    html_response(status, markup)
}

/// An RFC 3339 UTC time as `2026-05-01 12:00:00 UTC`.
pub fn when(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(t) => format!("{} UTC", t.replacen('T', " ", 1)),
        None => rfc3339.replacen('T', " ", 1),
    }
}

/// A notice at the top of a page, from a fixed set named in the query (`?done=…`): never
/// text from the request.
pub fn notice(s: &Session, done: Option<&str>) -> Markup {
    let text = match done {
        Some("deleted") => Some(T::UserDeleted),
        Some("rotated") => Some(T::RotationScheduled),
        Some(_) => Some(T::Done),
        None => None,
    };
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (s.t(text)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc() {
        assert_eq!(when("2026-05-01T12:00:00Z"), "2026-05-01 12:00:00 UTC");
    }
}
