//! Avatar uploads: `POST /v1/avatar` (multipart, a bearer token or a registration ticket) and
//! `GET /avatars/{id}`. The registration and profile pages upload what
//! `<button open-type="chooseAvatar">` gave them (a temporary file, via `wx.uploadFile`).
//!
//! Nothing but pixels is kept: the upload is decoded (JPEG, PNG or WebP only, with limits on
//! dimensions and memory, so a decompression bomb is refused before it is expanded), scaled to
//! fit 1024×1024, and encoded again (JPEG, or PNG when it has transparency), which drops every
//! byte of metadata (EXIF GPS positions included). Files live in an `object_store`: a local
//! directory by default, or an S3-compatible bucket; wxlogin serves them itself under
//! `/avatars/`, so the URL does not depend on where they are kept.

use std::io::Cursor;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use serde::Serialize;
use wxlogin_core::AuthError;
use wxlogin_core::cause::Cause;
use wxlogin_core::ports::{AvatarStore, StoreError, StoreResult};

use crate::error::ApiError;
use crate::openapi::{self, Responses};
use crate::routes::AppState;

/// The operations of this module, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(upload, serve))]
struct Operations;

impl utoipa::OpenApi for openapi::AvatarsApi {
    fn openapi() -> utoipa::openapi::OpenApi {
        <Operations as utoipa::OpenApi>::openapi()
    }
}

/// `POST /v1/avatar`'s form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AvatarUpload {
    /// The image: JPEG, PNG or WebP, at most 1 MiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Before registration: the ticket from `/v1/phone` (not used up by the upload).
    registration_ticket: Option<String>,
}

/// The errors of `POST /v1/avatar`.
struct UploadErrors;

impl utoipa::IntoResponses for UploadErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[
            "invalid_request",
            "unauthenticated",
            "ticket_invalid",
            "user_disabled",
            "image_invalid",
            "payload_too_large",
            "rate_limited",
        ])
    }
}

/// The errors of `GET /avatars/{id}`.
struct ServeErrors;

impl utoipa::IntoResponses for ServeErrors {
    fn responses() -> Responses {
        openapi::error_responses(&["not_found"])
    }
}

/// The largest file accepted.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// The request body limit of the upload route: the file plus the multipart envelope and the
/// ticket field.
pub const MAX_BODY_BYTES: usize = MAX_FILE_BYTES + 16 * 1024;
/// Avatars are scaled down to fit this square.
const MAX_SIDE: u32 = 1024;
/// What a decoder may declare or allocate: refused before the pixels are expanded.
const MAX_DECODED_SIDE: u32 = 8192;
const MAX_DECODED_BYTES: u64 = 96 << 20;

/// The stored avatars.
#[derive(Clone)]
pub struct Avatars {
    store: Arc<dyn ObjectStore>,
    public_base: String,
}

impl std::fmt::Debug for Avatars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Avatars")
            .field("store", &self.store.to_string())
            .field("public_base", &self.public_base)
            .finish()
    }
}

impl Avatars {
    /// Avatars in `store`, linked as `<public_base><id>` (`<public_url>/avatars/`).
    pub fn new(store: Arc<dyn ObjectStore>, public_base: String) -> Self {
        Self { store, public_base }
    }

    fn path(id: &str) -> ObjectPath {
        ObjectPath::from(format!("avatars/{id}"))
    }
}

#[async_trait]
impl AvatarStore for Avatars {
    async fn delete_avatar(&self, id: &str) -> StoreResult<()> {
        if !is_avatar_id(id) {
            return Ok(());
        }
        match self.store.delete(&Self::path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::unavailable("avatar store delete", e)),
        }
    }
}

/// `<22 base64url characters>.jpg` or `.png`: what [`upload`] issues.
fn is_avatar_id(id: &str) -> bool {
    let Some((stem, ext)) = id.split_once('.') else {
        return false;
    };
    stem.len() == 22
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && matches!(ext, "jpg" | "png")
}

/// A re-encoded avatar.
struct Encoded {
    bytes: Vec<u8>,
    ext: &'static str,
}

/// Why an upload is not an avatar: the client's fault, said without echoing its bytes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotAnImage(&'static str);

/// Decodes, scales and re-encodes. CPU-bound: run it on a blocking thread.
fn reencode(bytes: &[u8]) -> Result<Encoded, NotAnImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| NotAnImage("unreadable"))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => {}
        _ => return Err(NotAnImage("not a JPEG, PNG or WebP image")),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|_| NotAnImage("the image does not decode within the limits"))?;
    if image.width() == 0 || image.height() == 0 {
        return Err(NotAnImage("an empty image"));
    }
    let image = if image.width() > MAX_SIDE || image.height() > MAX_SIDE {
        image.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle)
    } else {
        image
    };
    let mut out = Cursor::new(Vec::new());
    let ext = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.to_rgba8())
            .write_to(&mut out, ImageFormat::Png)
            .map_err(|_| NotAnImage("the image does not encode"))?;
        "png"
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        rgb.write_with_encoder(encoder)
            .map_err(|_| NotAnImage("the image does not encode"))?;
        "jpg"
    };
    Ok(Encoded {
        bytes: out.into_inner(),
        ext,
    })
}

/// `POST /v1/avatar` 201.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AvatarView {
    /// `<public_url>/avatars/<id>.<ext>`: give it to `PATCH /v1/me` or `/v1/register`.
    pub avatar_url: String,
}

fn image_invalid() -> ApiError {
    ApiError::Auth(AuthError::ImageInvalid)
}

/// The avatar store failed during `op`: `unavailable`, with the error as the cause that the
/// response logs.
fn unavailable(op: &'static str, e: object_store::Error) -> ApiError {
    let cause = StoreError::unavailable(format!("avatar store {op}"), e);
    ApiError::Auth(AuthError::Unavailable(cause.into()))
}

/// Uploads an avatar for the profile (bearer) or the registration page (ticket).
#[utoipa::path(
    post,
    path = "/v1/avatar",
    tag = "account",
    request_body(content = AvatarUpload, content_type = "multipart/form-data"),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Stored: its URL.", body = AvatarView),
        UploadErrors,
    ),
)]
pub async fn upload(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let Some(avatars) = state.avatars.clone() else {
        return Err(ApiError::NotFound);
    };
    let mut multipart =
        multipart.map_err(|_| ApiError::invalid("the body must be multipart/form-data"))?;
    let bearer = crate::extract::bearer_of(&headers);
    let (mut file, mut ticket) = (None, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge);
            }
            Err(_) => return Err(ApiError::invalid("the multipart body is malformed")),
        };
        match field.name() {
            Some("file") if file.is_none() => {
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge
                    } else {
                        ApiError::invalid("the multipart body is malformed")
                    }
                })?;
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(ApiError::PayloadTooLarge);
                }
                file = Some(bytes);
            }
            Some("registration_ticket") if ticket.is_none() => {
                let text = field
                    .text()
                    .await
                    .map_err(|_| ApiError::invalid("the multipart body is malformed"))?;
                if text.len() > 256 {
                    return Err(ApiError::invalid(
                        "`registration_ticket` is longer than 256 characters",
                    ));
                }
                ticket = Some(text);
            }
            // Other fields (wx.uploadFile's formData may carry more) are ignored.
            _ => {}
        }
    }
    state
        .auth
        .may_upload_avatar(bearer.as_deref(), ticket.as_deref())
        .await?;
    let file = file.ok_or_else(|| ApiError::invalid("missing field `file`"))?;
    let encoded = tokio::task::spawn_blocking(move || reencode(&file))
        .await
        .map_err(|e| ApiError::Auth(AuthError::Internal(Cause::new(e))))?
        .map_err(|e| {
            tracing::info!(reason = %e, "avatar refused");
            image_invalid()
        })?;
    let id = format!(
        "{}.{}",
        &wxlogin_core::crypto::Handle::generate("").expose_secret()[..22],
        encoded.ext
    );
    avatars
        .store
        .put(&Avatars::path(&id), encoded.bytes.into())
        .await
        .map_err(|e| unavailable("put", e))?;
    let view = AvatarView {
        avatar_url: format!("{}{id}", avatars.public_base),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// An uploaded avatar: public, cacheable for ever (an id is never reused).
#[utoipa::path(
    get,
    path = "/avatars/{id}",
    tag = "account",
    params(("id" = String, Path, description = "`<22 characters>.jpg` or `.png`")),
    responses(
        (status = 200, description = "The image.", content_type = "image/jpeg"),
        ServeErrors,
    ),
)]
pub async fn serve(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(avatars) = state.avatars.clone() else {
        return ApiError::NotFound.into_response();
    };
    if !is_avatar_id(&id) {
        return ApiError::NotFound.into_response();
    }
    let found = match avatars.store.get(&Avatars::path(&id)).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => return ApiError::NotFound.into_response(),
        Err(e) => return unavailable("get", e).into_response(),
    };
    let bytes = match found.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => return unavailable("get", e).into_response(),
    };
    let content_type = if id.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let image = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
                w,
                h,
                image::Rgba([1, 2, 3, 4]),
            ))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(w, h, image::Rgb([9, 8, 7])))
        };
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn images_are_reencoded_and_scaled_to_fit() {
        let small = reencode(&png(10, 20, false)).unwrap();
        assert_eq!(small.ext, "jpg");
        let back = image::load_from_memory(&small.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (10, 20));
        let big = reencode(&png(3000, 1500, true)).unwrap();
        assert_eq!(big.ext, "png");
        let back = image::load_from_memory(&big.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (1024, 512));
    }

    #[test]
    fn what_is_not_a_small_enough_image_is_refused() {
        assert!(reencode(b"GIF89a....").is_err());
        assert!(reencode(b"not an image at all").is_err());
        assert!(reencode(&[]).is_err());
        let mut truncated = png(64, 64, false);
        truncated.truncate(truncated.len() / 2);
        assert!(reencode(&truncated).is_err());
        // A PNG header that declares 100,000 × 100,000 pixels: refused before decoding.
        let mut bomb = png(1, 1, false);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(reencode(&bomb).is_err());
    }

    #[test]
    fn only_issued_ids_are_served_or_deleted() {
        assert!(is_avatar_id("abcdefghijklmnopqrstuv.jpg"));
        assert!(is_avatar_id("ABCDEFGHIJ-_mnopqrstuv.png"));
        for bad in [
            "../../etc/passwd",
            "abcdefghijklmnopqrstuv.gif",
            "abc.jpg",
            "abcdefghijklmnopqrstuv",
            "abcdefghijklmnopqrs/uv.jpg",
        ] {
            assert!(!is_avatar_id(bad), "{bad}");
        }
    }
}
