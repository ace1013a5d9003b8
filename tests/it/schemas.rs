//! Tests: schemas.
