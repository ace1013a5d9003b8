//! fuzz stage (in progress).
