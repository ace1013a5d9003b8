//! runner stage (in progress).
