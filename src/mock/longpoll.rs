//! The user long-poll endpoint `/nim{user}` (placeholder until long poll lands).

use super::state::MockState;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Long-poll event queue.
#[derive(Debug, Default)]
pub struct LongPoll {}

/// `GET|POST /nim{user}?act=a_check&key=…&ts=…&wait=…`.
pub async fn poll(State(_st): State<Arc<MockState>>, Path(_p): Path<String>, _req: Request) -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}
