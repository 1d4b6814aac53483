//! RFC 9457 problem details: every error response, never a stack trace or a secret.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
}

impl Problem {
    pub fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title,
            status,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

/// Turns the plain-text error responses axum's extractors produce (body too
/// large, malformed JSON, wrong content type…) into problem details, so
/// every error a client sees has one shape.
pub async fn plain_errors_as_problems(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    // extractor rejections are one short line; never echo more than that
    let detail = match axum::body::to_bytes(response.into_body(), 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("{detail}; the limit is {} bytes", crate::MAX_WEBHOOK_BODY)
    } else {
        detail
    };
    Problem::new(
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        detail,
    )
    .into_response()
}
