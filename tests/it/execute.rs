//! Tests: execute.
