//! Tests: ok.
