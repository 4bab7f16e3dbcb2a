//! The lease while a slice runs: the heartbeat (with its ceiling), its stop on drop, and the
//! release retried when the database comes back.

use std::time::{Duration, Instant};

use super::{Lease, StopSignal};
use crate::db::Db;
use crate::logging::request_id;

/// Stops the heartbeat when the slice ends, however it ends (a dropped slice must not keep
/// its lease alive).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Frees the lease as soon as the database is back, so the next call need not wait for expiry.
/// Safe at any time: the release is guarded by the token.
pub fn retry_release(db: Db, lease: Lease) {
    tokio::spawn(request_id::inherit(async move {
        let deadline = Instant::now() + lease.length;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if lease.release(&db).await.is_ok() {
                log::info!("{}: lease released after the database came back", lease.job);
                return;
            }
        }
    }));
}

/// Extends the lease every quarter of its length while the slice runs, for at most
/// `operation_timeout`: the last extension then ends budget + margin + operation_timeout after
/// the start, so a wedged operation cannot hold the job cluster-wide forever (commits of a slice
/// that makes progress extend the lease themselves). Finding the lease lost raises `lost`.
pub fn spawn_heartbeat(
    db: Db,
    lease: Lease,
    operation_timeout: Duration,
    lost: StopSignal,
) -> tokio::task::JoinHandle<()> {
    let every = (lease.length / 4).max(Duration::from_millis(500));
    let started = Instant::now();
    tokio::spawn(request_id::inherit(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if started.elapsed() > operation_timeout {
                log::warn!(
                    "{}: the slice runs past its budget and one operation's timeout; the heartbeat stops, so the lease expires unless the slice commits",
                    lease.job
                );
                return;
            }
            match lease.heartbeat(&db).await {
                Ok(true) => {}
                Ok(false) => {
                    log::warn!(
                        "{}: lease taken over by another node; this slice stops before its next external call",
                        lease.job
                    );
                    lost.raise();
                    return;
                }
                Err(e) => log::warn!("{}: heartbeat failed: {e}", lease.job),
            }
        }
    }))
}
