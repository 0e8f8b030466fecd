//! The admin API (`/admin/v1/…`), on the admin listener only: thin shells around
//! [`AdminService`]. Every request carries `Authorization: Bearer wxa_…`; the key's scopes
//! decide what it may do, its name is logged (never the key), and each key has its own rate
//! limit.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wxlogin_core::AuthError;
use wxlogin_core::counters;
use wxlogin_core::ports::{LimitKind, Rate, RateLimiter};
use wxlogin_core::service::admin::{
    AdminPrincipal, AdminService, AdminUserPatch, EventSearch, ImportRow, UserSearch,
};

use crate::error::ApiError;
use crate::extract::JsonBody;

/// What the admin routes need.
#[derive(Clone)]
pub struct AdminState {
    /// The admin use cases.
    pub admin: Arc<AdminService>,
    /// Per-key rate limiting (the same limiter as the public API's).
    pub limiter: Arc<dyn RateLimiter>,
    /// Requests per key; `None`: unlimited.
    pub per_key: Option<Rate>,
}

/// Request bodies on the admin listener may be up to 1 MiB (imports).
pub const ADMIN_MAX_BODY_BYTES: usize = 1 << 20;

/// The admin routes, for [`super::admin_router`].
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/admin/v1/users", get(search_users))
        .route("/admin/v1/users/import", post(import_users))
        .route(
            "/admin/v1/users/{user_id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/admin/v1/users/{user_id}/revoke", post(revoke_user))
        .route(
            "/admin/v1/users/{user_id}/identities/{appid}",
            delete(unbind_identity),
        )
        .route("/admin/v1/stats", get(stats))
        .route("/admin/v1/events", get(events))
        .route("/admin/v1/events/{event_id}/redeliver", post(redeliver))
        .route("/admin/v1/keys", get(keys))
        .route("/admin/v1/keys/rotate", post(rotate_keys))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
}

/// Checks the admin key, applies its rate limit, and logs the request under its name.
async fn authenticate(State(state): State<AdminState>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let principal = match state.admin.authenticate(&presented).await {
        Ok(p) => p,
        Err(e) => {
            if e == AuthError::AdminUnauthenticated {
                metrics::counter!(counters::ADMIN_UNAUTHENTICATED_TOTAL).increment(1);
            }
            return ApiError::from(e).into_response();
        }
    };
    let bucket = principal.key_id.clone();
    if let Err(e) = wxlogin_core::limits::check(
        state.limiter.as_ref(),
        LimitKind::AdminKey,
        &bucket,
        state.per_key,
    )
    .await
    {
        return ApiError::from(e).into_response();
    }
    let (method, path) = (
        super::method_label(req.method()),
        req.extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("unmatched", |p| p.as_str())
            .to_owned(),
    );
    let name = principal.name.clone();
    req.extensions_mut().insert(principal);
    let started = Instant::now();
    let res = next.run(req).await;
    tracing::info!(
        admin = %name,
        method,
        route = %path,
        status = res.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "admin request"
    );
    res
}

/// Query parameters, failing with `invalid_request` (never axum's plain text).
struct AdminQuery<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AdminQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0))
            .map_err(|_| ApiError::invalid("a query parameter has the wrong type"))
    }
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|_| ApiError::invalid("the path is malformed"))
}

type Who = Extension<AdminPrincipal>;

async fn search_users(
    State(s): State<AdminState>,
    Extension(who): Who,
    AdminQuery(q): AdminQuery<UserSearch>,
) -> Result<Response, ApiError> {
    Ok(Json(s.admin.search(&who, q).await?).into_response())
}

async fn get_user(
    State(s): State<AdminState>,
    Extension(who): Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(s.admin.user(&who, &path(id)?).await?).into_response())
}

async fn update_user(
    State(s): State<AdminState>,
    Extension(who): Who,
    id: Result<Path<String>, PathRejection>,
    JsonBody(patch): JsonBody<AdminUserPatch>,
) -> Result<Response, ApiError> {
    Ok(Json(s.admin.update(&who, &path(id)?, patch).await?).into_response())
}

async fn delete_user(
    State(s): State<AdminState>,
    Extension(who): Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    s.admin.delete(&who, &path(id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_user(
    State(s): State<AdminState>,
    Extension(who): Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    s.admin.revoke(&who, &path(id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unbind_identity(
    State(s): State<AdminState>,
    Extension(who): Who,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (user, appid) = path(ids)?;
    s.admin.unbind(&who, &user, &appid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/v1/users/import`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    users: Vec<ImportRow>,
}

async fn import_users(
    State(s): State<AdminState>,
    Extension(who): Who,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // A batch that does not parse as a whole is `import_invalid`, not `invalid_request`:
    // the contract keeps per-row problems for the reply and whole-batch ones for this code.
    let ImportRequest { users } = crate::extract::parse(&body).map_err(|e| match e {
        ApiError::Auth(AuthError::InvalidRequest(m)) => ApiError::Auth(AuthError::ImportInvalid(m)),
        other => other,
    })?;
    Ok(Json(s.admin.import(&who, users).await?).into_response())
}

async fn stats(State(s): State<AdminState>, Extension(who): Who) -> Result<Response, ApiError> {
    Ok(Json(s.admin.stats(&who).await?).into_response())
}

async fn events(
    State(s): State<AdminState>,
    Extension(who): Who,
    AdminQuery(q): AdminQuery<EventSearch>,
) -> Result<Response, ApiError> {
    Ok(Json(s.admin.events(&who, q).await?).into_response())
}

async fn redeliver(
    State(s): State<AdminState>,
    Extension(who): Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let event = s.admin.redeliver(&who, &path(id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(event)).into_response())
}

async fn keys(State(s): State<AdminState>, Extension(who): Who) -> Result<Response, ApiError> {
    Ok(Json(s.admin.keys(&who).await?).into_response())
}

async fn rotate_keys(
    State(s): State<AdminState>,
    Extension(who): Who,
) -> Result<Response, ApiError> {
    let key = s.admin.rotate_keys(&who).await?;
    Ok((StatusCode::ACCEPTED, Json(key)).into_response())
}
