//! Firmware images (`/api/v1/firmware`) and their download by devices
//! (`/api/v1/firmware/download/{token}`), through [`hearth_services::ota::Ota`]
//! (503 when the hub runs without it).
//!
//! Who may: hub administrators upload and delete images (an image runs on every device
//! it is rolled out to, in any group); hub administrators and group admins list and
//! read them (to choose one for a rollout). A download needs no login — devices have no
//! HTTP session — only the per-device token from the `ota` command; every refusal
//! answers the same 404 so that a token cannot be probed.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_model::{Firmware, Role};
use hearth_services::ota::{ImageInfo, Ota, OtaError};
use serde::Deserialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_firmware, upload_firmware))
        .routes(routes!(get_firmware, delete_firmware))
        .routes(routes!(download))
}

pub(crate) fn ota(state: &AppState) -> ApiResult<&Ota> {
    state
        .ota
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("firmware updates are not available on this hub"))
}

impl From<OtaError> for ApiError {
    fn from(error: OtaError) -> ApiError {
        match error {
            OtaError::Invalid { field, message } => ApiError::invalid(field, message),
            OtaError::TooLarge(limit) => {
                ApiError::invalid("body", format!("the image is larger than {limit} bytes"))
            }
            OtaError::Store(store) => store.into(),
            OtaError::Io(io) => ApiError::Internal(format!("firmware file: {io}")),
            OtaError::Stopped => ApiError::unavailable("the hub is stopping"),
        }
    }
}

/// Hub administrators and admins of any group may read images.
fn require_image_reader(caller: &Caller) -> ApiResult<()> {
    if caller.is_admin() || caller.roles.values().any(|role| *role >= Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "reading firmware images is for hub administrators and group admins",
        ))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// A name for people (e.g. the file name).
    pub name: String,
    /// The version devices report once they run it (`firmware_version`).
    pub version: String,
    /// The device kind it is for (`relay`, `sensor`...); rollouts only reach that kind.
    pub kind: String,
}

/// Uploads an image (hub administrators): the raw file as the body, at most
/// `[firmware] max_bytes`; stored under its SHA-256.
#[utoipa::path(post, path = "/firmware", tag = "firmware", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Firmware), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "The store refuses it as a conflict with an existing record", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody),
        (status = 422, description = "A query value breaks a rule (e.g. an empty name)", body = crate::error::ErrorBody),
        (status = 503, description = "The hub is stopping", body = crate::error::ErrorBody)))]
async fn upload_firmware(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require_admin("uploading firmware")?;
    let ota = ota(&state)?;
    let limit = ota.config().max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Ok(too_large(limit));
    }
    let mut upload = ota.begin_upload().await?;
    let mut body = body;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                upload.abort().await;
                return Err(ApiError::bad_request("body", format!("body: {error}")));
            }
        };
        if let Ok(data) = frame.into_data() {
            match upload.write(&data).await {
                Ok(()) => {}
                Err(OtaError::TooLarge(limit)) => return Ok(too_large(limit)),
                Err(error) => return Err(error.into()),
            }
        }
    }
    let info = ImageInfo {
        name: query.name,
        version: query.version,
        kind: query.kind,
    };
    let firmware = ota.finish_upload(&caller.actor(), upload, info).await?;
    Ok((StatusCode::CREATED, axum::Json(firmware)).into_response())
}

fn too_large(limit: u64) -> Response {
    let body = serde_json::json!({"error": {"code": "too_large", "field": "body",
        "message": format!("the image is larger than {limit} bytes ([firmware] max_bytes)")}});
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

/// Every image, newest first (hub administrators and group admins).
#[utoipa::path(get, path = "/firmware", tag = "firmware",
    responses((status = 200, body = Vec<Firmware>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_firmware(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Firmware>>> {
    require_image_reader(&caller)?;
    ota(&state)?;
    Ok(axum::Json(state.store.firmware_list().await?))
}

/// One image (hub administrators and group admins).
#[utoipa::path(get, path = "/firmware/{id}", tag = "firmware", params(("id" = String, Path)),
    responses((status = 200, body = Firmware), (status = 404, body = crate::error::ErrorBody)))]
async fn get_firmware(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Firmware>> {
    require_image_reader(&caller)?;
    ota(&state)?;
    Ok(axum::Json(state.store.firmware(&id).await?))
}

/// Deletes an image (hub administrators); 409 while a rollout uses it.
#[utoipa::path(delete, path = "/firmware/{id}", tag = "firmware", params(("id" = String, Path)),
    responses((status = 204), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_firmware(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin("deleting firmware")?;
    ota(&state)?.delete_firmware(&caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A device downloads the image of its `ota` command (no login: the token is the
/// permission). 404 for every refusal: unknown, expired, replaced by a retry, the
/// device done or the rollout stopped.
#[utoipa::path(get, path = "/firmware/download/{token}", tag = "firmware",
    params(("token" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"),
        (status = 404, body = crate::error::ErrorBody)))]
async fn download(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let not_found = || ApiError::not_found("no such download").into_response();
    let Some(ota) = state.ota.as_ref() else {
        return not_found();
    };
    let Some((path, size)) = ota.download(&token).await else {
        return not_found();
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) => {
            tracing::error!(path = %path.display(), "firmware file not readable: {error}");
            return not_found();
        }
    };
    let mut response = Body::new(FileBody {
        file,
        remaining: size,
    })
    .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A file as a response body, 64 KiB at a time (an image is not held in memory).
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = self.remaining.min(64 * 1024) as usize;
        let mut buf = vec![0u8; want];
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut self.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
            Poll::Ready(Ok(())) => {
                let filled = read.filled().len();
                if filled == 0 {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "firmware file shorter than recorded",
                    ))));
                }
                self.remaining -= filled as u64;
                buf.truncate(filled);
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(buf)))))
            }
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}
