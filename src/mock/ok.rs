//! OK.ru graph messages: `GET /graph/me/messages` (placeholder until the OK module lands).

use super::state::MockState;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET /graph/me/messages?chat_id=chat:ID`.
pub async fn messages(State(_st): State<Arc<MockState>>, _req: Request) -> Response {
    (StatusCode::NOT_IMPLEMENTED, "ok not ready").into_response()
}

/// `GET /graph/me/messages/chat:ID`.
pub async fn messages_by_path(State(_st): State<Arc<MockState>>, Path(_chat): Path<String>, _req: Request) -> Response {
    (StatusCode::NOT_IMPLEMENTED, "ok not ready").into_response()
}
