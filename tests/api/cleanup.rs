//! Cleanup job tests (being written).
