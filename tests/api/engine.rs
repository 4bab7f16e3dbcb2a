//! engine tests (next)
