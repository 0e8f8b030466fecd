//! Events: newest first, filtered by type, user and delivery status; one event with its
//! payload and webhook deliveries; redelivery of dead letters.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use wxlogin_core::admin::Scope;
use wxlogin_core::events::EventType;
use wxlogin_core::service::admin::EventSearch;
use wxlogin_core::service::admin_views::EventView;

use super::layout::{self, Nav, button_form, when};
use super::session::{Change, Session};
use super::text::T;
use super::{ConsoleState, Fail};

const PAGE: u32 = 50;

/// `GET /console/events` parameters.
#[derive(Deserialize)]
pub struct ListParams {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    delivery: String,
    before: Option<String>,
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.append_pair(k, v);
    }
    out.finish()
}

/// Events as rows that link to their page (with whose they are, unless on that user's page).
pub fn table(s: &Session, events: &[EventView], with_user: bool) -> Markup {
    html! {
        @if events.is_empty() {
            p { (s.t(T::NoEvents)) }
        } @else {
            div.scroll { table.events {
                thead { tr {
                    th { (s.t(T::When)) } th { (s.t(T::EventType)) }
                    @if with_user { th { (s.t(T::UserId)) } }
                    th { (s.t(T::Deliveries)) }
                } }
                tbody { @for e in events { tr {
                    td { a href=(format!("/console/events/{}", e.id)) { (when(&e.timestamp)) } }
                    td { code { (e.kind) } }
                    @if with_user {
                        td { a href=(format!("/console/users/{}", e.data.user_id)) { code { (e.data.user_id) } } }
                    }
                    td { @for d in &e.deliveries {
                        span.tag.bad[d.status == "dead"].good[d.status == "delivered"] { (d.status) } " "
                    } }
                } } }
            } }
        }
    }
}

/// `GET /console/events`.
pub async fn list(
    State(state): State<ConsoleState>,
    s: Session,
    Query(p): Query<ListParams>,
) -> Result<Response, Fail> {
    let search = EventSearch {
        kind: Some(p.kind.clone()),
        user_id: Some(p.user.trim().to_owned()),
        delivery: Some(p.delivery.clone()),
        limit: Some(PAGE),
        before: p.before.clone(),
        newest_first: true,
        ..EventSearch::default()
    };
    let events = state.admin.admin.events(&s.who, search).await?.events;
    let filters = [
        ("type", p.kind.as_str()),
        ("user", p.user.trim()),
        ("delivery", p.delivery.as_str()),
    ];
    let older = events
        .last()
        .filter(|_| events.len() == PAGE as usize)
        .map(|last| {
            let mut next = filters.to_vec();
            next.push(("before", last.id.as_str()));
            format!("/console/events?{}", query_string(&next))
        });
    let body = html! {
        form.filters method="get" action="/console/events" {
            label for="etype" { (s.t(T::EventType)) }
            select #etype name="type" {
                option value="" { (s.t(T::AnyType)) }
                @for t in EventType::ALL {
                    option value=(t.as_str()) selected[p.kind == t.as_str()] { (t.as_str()) }
                }
            }
            label for="user" { (s.t(T::UserFilter)) }
            input #user name="user" value=(p.user.trim()) autocomplete="off" spellcheck="false";
            @if !p.delivery.is_empty() {
                input type="hidden" name="delivery" value=(p.delivery);
            }
            button type="submit" { (s.t(T::Filter)) }
        }
        @if p.delivery == "dead" { p.notice { (s.t(T::DeadLetters)) } }
        (table(&s, &events, true))
        nav.pages {
            @if p.before.is_some() {
                a href=(format!("/console/events?{}", query_string(&filters))) { (s.t(T::Newest)) }
            }
            @if let Some(older) = &older {
                " " a href=(older) { (s.t(T::Older)) }
            }
        }
    };
    Ok(layout::page(&s, Nav::Events, s.t(T::Events), body))
}

/// `GET /console/events/{id}` parameters.
#[derive(Deserialize)]
pub struct DetailParams {
    done: Option<String>,
}

/// `GET /console/events/{id}`.
pub async fn detail(
    State(state): State<ConsoleState>,
    s: Session,
    Path(id): Path<String>,
    Query(p): Query<DetailParams>,
) -> Result<Response, Fail> {
    let e = state.admin.admin.event(&s.who, &id).await?;
    // The body a webhook receives (without the phone, which is added at delivery).
    let payload = serde_json::json!({
        "id": e.id,
        "type": e.kind,
        "timestamp": e.timestamp,
        "data": e.data,
    });
    let payload = serde_json::to_string_pretty(&payload).unwrap_or_default();
    let dead = e.deliveries.iter().any(|d| d.status == "dead");
    let body = html! {
        (layout::notice(&s, p.done.as_deref()))
        section.panel {
            dl.profile {
                dt { (s.t(T::Event)) } dd { code { (e.id) } }
                dt { (s.t(T::EventType)) } dd { code { (e.kind) } }
                dt { (s.t(T::When)) } dd { (when(&e.timestamp)) }
                dt { (s.t(T::UserId)) } dd { a href=(format!("/console/users/{}", e.data.user_id)) { code { (e.data.user_id) } } }
            }
        }
        section.panel {
            h2 { (s.t(T::Payload)) }
            pre.payload { code { (payload) } }
        }
        section.panel {
            h2 { (s.t(T::Deliveries)) }
            @if e.deliveries.is_empty() {
                p { (s.t(T::NoDeliveries)) }
            } @else {
                div.scroll { table {
                    thead { tr {
                        th { (s.t(T::Endpoint)) } th { (s.t(T::Status)) } th.num { (s.t(T::Attempts)) }
                        th { (s.t(T::NextAttempt)) } th { (s.t(T::LastError)) }
                    } }
                    tbody { @for d in &e.deliveries { tr {
                        td { code { (d.endpoint) } }
                        td { span.tag.bad[d.status == "dead"].good[d.status == "delivered"] { (d.status) } }
                        td.num { (d.attempts) }
                        td { (d.next_attempt_at.as_deref().map(when).unwrap_or_default()) }
                        td { (d.last_error.as_deref().unwrap_or("")) }
                    } } }
                } }
            }
            @if dead && s.can(Scope::EventsRead) {
                (button_form(&s, &format!("/console/events/{}/redeliver", e.id), s.t(T::Redeliver), false))
            }
        }
    };
    Ok(layout::page(&s, Nav::Events, s.t(T::Event), body))
}

/// `POST /console/events/{id}/redeliver`.
pub async fn redeliver(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    change: Change,
) -> Result<Response, Fail> {
    let e = state
        .admin
        .admin
        .redeliver(&change.session.who, &id)
        .await?;
    Ok(Redirect::to(&format!("/console/events/{}?done=1", e.id)).into_response())
}
