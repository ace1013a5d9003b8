//! Tests: runner.
