//! `GET /openapi.json`: the contract as an OpenAPI 3.1 document, generated from the code.
//!
//! Nothing here is written as JSON by hand. The request and response bodies derive
//! `utoipa::ToSchema` where they are defined (the views in `wxlogin-core`, the request types in
//! `routes::auth`, the error body in [`crate::error`]); each handler carries a
//! `#[utoipa::path]` with its statuses; the error statuses of a route, and the codes each can
//! carry, come from [`ApiError::status`] for the codes the route lists (see
//! [`error_responses`]). The route modules are not reachable from here (they are `routes`'
//! own), so each implements [`OpenApi`] for its marker here ([`AuthApi`], [`WellKnownApi`],
//! [`OpsApi`]) and [`document`] merges them.
//!
//! `crates/server/tests/api/openapi.rs` checks the document against the router and real
//! responses; `.ci/schemathesis` runs schemathesis against a dev server with it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response as ResponseDoc, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Ref, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode, ErrorObject};

/// A route's responses by status, as [`utoipa::IntoResponses`] returns them.
pub type Responses = BTreeMap<String, RefOr<ResponseDoc>>;

/// The operations of `/v1/*`; `routes::auth` implements [`OpenApi`] for it.
pub struct AuthApi;

/// The operations of `/.well-known/*`; `routes::wellknown` implements [`OpenApi`] for it.
pub struct WellKnownApi;

/// `/healthz` and `/readyz` (`/metrics` is on the admin listener, outside this document); `routes::ops` implements [`OpenApi`] for it.
pub struct OpsApi;

/// The user's own account routes (`routes::me`).
pub struct MeApi;

/// Avatar uploads (`avatars`).
pub struct AvatarsApi;

/// The name of the bearer security scheme that `/v1/me` and `/v1/logout` require.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wxlogin",
        description = "Self-hosted login for WeChat Mini Programs. The contract is \
            docs/api.md; every non-2xx body is an `ErrorBody`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(serve),
    components(schemas(ErrorBody, ErrorObject, ErrorCode)),
    tags(
        (name = "login", description = "wx.login, phone proof, registration"),
        (name = "tokens", description = "Refresh, logout and the signed-in user"),
        (name = "discovery", description = "For services that verify our tokens"),
        (name = "ops", description = "Health, readiness, this document"),
    ),
)]
struct ApiDoc;

/// The whole document: this module's part merged with the route modules'.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(AuthApi::openapi());
    doc.merge(WellKnownApi::openapi());
    doc.merge(OpsApi::openapi());
    doc.merge(MeApi::openapi());
    doc.merge(AvatarsApi::openapi());
    Conventions.modify(&mut doc);
    // utoipa marks a body of a non-`Option` type required; logout's may be left out, and
    // `Option<_>` would document a JSON `null`, which is refused.
    if let Some(body) = doc
        .paths
        .paths
        .get_mut("/v1/logout")
        .and_then(|item| item.post.as_mut())
        .and_then(|op| op.request_body.as_mut())
    {
        body.required = Some(Required::False);
    }
    doc
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "ops",
    responses(
        (status = 200, description = "This OpenAPI document.", body = Object, content_type = "application/json"),
        OpenApiErrors,
    ),
)]
pub async fn serve() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!(r#"{{"error":"openapi: {e}"}}"#))
    });
    ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}

/// What the middleware alone can fail with.
struct OpenApiErrors;

impl utoipa::IntoResponses for OpenApiErrors {
    fn responses() -> Responses {
        error_responses(&[])
    }
}

/// The error responses of a route that can fail with `codes`, plus `unavailable` (the
/// request deadline) and `internal` (a panic), which the middleware can give any route.
/// Each status lists its codes, in the description and as an `enum` narrowing
/// `error.code`, and the headers that come with them.
///
/// # Panics
/// On a code that [`ApiError::every_kind`] does not have: a typo in a route's list. The API
/// tests build the document, so that fails there, not in production.
pub fn error_responses(codes: &[&str]) -> Responses {
    let every = ApiError::every_kind();
    let mut by_status: BTreeMap<u16, Vec<&ApiError>> = BTreeMap::new();
    for code in codes.iter().chain(&["unavailable", "internal"]) {
        let error = every
            .iter()
            .find(|e| e.code() == *code)
            .unwrap_or_else(|| panic!("`{code}` is not an error code of the contract"));
        let listed = by_status.entry(error.status().as_u16()).or_default();
        if !listed.iter().any(|e| e.code() == *code) {
            listed.push(error);
        }
    }
    by_status
        .into_iter()
        .map(|(status, errors)| (status.to_string(), error_response(&errors).into()))
        .collect()
}

fn error_response(errors: &[&ApiError]) -> ResponseDoc {
    let codes: Vec<&str> = errors.iter().map(|e| e.code()).collect();
    let narrowed = ObjectBuilder::new().property(
        "error",
        ObjectBuilder::new().property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.clone())),
        ),
    );
    let schema = Schema::AllOf(
        AllOfBuilder::new()
            .item(Ref::from_schema_name(ErrorBody::name()))
            .item(narrowed)
            .build(),
    );
    let description = codes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    if errors.iter().any(|e| e.retry_after().is_some()) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        );
    }
    if codes.contains(&"unauthenticated") {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("`Bearer` with `unauthenticated`."))
                .build(),
        );
    }
    response.build()
}

/// What every operation shares: the bearer scheme, and the `X-Request-Id` header on every
/// response.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                BEARER,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "An access token from /v1/login, /v1/phone, /v1/register or \
                         /v1/token/refresh (a JWT: ES256 by default, EdDSA or RS256 by `tokens.algorithm`).",
                        ))
                        .build(),
                ),
            );
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response
                            .headers
                            .entry("X-Request-Id".into())
                            .or_insert_with(|| {
                                HeaderBuilder::new()
                                    .schema(ObjectBuilder::new().schema_type(Type::String))
                                    .description(Some(
                                        "The request's id (the caller's if sane, else generated); \
                                     also in every error body.",
                                    ))
                                    .build()
                            });
                    }
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// `GET /.well-known/jwks.json` 200 (built as JSON by `wxlogin_core::jwt`).
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    /// Newest first.
    pub keys: Vec<Jwk>,
}

/// One public key (RFC 7517): EC P-256 (`ES256`), OKP Ed25519 (`EdDSA`) or RSA (`RS256`).
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    /// `EC`, `OKP` or `RSA`.
    #[schema(example = "EC")]
    pub kty: String,
    /// `P-256` or `Ed25519` (not for RSA).
    #[schema(example = "P-256")]
    pub crv: Option<String>,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
    /// `ES256`, `EdDSA` or `RS256`.
    #[schema(example = "ES256")]
    pub alg: String,
    /// The key id, as in the tokens' `kid` header: the key's RFC 7638 thumbprint (EdDSA keys made
    /// by earlier versions keep their kid until rotated out).
    pub kid: String,
    /// EC and OKP: the x coordinate / public key, base64url without padding.
    pub x: Option<String>,
    /// EC: the y coordinate.
    pub y: Option<String>,
    /// RSA: the modulus.
    pub n: Option<String>,
    /// RSA: the exponent.
    pub e: Option<String>,
}
