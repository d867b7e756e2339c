//! Shared by the tests that stand in for the API server with an in-memory one.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failure as the API server reports it (a `Status` object), which the kube client turns into
/// `kube::Error::Api` with `code` and `reason`.
pub fn status(code: StatusCode, reason: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": reason, "reason": reason, "code": code.as_u16()});
    (code, Json(body)).into_response()
}
