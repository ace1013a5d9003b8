//! Tests: world.
