//! Tests: devino.
