//! Sending a batch of the current date, and completing the date when every letter is Sent.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;

use super::{NotificationJob, NOTIFICATION};
use crate::clients::digital_post::{DigitalPostClient, Letter, SendOutcome};
use crate::cpr::Cpr;
use crate::db::models::notification::{self, DateRow, LetterRow};
use crate::db::models::{stored, LetterStatus, Service};
use crate::engine::{CursorChange, JobError, Slice, Step, StopSignal};
use crate::metrics::Metrics;

/// `ErrorMessage` of a letter whose stored CPR is not 10 digits (never sent).
const UNUSABLE_CPR: &str = "Rækken har ikke et gyldigt CPR-nummer (10 cifre), så brevet blev ikke sendt";

/// What became of one letter of a batch.
pub(super) enum Fate {
    Accepted,
    Rejected(String),
    /// Never sent: the row itself is unusable (an operator edited its CPR); Error, no ErrorEvent.
    Unusable(String),
    /// Not handled by the adapter (unavailable, or not tried once it was): back to Pending.
    NotHandled(Option<String>),
}

/// Fates of a sent batch whose record commit waits for the next operation: (letter id,
/// MessageId, fate) per letter.
pub(super) type Unrecorded = Vec<(i64, String, Fate)>;

/// Letters one record commit counted.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    sent: i64,
    rejected: i64,
}

impl NotificationJob {
    /// Sends the next batch of date `date` (claimed by the previous operation while it sent, or
    /// now), or completes the date when nothing is left to send. While a batch is out, the
    /// previous batch's outcomes are recorded and the next batch is claimed, so neither commit
    /// leaves the adapter idle; the slice's last batch is recorded before its operation ends.
    pub(super) async fn send_or_complete(&mut self, slice: &mut Slice, date: &DateRow) -> Result<Step, JobError> {
        let (date_id, day) = (date.id, date.latest_date);
        let now = stored(slice.clock().now());
        let batch = match self.next_batch.take() {
            Some((id, rows)) if id == date_id => rows,
            _ => {
                self.record_unrecorded(slice).await?;
                self.claim(slice, date_id, 0).await?
            }
        };
        if batch.is_empty() {
            self.record_unrecorded(slice).await?;
            let held = slice
                .commit(CursorChange::Keep, move |conn| {
                    Ok(notification::complete_date_if_done(conn, date_id, now)?)
                })
                .await?;
            if held.is_empty() {
                self.dates_completed += 1;
                log::info!("{NOTIFICATION}: date {day} completed");
                return Ok(Step::Continue);
            }
            let what = held
                .iter()
                .map(|(status, n)| format!("{n} with status {}", notification::shown_status(status)))
                .collect::<Vec<_>>()
                .join(", ");
            log::warn!("{NOTIFICATION}: date {day} cannot be completed, its letters: {what}; it waits for an operator");
            self.held = Some(format!("date {day} is held by its letters: {what}"));
            return Ok(Step::Finished);
        }
        let after = batch.last().map_or(0, |l| l.id);
        let (limit, previous) = (self.settings.send_limit, self.unrecorded.take());
        let (fates, (recorded, next)) = {
            let sending = send_all(&self.client, &batch, self.in_flight, slice.lease_lost());
            let metrics = &self.metrics;
            let booking = async {
                let recorded = match previous {
                    Some(fates) => record_fates(slice, metrics, fates, Vec::new()).await,
                    None => (Tally::default(), Ok(())),
                };
                (recorded, Self::claim_rows(slice, date_id, after, limit).await)
            };
            tokio::join!(sending, booking)
        };
        self.count(recorded)?;
        let next = next?;
        // An unavailable adapter or the slice's last operation: record now and hand the claimed
        // next batch back to Pending; otherwise the record commit rides along the next send.
        let unavailable = fates.iter().any(|(_, _, f)| matches!(f, Fate::NotHandled(_)));
        if unavailable || slice.ends_after_this_operation() {
            let give_back = next.iter().map(|l| l.id).collect();
            let recorded = record_fates(slice, &self.metrics, fates, give_back).await;
            self.count(recorded)?;
        } else {
            self.unrecorded = Some(fates);
            if !next.is_empty() {
                self.next_batch = Some((date_id, next));
            }
        }
        Ok(Step::Continue)
    }

    /// Records the batch whose record was deferred, if any (before anything that needs its
    /// letters settled, and when the slice ends).
    pub(super) async fn record_unrecorded(&mut self, slice: &mut Slice) -> Result<(), JobError> {
        match self.unrecorded.take() {
            Some(fates) => {
                let recorded = record_fates(slice, &self.metrics, fates, Vec::new()).await;
                self.count(recorded)
            }
            None => Ok(()),
        }
    }

    /// Adds what a record commit counted to the slice's figures; its error, if any.
    fn count(&mut self, (tally, result): (Tally, Result<(), JobError>)) -> Result<(), JobError> {
        self.sent += tally.sent;
        self.rejected += tally.rejected;
        result
    }

    /// Claims up to `send.limit` letters of the date now (one fenced commit).
    async fn claim(&self, slice: &mut Slice, date_id: i64, after: i64) -> Result<Vec<LetterRow>, JobError> {
        Self::claim_rows(slice, date_id, after, self.settings.send_limit).await
    }

    async fn claim_rows(slice: &mut Slice, date_id: i64, after: i64, limit: usize) -> Result<Vec<LetterRow>, JobError> {
        let now = stored(slice.clock().now());
        slice
            .commit(CursorChange::Keep, move |conn| {
                Ok(notification::claim(conn, date_id, (after, limit), now)?)
            })
            .await
    }
}

/// Records every outcome of a batch in one commit (and hands `give_back` letters, claimed but
/// not sent, back to Pending). Returns what it counted, and its error: an unavailable adapter
/// fails the slice after the commit.
async fn record_fates(
    slice: &mut Slice,
    metrics: &Metrics,
    fates: Vec<(i64, String, Fate)>,
    give_back: Vec<i64>,
) -> (Tally, Result<(), JobError>) {
    let at = stored(slice.clock().now());
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    let mut unusable = Vec::new();
    let mut not_handled = give_back;
    let mut unavailable: Option<String> = None;
    for (id, message_id, fate) in fates {
        match fate {
            Fate::Accepted => accepted.push(id),
            Fate::Rejected(reason) => rejected.push((id, message_id, reason)),
            Fate::Unusable(reason) => unusable.push((id, reason)),
            Fate::NotHandled(reason) => {
                not_handled.push(id);
                if unavailable.is_none() {
                    unavailable = reason;
                }
            }
        }
    }
    let errors: Vec<(i64, String)> = rejected
        .iter()
        .map(|(id, _, r)| (*id, r.clone()))
        .chain(unusable.iter().cloned())
        .collect();
    let (sent_ids, back) = (accepted.clone(), not_handled.clone());
    let committed = slice
        .commit(CursorChange::Keep, move |conn| {
            notification::mark_sent(conn, &sent_ids, at)?;
            for (id, reason) in &errors {
                notification::mark_error(conn, *id, reason, at)?;
            }
            notification::mark_pending(conn, &back, at)?;
            Ok(())
        })
        .await;
    // A rejection is about that letter, not the adapter: an Error row for the operator, no
    // ErrorEvent (SPEC §6). The adapter's failure happened whatever became of the commit.
    for (_, message_id, reason) in &rejected {
        log::warn!("{NOTIFICATION}: the Digital Post Adapter rejected letter {message_id}: {reason}");
    }
    let letters = &metrics.letters_sent;
    letters.with_label_values(&["accepted"]).inc_by(accepted.len() as u64);
    letters.with_label_values(&["rejected"]).inc_by(rejected.len() as u64);
    if let Some(reason) = &unavailable {
        letters.with_label_values(&["unavailable"]).inc();
        if let Err(e) = crate::jobs::record_service_error(slice, metrics, Service::DigitalPost, reason).await {
            return (Tally::default(), Err(e));
        }
    }
    if let Err(e) = committed {
        return (Tally::default(), Err(e));
    }
    let tally = Tally {
        sent: i64::try_from(accepted.len()).unwrap_or(i64::MAX),
        rejected: i64::try_from(rejected.len() + unusable.len()).unwrap_or(i64::MAX),
    };
    if !unusable.is_empty() {
        log::warn!(
            "{NOTIFICATION}: {} letters have a stored CPR that is not 10 digits; they were set to Error unsent",
            unusable.len()
        );
    }
    match unavailable {
        Some(reason) => {
            log::warn!(
                "{NOTIFICATION}: the Digital Post Adapter is unavailable; {} letters of the batch go back to Pending",
                not_handled.len()
            );
            (tally, Err(JobError::Service(reason)))
        }
        None => (tally, Ok(())),
    }
}

/// Sends `batch` with at most `in_flight` letters out at once; the fate of each letter.
async fn send_all(
    client: &DigitalPostClient,
    batch: &[LetterRow],
    in_flight: usize,
    lost: StopSignal,
) -> Vec<(i64, String, Fate)> {
    let resent = batch
        .iter()
        .filter(|l| l.status == LetterStatus::InProgress.as_str())
        .count();
    if resent > 0 {
        log::info!(
            "{NOTIFICATION}: {resent} letters left InProgress by an earlier slice are sent again with their MessageId"
        );
    }
    let down = AtomicBool::new(false);
    futures_util::stream::iter(batch.iter())
        .map(|row| {
            let (down, lost) = (&down, &lost);
            async move {
                (
                    row.id,
                    row.message_id.clone(),
                    send_one(client, (down, lost), row).await,
                )
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await
}

/// Sends one letter unless the adapter was already found unavailable in this batch or the
/// slice has lost its lease (then the letter is not handled: it stays for the lease holder).
async fn send_one(client: &DigitalPostClient, (down, lost): (&AtomicBool, &StopSignal), row: &LetterRow) -> Fate {
    if down.load(Ordering::Relaxed) || lost.is_raised() {
        return Fate::NotHandled(None);
    }
    let Ok(cpr) = Cpr::parse(row.cpr.trim()) else {
        return Fate::Unusable(UNUSABLE_CPR.to_string());
    };
    let letter = Letter {
        message_id: &row.message_id,
        recipient: &cpr,
        template_digital: &row.template_digital,
        template_physical: &row.template_physical,
    };
    match client.send(&letter).await {
        SendOutcome::Accepted => Fate::Accepted,
        SendOutcome::Rejected { reason } => Fate::Rejected(reason),
        SendOutcome::Unavailable(e) => {
            down.store(true, Ordering::Relaxed);
            Fate::NotHandled(Some(e.to_string()))
        }
    }
}
