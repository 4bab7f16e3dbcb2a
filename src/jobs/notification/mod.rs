//! OrganDonorNotification: the 18-year reminder letter through the Digital Post Adapter (SPEC §6).
//!
//! Notification dates are worked through oldest first, from `startdate` to today. Each stack
//! operation is one of:
//! - **extract** date D: insert `NotificationDate` D and one Pending `NotificationPerson` per
//!   recipient (templates chosen now), then set D InProgress, all in one transaction;
//! - **send** a batch of D: take up to `send.limit` Pending letters (and letters a dead slice
//!   left InProgress) and mark them InProgress (one commit), send them with at most
//!   `max_per_route` in flight, then record every outcome (one commit); while a batch is out,
//!   the previous batch's outcomes are recorded and the next batch is claimed, so the adapter
//!   is never left waiting on a commit;
//! - **complete** D: when every letter of D is Sent, set them and D Completed (one commit).
//!
//! The resume point is the notification tables themselves (`CursorChange::Keep`): the oldest
//! date that is not Completed, or the day after the newest date. A letter left InProgress can
//! only come from a slice that died or lost its lease (the lease lets one slice run at a time,
//! and a slice resolves its own InProgress letters before it ends: [`Job::wind_up`]), so it is sent
//! again with the same MessageId, which the adapter uses to drop the duplicate.

pub mod dates;
mod extract;
mod send;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;

use super::{JobDeps, JobFactory};
use crate::clients::digital_post::DigitalPostClient;
use crate::config::NotificationSettings;
use crate::db::models::notification;
use crate::db::models::DateStatus;
use crate::db::Db;
use crate::engine::{Job, JobError, Slice, Step};
use crate::metrics::Metrics;

/// Job name, `JobLock.JobName` etc.
const NOTIFICATION: &str = "OrganDonorNotification";

/// Start URL answer when `digitalpost.notification.odr.startdate` is not set.
pub fn no_start_date_line() -> String {
    format!(
        "{NOTIFICATION}: digitalpost.notification.odr.startdate is not set, so the job is disabled; no letters were sent."
    )
}

/// Start URL answer when the start date lies after today.
pub fn future_start_date_line(start: NaiveDate, today: NaiveDate) -> String {
    format!(
        "{NOTIFICATION}: digitalpost.notification.odr.startdate {} is in the future (today is {}); no letters were sent.",
        start.format("%Y-%m-%d"),
        today.format("%Y-%m-%d")
    )
}

/// Summary note when every date up to today is Completed.
const ALL_DONE_NOTE: &str = "every date up to today completed";
/// Summary note when the current date cannot be completed without an operator.
const WAITING_NOTE: &str =
    "waiting for an operator: repair the date's letters (docs/OPERATIONS.md), then call start again";

impl JobFactory for NotificationJob {
    fn create(deps: &JobDeps) -> Result<NotificationJob, String> {
        let settings = &deps.settings.notification;
        let today = deps.clock.today();
        let Some(start) = settings.start_date else {
            return Err(no_start_date_line());
        };
        if start > today {
            return Err(future_start_date_line(start, today));
        }
        Ok(NotificationJob {
            settings: settings.clone(),
            start,
            today,
            in_flight: deps.settings.digital_post.max_per_route.max(1),
            // A send operation: send.limit letters, in_flight at a time, each within the timeout.
            operation_timeout: deps.settings.digital_post.connect_timeout.saturating_mul(
                u32::try_from(
                    settings
                        .send_limit
                        .div_ceil(deps.settings.digital_post.max_per_route.max(1)),
                )
                .unwrap_or(u32::MAX)
                .max(1),
            ),
            client: deps.digital_post.clone(),
            stamdata: deps.db.stamdata().clone(),
            metrics: deps.metrics.clone(),
            dates_completed: 0,
            sent: 0,
            rejected: 0,
            held: None,
            next_batch: None,
            unrecorded: None,
        })
    }
}

/// One slice of OrganDonorNotification.
pub struct NotificationJob {
    settings: NotificationSettings,
    start: NaiveDate,
    today: NaiveDate,
    in_flight: usize,
    operation_timeout: Duration,
    client: DigitalPostClient,
    stamdata: Db,
    metrics: Arc<Metrics>,
    dates_completed: i64,
    sent: i64,
    rejected: i64,
    /// Set when the current date waits for an operator: the date and what holds it.
    held: Option<String>,
    /// The batch claimed while the previous one was sent: (date id, letters).
    next_batch: Option<(i64, Vec<notification::LetterRow>)>,
    /// The batch sent last, recorded by the next operation while it sends (or at the end).
    unrecorded: Option<send::Unrecorded>,
}

impl Job for NotificationJob {
    const NAME: &'static str = NOTIFICATION;

    fn budget(&self) -> Duration {
        self.settings.desired_duration
    }

    async fn step(&mut self, slice: &mut Slice) -> Result<Step, JobError> {
        let today = self.today;
        let open = slice
            .read(move |conn| Ok(notification::oldest_open_date(conn, today)?))
            .await?;
        let Some(date) = open else {
            let newest = slice.read(|conn| Ok(notification::newest_date(conn)?)).await?;
            let next = match newest.and_then(|n| n.succ_opt()) {
                Some(after) if after > self.start => after,
                _ => self.start,
            };
            if next > today {
                return Ok(Step::Finished);
            }
            self.extract(slice, next).await?;
            return Ok(Step::Continue);
        };
        match DateStatus::parse(&date.status) {
            Some(DateStatus::Pending) => {
                self.extract(slice, date.latest_date).await?;
                Ok(Step::Continue)
            }
            Some(DateStatus::InProgress) => self.send_or_complete(slice, &date).await,
            // Excluded by the query; never loop on it.
            Some(DateStatus::Completed) => Err(JobError::Other(format!(
                "datoen {} blev læst som ikke færdig, men har status Completed",
                date.latest_date
            ))),
            None => {
                let shown = notification::shown_status(&date.status);
                log::warn!(
                    "{NOTIFICATION}: date {} has the unknown status {shown}; it waits for an operator",
                    date.latest_date
                );
                self.held = Some(format!("date {} has the unknown status {shown}", date.latest_date));
                Ok(Step::Finished)
            }
        }
    }

    fn processed(&self) -> i64 {
        self.sent + self.rejected
    }

    async fn wind_up(&mut self, slice: &mut Slice) -> Result<(), JobError> {
        self.record_unrecorded(slice).await
    }

    fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    fn figures_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut figures = serde_json::Map::new();
        figures.insert("datesCompleted".into(), self.dates_completed.into());
        figures.insert("sent".into(), self.sent.into());
        figures.insert("rejected".into(), self.rejected.into());
        figures
    }

    fn figures(&self) -> String {
        let mut figures = format!(
            "{} dates completed, {} letters sent, {} rejected",
            self.dates_completed, self.sent, self.rejected
        );
        if let Some(held) = &self.held {
            figures.push_str("; ");
            figures.push_str(held);
        }
        figures
    }

    fn finished_note(&self) -> &'static str {
        if self.held.is_some() {
            WAITING_NOTE
        } else {
            ALL_DONE_NOTE
        }
    }
}
