//! `execute` and stored procedures (placeholder until VKScript lands).

use super::openvk::CallCtx;
use super::state::MockState;
use crate::vk::{codes, ApiError, WireParams};
use serde_json::Value;

/// Runs `/method/execute` or `/method/execute.NAME`; returns the whole body.
pub fn handle(_st: &MockState, _ctx: &CallCtx, _name: &str, _wire: &WireParams) -> Result<Value, ApiError> {
    Err(ApiError::code(codes::UNKNOWN_METHOD))
}
