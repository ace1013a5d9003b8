//! Devino's VK messaging gateway: `POST /vk/messages` (placeholder until the Devino module lands).

use super::state::MockState;
use super::MockConfig;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Devino behaviour settings.
#[derive(Debug, Clone, Default)]
pub struct DevinoConfig {}

/// Devino gateway state.
#[derive(Debug, Default)]
pub struct DevinoState {}

impl DevinoState {
    /// Builds the state from the mock configuration.
    pub fn new(_config: &MockConfig) -> DevinoState {
        DevinoState {}
    }
}

/// Starts background workers (status callbacks).
pub fn spawn_workers(_state: &Arc<MockState>) {}

/// `POST /vk/messages`.
pub async fn send(State(_st): State<Arc<MockState>>, _req: Request) -> Response {
    (StatusCode::NOT_IMPLEMENTED, "devino not ready").into_response()
}

/// `POST /__vkconform/devino/incoming`: pushes an incoming-message webhook.
pub async fn inject_incoming(State(_st): State<Arc<MockState>>, _req: Request) -> Response {
    (StatusCode::NOT_IMPLEMENTED, "devino not ready").into_response()
}
