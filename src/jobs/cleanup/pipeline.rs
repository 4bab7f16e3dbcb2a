//! The I/O pipeline of a cleanup pass: CPR numbers read ahead by keyset, PersonInformation asked
//! with the request window kept full (`in_flight` requests at once, `per_request` CPRs each),
//! and the answers handed over in keyset order. It runs as its own task, so the window stays
//! full while the job commits a batch; dropping the pipeline stops it (answers still in flight
//! are simply asked again by the next slice: nothing was committed for them).

use std::collections::{HashMap, VecDeque};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::rules::CleanupRule;
use crate::clients::person_information::{PersonInfoError, PersonInformationClient, PersonStatus};
use crate::cpr::Cpr;
use crate::db::{Db, DbError, StoredInstant};
use crate::engine::StopSignal;
use crate::logging::request_id;

/// One answered request: the stored values it covers, in keyset order, and their statuses.
#[derive(Debug)]
pub struct Answered {
    /// The stored CPR values covered (values that are not 10 digits included: skipped, logged).
    pub raw: Vec<String>,
    /// The valid CPR numbers among them, asked.
    pub cprs: Vec<Cpr>,
    /// PersonInformation's answer; a CPR absent from it does not exist.
    pub statuses: HashMap<Cpr, PersonStatus>,
}

impl Answered {
    /// Splits off the values after the first `n` (a deletion batch ends inside this answer).
    pub fn split_off(&mut self, n: usize) -> Answered {
        let raw = self.raw.split_off(n.min(self.raw.len()));
        let cprs: Vec<Cpr> = raw.iter().filter_map(|c| Cpr::parse(c.trim()).ok()).collect();
        self.cprs.retain(|c| !cprs.contains(c));
        let statuses = cprs
            .iter()
            .filter_map(|c| self.statuses.remove(c).map(|p| (c.clone(), p)))
            .collect();
        Answered { raw, cprs, statuses }
    }
}

/// Why the pipeline stopped.
#[derive(Debug)]
pub enum FetchError {
    /// PersonInformation failed.
    Service(PersonInfoError),
    /// Reading the next CPR numbers failed.
    Db(DbError),
    /// The slice lost its lease: no further request was sent.
    LeaseLost,
}

/// How the pipeline reads and asks.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// CPR numbers per PersonInformation request.
    pub per_request: usize,
    /// Requests in flight at once.
    pub in_flight: usize,
    /// CPR numbers read per keyset query.
    pub read_ahead: usize,
}

/// A running pipeline; its task stops when this is dropped.
pub struct Pipeline {
    answers: mpsc::Receiver<Result<Answered, FetchError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pipeline {
    /// Starts walking `R`'s CPR numbers after `after`.
    pub fn start<R: CleanupRule>(
        db: Db,
        client: PersonInformationClient,
        (after, run_time): (String, StoredInstant),
        sizes: Sizes,
        lost: StopSignal,
    ) -> Pipeline {
        let per_request = sizes.per_request.max(1);
        let in_flight = sizes.in_flight.max(1);
        let read_ahead = sizes.read_ahead.max(per_request);
        // Room for a whole window of answers beyond the ones being consumed.
        let (tx, answers) = mpsc::channel(in_flight * 2);
        let source = futures_util::stream::unfold(Walk::new(after), move |mut walk| {
            let db = db.clone();
            async move {
                let chunk = walk.next_chunk::<R>(&db, run_time, per_request, read_ahead).await?;
                Some((chunk, walk))
            }
        });
        let asked = source
            .map(move |chunk| {
                let (client, lost) = (client.clone(), lost.clone());
                async move {
                    let raw = chunk?;
                    if lost.is_raised() {
                        return Err(FetchError::LeaseLost);
                    }
                    let cprs: Vec<Cpr> = raw.iter().filter_map(|c| Cpr::parse(c.trim()).ok()).collect();
                    let answer = client.statuses(&cprs).await.map_err(FetchError::Service)?;
                    let statuses = answer.into_iter().map(|p| (p.cpr.clone(), p)).collect();
                    Ok(Answered { raw, cprs, statuses })
                }
            })
            .buffered(in_flight);
        let task = tokio::spawn(request_id::inherit(async move {
            let mut asked = std::pin::pin!(asked);
            while let Some(item) = asked.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        }));
        Pipeline { answers, task }
    }

    /// The next answer in keyset order; `None` at the end of the walk.
    pub async fn next(&mut self) -> Option<Result<Answered, FetchError>> {
        self.answers.recv().await
    }
}

/// Where the keyset walk stands: the values read and not yet asked for, and the next read,
/// started while enough is left that the request window never waits for the database.
struct Walk {
    after: String,
    ahead: VecDeque<String>,
    exhausted: bool,
    reading: Option<tokio::task::JoinHandle<Result<Vec<String>, DbError>>>,
}

impl Walk {
    fn new(after: String) -> Walk {
        Walk {
            after,
            ahead: VecDeque::new(),
            exhausted: false,
            reading: None,
        }
    }

    /// Starts the next keyset read after everything read so far, unless one runs or none is left.
    fn read_more<R: CleanupRule>(&mut self, db: &Db, run_time: StoredInstant, read_ahead: usize) {
        if self.reading.is_some() || self.exhausted {
            return;
        }
        let (db, after) = (db.clone(), self.after.clone());
        self.reading = Some(tokio::spawn(async move {
            db.run(move |conn| Ok::<_, DbError>(R::next_cprs(conn, &after, run_time, read_ahead)?))
                .await
        }));
    }

    /// Takes in a finished read (waiting for it when `wait`); `Err` when it failed.
    async fn absorb(&mut self, wait: bool, read_ahead: usize) -> Result<(), FetchError> {
        let Some(handle) = self.reading.take_if(|h| wait || h.is_finished()) else {
            return Ok(());
        };
        let read = handle
            .await
            .map_err(|e| FetchError::Db(DbError::Aborted(e.to_string())))
            .and_then(|r| r.map_err(FetchError::Db));
        match read {
            Ok(more) => {
                self.exhausted = more.len() < read_ahead;
                if let Some(last) = more.last() {
                    self.after = last.clone();
                }
                self.ahead.extend(more);
                Ok(())
            }
            Err(e) => {
                self.exhausted = true;
                self.ahead.clear();
                Err(e)
            }
        }
    }

    /// The next `per_request` stored values; `None` at the end.
    async fn next_chunk<R: CleanupRule>(
        &mut self,
        db: &Db,
        run_time: StoredInstant,
        per_request: usize,
        read_ahead: usize,
    ) -> Option<Result<Vec<String>, FetchError>> {
        if let Err(e) = self.absorb(false, read_ahead).await {
            return Some(Err(e));
        }
        // Half of a read left: the next one starts now, so it is in before it is needed.
        if self.ahead.len() < read_ahead / 2 + per_request {
            self.read_more::<R>(db, run_time, read_ahead);
        }
        while self.ahead.len() < per_request && self.reading.is_some() {
            if let Err(e) = self.absorb(true, read_ahead).await {
                return Some(Err(e));
            }
            if self.ahead.len() < per_request {
                self.read_more::<R>(db, run_time, read_ahead);
            }
        }
        if self.ahead.is_empty() {
            return None;
        }
        let n = per_request.min(self.ahead.len());
        Some(Ok(self.ahead.drain(..n).collect()))
    }
}
