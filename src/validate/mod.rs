//! validate stage (in progress).
