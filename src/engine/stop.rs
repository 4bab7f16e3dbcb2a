//! Why a slice must stop early: its lease was lost (stop before the next external call), or the
//! service is shutting down (stop at the next commit). Cheap to clone and to check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set once, read by every operation of a slice.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal not yet raised.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Raises the signal (idempotent).
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the signal was raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
