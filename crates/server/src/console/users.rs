//! Users: one search box, the result list, a user's page and the changes an operator makes.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use wxlogin_core::AuthError;
use wxlogin_core::admin::Scope;
use wxlogin_core::service::admin::{AdminUserPatch, EventSearch, UserSearch};
use wxlogin_core::service::admin_views::{AdminUserView, UsersPageView};

use super::layout::{self, Nav, button_form, csrf, when};
use super::session::{Change, Session};
use super::text::T;
use super::{ConsoleState, Fail};

/// `GET /console/users` parameters.
#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    cursor: Option<String>,
    done: Option<String>,
}

/// What one box holds: `+…` or digits is a phone; anything else is tried as an external_id,
/// then an openid (both exact), then as part of a nickname.
fn candidates(q: &str, cursor: Option<String>) -> Vec<UserSearch> {
    let page = |s: UserSearch| UserSearch {
        limit: Some(25),
        cursor: cursor.clone(),
        ..s
    };
    if q.is_empty() {
        return vec![page(UserSearch::default())];
    }
    let digits = q.trim_start_matches('+').replace([' ', '-'], "");
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return vec![page(UserSearch {
            phone: Some(q.replace([' ', '-'], "")),
            ..UserSearch::default()
        })];
    }
    vec![
        page(UserSearch {
            external_id: Some(q.to_owned()),
            ..UserSearch::default()
        }),
        page(UserSearch {
            openid: Some(q.to_owned()),
            ..UserSearch::default()
        }),
        page(UserSearch {
            q: Some(q.to_owned()),
            ..UserSearch::default()
        }),
    ]
}

/// The first candidate that finds someone (a malformed one, e.g. an openid with a space, is
/// skipped); an empty page when none does.
async fn find(
    state: &ConsoleState,
    s: &Session,
    q: &str,
    cursor: Option<String>,
) -> Result<UsersPageView, Fail> {
    let mut last = None;
    for search in candidates(q, cursor) {
        match state.admin.admin.search(&s.who, search).await {
            Ok(page) if !page.users.is_empty() => return Ok(page),
            Ok(page) => last = Some(page),
            Err(AuthError::InvalidRequest(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(last.unwrap_or(UsersPageView {
        users: Vec::new(),
        next_cursor: None,
    }))
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// `GET /console/users`.
pub async fn search(
    State(state): State<ConsoleState>,
    s: Session,
    Query(p): Query<SearchParams>,
) -> Result<Response, Fail> {
    s.who.require(Scope::UsersRead)?;
    let q = p.q.trim().to_owned();
    let found = find(&state, &s, &q, p.cursor.clone()).await?;
    let body = html! {
        (layout::notice(&s, p.done.as_deref()))
        form.search method="get" action="/console/users" role="search" {
            label for="q" { (s.t(T::SearchUsers)) }
            input #q type="search" name="q" value=(q) aria-describedby="q-help";
            button type="submit" { (s.t(T::Search)) }
            p.help #q-help { (s.t(T::SearchHelp)) }
        }
        @if found.users.is_empty() {
            p { (s.t(T::NoUsers)) }
        } @else {
            div.scroll { table.users {
                thead { tr {
                    th { (s.t(T::Nickname)) } th { (s.t(T::Phone)) } th { (s.t(T::ExternalId)) }
                    th { (s.t(T::Status)) } th { (s.t(T::Created)) }
                } }
                tbody {
                    @for u in &found.users {
                        tr {
                            td { a href=(format!("/console/users/{}", u.user_id)) {
                                (u.nickname.as_deref().unwrap_or(&u.user_id))
                            } }
                            td { (u.phone.as_deref().unwrap_or(&u.phone_masked)) }
                            td { (u.external_id.as_deref().unwrap_or("")) }
                            td { (status(&s, u)) }
                            td { (when(&u.created_at)) }
                        }
                    }
                }
            } }
        }
        nav.pages {
            @if p.cursor.is_some() {
                a href=(format!("/console/users?{}", query_string(&[("q", &q)]))) { (s.t(T::FirstPage)) }
            }
            @if let Some(next) = &found.next_cursor {
                " " a href=(format!("/console/users?{}", query_string(&[("q", &q), ("cursor", next)]))) { (s.t(T::NextPage)) }
            }
        }
    };
    Ok(layout::page(&s, Nav::Users, s.t(T::Users), body))
}

fn status(s: &Session, u: &AdminUserView) -> Markup {
    html! {
        @if u.status == "disabled" {
            span.tag.bad { (s.t(T::DisabledStatus)) }
        } @else {
            span.tag.good { (s.t(T::Active)) }
        }
    }
}

/// `GET /console/users/{id}` parameters.
#[derive(Deserialize)]
pub struct DetailParams {
    done: Option<String>,
}

/// `GET /console/users/{id}`.
pub async fn detail(
    State(state): State<ConsoleState>,
    s: Session,
    Path(id): Path<String>,
    Query(p): Query<DetailParams>,
) -> Result<Response, Fail> {
    let admin = &state.admin.admin;
    let u = admin.user(&s.who, &id).await?.user;
    let events = if s.can(Scope::EventsRead) {
        let search = EventSearch {
            user_id: Some(u.user_id.clone()),
            limit: Some(10),
            newest_first: true,
            ..EventSearch::default()
        };
        Some(admin.events(&s.who, search).await?.events)
    } else {
        None
    };
    let write = s.can(Scope::UsersWrite);
    let base = format!("/console/users/{}", u.user_id);
    let body = html! {
        (layout::notice(&s, p.done.as_deref()))
        section.panel {
            dl.profile {
                dt { (s.t(T::UserId)) } dd { code { (u.user_id) } }
                dt { (s.t(T::Nickname)) } dd { (u.nickname.as_deref().unwrap_or("—")) }
                dt { (s.t(T::Phone)) } dd { (u.phone.as_deref().unwrap_or(&u.phone_masked)) }
                dt { (s.t(T::ExternalId)) } dd { (u.external_id.as_deref().unwrap_or("—")) }
                dt { (s.t(T::Status)) } dd { (status(&s, &u)) }
                dt { (s.t(T::Created)) } dd { (when(&u.created_at)) }
                dt { (s.t(T::LastLogin)) } dd { (u.last_login_at.as_deref().map_or_else(|| s.t(T::Never).to_owned(), when)) }
                dt { (s.t(T::LiveSessions)) } dd { (u.live_sessions) }
            }
        }
        section.panel {
            h2 { (s.t(T::Identities)) }
            @if u.identities.is_empty() {
                p { (s.t(T::NoIdentities)) }
            } @else {
                div.scroll { table {
                    thead { tr {
                        th { (s.t(T::App)) } th { "openid" } th { (s.t(T::HasUnionId)) } th { (s.t(T::Bound)) }
                        @if write { th { (s.t(T::Actions)) } }
                    } }
                    tbody { @for i in &u.identities { tr {
                        td { code { (i.appid) } }
                        td { (i.openid.as_deref().unwrap_or(s.t(T::OpenIdHidden))) }
                        td { @if i.has_unionid { "✓" } }
                        td { (when(&i.bound_at)) }
                        @if write { td {
                            (button_form(&s, &format!("{base}/identities/{}/unbind", i.appid), s.t(T::Unbind), true))
                        } }
                    } } }
                } }
            }
        }
        @if write {
            section.panel.actions {
                h2 { (s.t(T::Actions)) }
                div.row {
                    @if u.status == "disabled" {
                        (button_form(&s, &format!("{base}/enable"), s.t(T::Enable), false))
                    } @else {
                        (button_form(&s, &format!("{base}/disable"), s.t(T::Disable), true))
                    }
                    (button_form(&s, &format!("{base}/revoke"), s.t(T::RevokeSessions), false))
                }
                form.delete method="post" action=(format!("{base}/delete")) data-confirm=(u.user_id) {
                    (csrf(&s))
                    p.help { (s.t(T::DeleteHelp)) }
                    label for="confirm" { (s.t(T::DeleteConfirm)) }
                    input #confirm name="confirm" autocomplete="off" spellcheck="false" placeholder=(u.user_id);
                    button.danger type="submit" { (s.t(T::Delete)) }
                }
            }
        } @else {
            p.help { (s.t(T::ReadOnly)) }
        }
        @if let Some(events) = &events {
            section.panel {
                h2 { (s.t(T::RecentEvents)) }
                (super::events::table(&s, events, false))
                p { a href=(format!("/console/events?{}", query_string(&[("user", &u.user_id)]))) { (s.t(T::Events)) " →" } }
            }
        }
    };
    let title = u.nickname.clone().unwrap_or_else(|| u.user_id.clone());
    Ok(layout::page(&s, Nav::Users, &title, body))
}

/// `POST /console/users/{id}/{disable|enable|revoke|delete}`.
pub async fn act(
    State(state): State<ConsoleState>,
    Path((id, action)): Path<(String, String)>,
    change: Change,
) -> Result<Response, Fail> {
    let admin = &state.admin.admin;
    let (s, fields) = (&change.session, &change.fields);
    let patch = |disabled| AdminUserPatch {
        disabled: Some(disabled),
        ..AdminUserPatch::default()
    };
    match action.as_str() {
        "disable" => {
            admin.update(&s.who, &id, patch(true)).await?;
        }
        "enable" => {
            admin.update(&s.who, &id, patch(false)).await?;
        }
        "revoke" => admin.revoke(&s.who, &id).await?,
        "delete" => {
            // The typed confirmation is checked here, not only by the page's script.
            let typed = fields.get("confirm").map_or("", |t| t.trim());
            if typed != id {
                s.who.require(Scope::UsersWrite)?;
                return Ok(layout::message_page(
                    s.lang,
                    StatusCode::BAD_REQUEST,
                    s.t(T::DeleteMismatch),
                ));
            }
            admin.delete(&s.who, &id).await?;
            return Ok(Redirect::to("/console/users?done=deleted").into_response());
        }
        _ => return Err(AuthError::UserNotFound.into()),
    }
    Ok(Redirect::to(&format!("/console/users/{id}?done=1")).into_response())
}

/// `POST /console/users/{id}/identities/{appid}/unbind`.
pub async fn unbind(
    State(state): State<ConsoleState>,
    Path((id, appid)): Path<(String, String)>,
    change: Change,
) -> Result<Response, Fail> {
    state
        .admin
        .admin
        .unbind(&change.session.who, &id, &appid)
        .await?;
    Ok(Redirect::to(&format!("/console/users/{id}?done=1")).into_response())
}
