//! A JSON body extractor whose rejections use the API's error shape.

use super::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

/// Like `axum::Json`, with errors as `{"error": {...}}`. Unknown fields are rejected by the request types
/// (`#[serde(deny_unknown_fields)]`).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let (status, code) = match &rejection {
                    JsonRejection::MissingJsonContentType(_) => {
                        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
                    }
                    JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
                    JsonRejection::BytesRejection(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
                    _ => (StatusCode::BAD_REQUEST, "malformed-json"),
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}
