//! record stage (in progress).
