//! suite stage (in progress).
