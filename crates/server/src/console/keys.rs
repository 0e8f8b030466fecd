//! The token-signing keys with their states, and a rotation (`keys:write`).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use wxlogin_core::admin::Scope;

use super::layout::{self, Nav, button_form, when};
use super::session::{Change, Session};
use super::text::T;
use super::{ConsoleState, Fail};

/// `?done=`.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /console/keys`.
pub async fn page(
    State(state): State<ConsoleState>,
    s: Session,
    Query(q): Query<Done>,
) -> Result<Response, Fail> {
    let keys = state.admin.admin.keys(&s.who).await?.keys;
    let body = html! {
        (layout::notice(&s, q.done.as_deref()))
        section.panel {
            h2 { (s.t(T::SigningKeys)) }
            div.scroll { table {
                thead { tr {
                    th { (s.t(T::Kid)) } th { (s.t(T::Algorithm)) } th { (s.t(T::State)) }
                    th { (s.t(T::Created)) } th { (s.t(T::SignsFrom)) }
                } }
                tbody { @for k in &keys { tr {
                    td { code { (k.kid) } }
                    td { (k.alg) }
                    td { span.tag.good[k.state == "current"] { (k.state) } }
                    td { (when(&k.created_at)) }
                    td { (when(&k.signs_from)) }
                } } }
            } }
            @if s.can(Scope::KeysWrite) {
                p.help { (s.t(T::RotateHelp)) }
                (button_form(&s, "/console/keys/rotate", s.t(T::Rotate), false))
            }
        }
    };
    Ok(layout::page(&s, Nav::Keys, s.t(T::Keys), body))
}

/// `POST /console/keys/rotate`.
pub async fn rotate(State(state): State<ConsoleState>, change: Change) -> Result<Response, Fail> {
    state.admin.admin.rotate_keys(&change.session.who).await?;
    Ok(Redirect::to("/console/keys?done=rotated").into_response())
}
