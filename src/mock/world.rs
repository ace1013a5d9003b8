//! The stateful part of the default world (placeholder until the behaviours land).

use super::openvk::CallCtx;
use super::recordings::Recordings;
use super::state::MockState;
use crate::vk::ApiError;
use serde_json::{Map, Value};

/// Mutable world state seeded from the recordings.
#[derive(Debug, Default)]
pub struct World {}

impl World {
    /// Seeds the world from the recorded answers.
    pub fn from_recordings(_rec: &Recordings) -> Result<World, String> {
        Ok(World {})
    }

    /// Answers a call from the world's state, or `None` to fall back to the recordings.
    pub fn handle(&mut self, _st: &MockState, _ctx: &CallCtx, _method: &str, _params: &Map<String, Value>) -> Option<Result<Value, ApiError>> {
        None
    }
}
