//! The door every request to a fake passes: open, a one-shot barrier, or closed until released.
//!
//! Tests assert on the gate instead of on timing: "N requests were in flight at once" is "a
//! barrier of N opened" (N requests can only be held together if the client sent them
//! together), and "the database while requests are in flight" is `hold_all`, `wait_for_waiting`,
//! look, `release`. Nothing here sleeps; the only clock is the patience of a held request, which
//! only matters when a test fails (the barrier never fills, or nobody releases).

use std::time::Duration;

use tokio::sync::watch;

/// How long a request waits at a closed door before it goes on anyway (the barrier then does
/// not count as opened, so the test fails instead of hanging).
const PATIENCE: Duration = Duration::from_secs(60);

/// What the door does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Door {
    /// Every request goes through.
    #[default]
    Open,
    /// Requests wait until this many wait together, then all of them go through.
    Barrier(usize),
    /// Requests wait until `release`.
    Closed,
}

/// The gate's state; every change wakes the requests and tests watching it.
#[derive(Debug, Clone, Default)]
struct State {
    door: Door,
    /// Requests that reached the door, held or not.
    arrived: u64,
    /// Requests held at the door now.
    waiting: usize,
    /// Tickets handed out so far; a held request's ticket is its place in the queue.
    tickets: u64,
    /// Every ticket below this has been let through.
    let_through_below: u64,
    /// Barriers that filled and opened.
    barriers_opened: u64,
    /// Held requests that lost patience and went on without being let through.
    gave_up: u64,
}

impl State {
    /// Lets every held request through and leaves the door open.
    fn open(&mut self) {
        self.let_through_below = self.tickets;
        self.waiting = 0;
        self.door = Door::Open;
    }

    /// Opens a barrier that has as many waiting as it asks for.
    fn open_full_barrier(&mut self) {
        if matches!(self.door, Door::Barrier(n) if self.waiting >= n) {
            self.barriers_opened += 1;
            self.open();
        }
    }
}

/// The door of one fake; see the module documentation.
#[derive(Debug)]
pub struct Gate {
    state: watch::Sender<State>,
    patience: Duration,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            state: watch::Sender::new(State::default()),
            patience: PATIENCE,
        }
    }
}

/// A held request: when dropped before it is let through (the client gave up), it stops counting
/// as waiting.
struct Held<'a> {
    gate: &'a Gate,
    ticket: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let ticket = self.ticket;
        self.gate.state.send_if_modified(|s| {
            let still_held = s.let_through_below <= ticket;
            if still_held {
                s.waiting = s.waiting.saturating_sub(1);
            }
            still_held
        });
    }
}

impl Gate {
    /// The next requests wait at the door until `n` wait together; then those `n` go through
    /// together and the door is open again. `hold(0)` or `hold(1)` hold nobody for long.
    pub fn hold(&self, n: usize) {
        self.state.send_modify(|s| {
            s.door = Door::Barrier(n.max(1));
            s.open_full_barrier();
        });
    }

    /// Every request waits at the door until [`Gate::release`].
    pub fn hold_all(&self) {
        self.state.send_modify(|s| s.door = Door::Closed);
    }

    /// Lets every held request through and opens the door (an armed barrier is dropped).
    pub fn release(&self) {
        self.state.send_modify(State::open);
    }

    /// Resolves once at least `n` requests are held at the door. Wrap it in a timeout: it waits
    /// for as long as it takes.
    pub async fn wait_for_waiting(&self, n: usize) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(|s| s.waiting >= n).await;
    }

    /// Resolves once `n` requests have reached the door since the fake started, held or not
    /// (a request that then hangs has arrived too). Wrap it in a timeout.
    pub async fn wait_for_arrivals(&self, n: u64) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(|s| s.arrived >= n).await;
    }

    /// Requests that reached the door since the fake started.
    pub fn arrivals(&self) -> u64 {
        self.state.borrow().arrived
    }

    /// Requests held at the door now.
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiting
    }

    /// How many barriers (see [`Gate::hold`]) filled and opened since the fake started.
    pub fn barriers_opened(&self) -> u64 {
        self.state.borrow().barriers_opened
    }

    /// Held requests that waited longer than a minute and went on without being let through:
    /// a barrier that never filled, or a `hold_all` never released.
    pub fn gave_up(&self) -> u64 {
        self.state.borrow().gave_up
    }

    /// Called by every request on arrival: returns at once when the door is open, otherwise
    /// when the request is let through (or loses patience).
    pub(super) async fn pass(&self) {
        let mut ticket = None;
        self.state.send_modify(|s| {
            s.arrived += 1;
            if s.door == Door::Open {
                return;
            }
            ticket = Some(s.tickets);
            s.tickets += 1;
            s.waiting += 1;
            s.open_full_barrier();
        });
        let Some(ticket) = ticket else { return };
        let held = Held { gate: self, ticket };
        let mut rx = self.state.subscribe();
        let let_through = rx.wait_for(|s| s.let_through_below > ticket);
        if tokio::time::timeout(self.patience, let_through).await.is_err() {
            self.state.send_modify(|s| s.gave_up += 1);
        }
        drop(held);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const GENEROUS: Duration = Duration::from_secs(30);

    fn spawn_passes(gate: &Arc<Gate>, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
        (0..n)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.pass().await })
            })
            .collect()
    }

    async fn all_done(tasks: Vec<tokio::task::JoinHandle<()>>) {
        for t in tasks {
            tokio::time::timeout(GENEROUS, t).await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn an_open_gate_holds_nobody_and_counts_arrivals() {
        let gate = Gate::default();
        gate.pass().await;
        gate.pass().await;
        tokio::time::timeout(GENEROUS, gate.wait_for_arrivals(2)).await.unwrap();
        assert_eq!((gate.waiting(), gate.barriers_opened(), gate.arrivals()), (0, 0, 2));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_barrier_lets_n_through_together_then_the_door_is_open() {
        let gate = Arc::new(Gate::default());
        gate.hold(3);
        let first = spawn_passes(&gate, 2);
        tokio::time::timeout(GENEROUS, gate.wait_for_waiting(2)).await.unwrap();
        assert_eq!(gate.barriers_opened(), 0);
        let third = spawn_passes(&gate, 1);
        all_done(first).await;
        all_done(third).await;
        assert_eq!((gate.waiting(), gate.barriers_opened()), (0, 1));
        // One-shot: the next request is not held.
        gate.pass().await;
        assert_eq!(gate.barriers_opened(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hold_all_holds_until_released() {
        let gate = Arc::new(Gate::default());
        gate.hold_all();
        let tasks = spawn_passes(&gate, 4);
        tokio::time::timeout(GENEROUS, gate.wait_for_waiting(4)).await.unwrap();
        assert!(tasks.iter().all(|t| !t.is_finished()));
        gate.release();
        all_done(tasks).await;
        assert_eq!((gate.waiting(), gate.barriers_opened(), gate.gave_up()), (0, 0, 0));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_barrier_armed_while_requests_wait_counts_them() {
        let gate = Arc::new(Gate::default());
        gate.hold_all();
        let tasks = spawn_passes(&gate, 2);
        tokio::time::timeout(GENEROUS, gate.wait_for_waiting(2)).await.unwrap();
        gate.hold(2);
        all_done(tasks).await;
        assert_eq!(gate.barriers_opened(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_request_that_is_dropped_stops_waiting() {
        let gate = Arc::new(Gate::default());
        gate.hold(2);
        let tasks = spawn_passes(&gate, 1);
        tokio::time::timeout(GENEROUS, gate.wait_for_waiting(1)).await.unwrap();
        tasks[0].abort();
        assert!(tasks.into_iter().next().unwrap().await.unwrap_err().is_cancelled());
        assert_eq!(gate.waiting(), 0);
        // The barrier still needs two that wait together.
        let tasks = spawn_passes(&gate, 2);
        all_done(tasks).await;
        assert_eq!(gate.barriers_opened(), 1);
    }

    #[tokio::test]
    async fn a_barrier_that_never_fills_gives_up_and_does_not_count() {
        // One request can never fill a barrier of two, however long it waits.
        let gate = Gate {
            patience: Duration::from_millis(20),
            ..Gate::default()
        };
        gate.hold(2);
        gate.pass().await;
        assert_eq!((gate.waiting(), gate.barriers_opened(), gate.gave_up()), (0, 0, 1));
    }
}
