//! OrganDonorNotification: the 18-year reminder letter through the Digital Post Adapter (SPEC §6).
//!
//! Notification dates are worked through oldest first, from `startdate` to today. Each stack
//! operation is one of:
//! - **extract** date D: insert `NotificationDate` D and one Pending `NotificationPerson` per
//!   recipient (templates chosen now), then set D InProgress, all in one transaction;
//! - **send** a batch of D: take up to `send.limit` Pending letters (and letters a dead slice
//!   left InProgress) and mark them InProgress (one commit), send them with at most
//!   `max_per_route` in flight, then record every outcome (one commit);
//! - **complete** D: when every letter of D is Sent, set them and D Completed (one commit).
//!
//! The resume point is the notification tables themselves (`CursorChange::Keep`): the oldest
//! date that is not Completed, or the day after the newest date. A letter left InProgress can
//! only come from a slice that died or lost its lease (the lease lets one slice run at a time,
//! and a slice resolves its own InProgress letters before its operation ends), so it is sent
//! again with the same MessageId, which the adapter uses to drop the duplicate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{Datelike, Days, Months, NaiveDate};
use futures_util::StreamExt;

use crate::app::AppState;
use crate::clients::digital_post::{DigitalPostClient, Letter, SendOutcome};
use crate::config::NotificationSettings;
use crate::cpr::Cpr;
use crate::db::models::notification::{self, DateRow, LetterRow, NewLetter, TYPE_18AAR};
use crate::db::models::{person, stored, DateStatus, LetterStatus, Service};
use crate::db::Db;
use crate::engine::{CursorChange, Job, JobError, Slice, Step};
use crate::web::jobs::JobFactory;

use super::NOTIFICATION;

/// The notification date of a citizen born on `birth`: the day they turn `years`, less
/// `offset_days`. Someone born 29 February turns `years` on 28 February in a non-leap year.
pub fn notification_date(birth: NaiveDate, years: u32, offset_days: u32) -> NaiveDate {
    // Calendar months clamp to the month's last day: 29 Feb + 18 years = 28 Feb in a non-leap year.
    let birthday = birth
        .checked_add_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(NaiveDate::MAX);
    birthday
        .checked_sub_days(Days::new(u64::from(offset_days)))
        .unwrap_or(NaiveDate::MIN)
}

/// Every birth date whose notification date is `date` (the exact inverse of
/// [`notification_date`]), oldest first: usually one; two when the birthday `date + offset`
/// is 28 February of a non-leap year and the birth year is a leap year (28 and 29 February);
/// none when that birthday is 29 February and the birth year is not a leap year.
pub fn birth_dates_for(date: NaiveDate, years: u32, offset_days: u32) -> Vec<NaiveDate> {
    let Some(birthday) = date.checked_add_days(Days::new(u64::from(offset_days))) else {
        return Vec::new();
    };
    let mut candidates = Vec::with_capacity(2);
    if let Some(plain) = birthday.checked_sub_months(Months::new(years.saturating_mul(12))) {
        candidates.push(plain);
    }
    if birthday.month() == 2 && birthday.day() == 28 {
        let birth_year = i64::from(birthday.year()) - i64::from(years);
        if let Some(leap_day) = i32::try_from(birth_year)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, 2, 29))
        {
            candidates.push(leap_day);
        }
    }
    candidates.retain(|b| notification_date(*b, years, offset_days) == date);
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

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

/// `ErrorMessage` of a letter whose stored CPR is not 10 digits (never sent).
const UNUSABLE_CPR: &str = "Rækken har ikke et gyldigt CPR-nummer (10 cifre), så brevet blev ikke sendt";

/// Builds the notification job for one slice.
pub struct NotificationFactory;

impl JobFactory for NotificationFactory {
    type Job = NotificationJob;
    const NAME: &'static str = NOTIFICATION;

    fn create(state: &AppState) -> Result<NotificationJob, String> {
        let settings = &state.settings.notification;
        let today = state.clock.today();
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
            in_flight: state.settings.digital_post.max_per_route.max(1),
            client: state.digital_post.clone(),
            stamdata: state.db.stamdata().clone(),
            dates_completed: 0,
            sent: 0,
            rejected: 0,
            held: None,
        })
    }
}

/// One slice of OrganDonorNotification.
pub struct NotificationJob {
    settings: NotificationSettings,
    start: NaiveDate,
    today: NaiveDate,
    in_flight: usize,
    client: DigitalPostClient,
    stamdata: Db,
    dates_completed: i64,
    sent: i64,
    rejected: i64,
    /// Set when the current date waits for an operator: the date and what holds it.
    held: Option<String>,
}

/// What became of one letter of a batch.
enum Fate {
    Accepted,
    Rejected(String),
    /// Never sent: the row itself is unusable (an operator edited its CPR); Error, no ErrorEvent.
    Unusable(String),
    /// Not handled by the adapter (unavailable, or not tried once it was): back to Pending.
    NotHandled(Option<String>),
}

impl NotificationJob {
    /// Extracts date `date`: the date row, one Pending letter per recipient who has never had
    /// one, then the date InProgress, in one transaction. Also completes an extraction an
    /// operator restarted by setting the date back to Pending.
    async fn extract(&mut self, slice: &mut Slice, date: NaiveDate) -> Result<(), JobError> {
        let (years, offset) = (self.settings.legal_age_years, self.settings.offset_days);
        let births = birth_dates_for(date, years, offset);
        // Read from the stamdata datasource (it may be another database): outside the commit.
        let found = self
            .stamdata
            .run(move |conn| Ok::<_, JobError>(person::active_born_on(conn, &births)?))
            .await?;
        let total = found.len();
        let cprs: Vec<String> = found
            .into_iter()
            .map(|c| c.trim().to_string())
            .filter(|c| Cpr::parse(c).is_ok())
            .collect();
        if cprs.len() < total {
            log::warn!(
                "{NOTIFICATION}: {} rows of v2_person_simplified born for {date} have a CPR that is not 10 digits and were skipped",
                total - cprs.len()
            );
        }
        let templates = self.settings.templates.clone();
        let now = stored(slice.clock().now());
        let (inserted, already) = slice
            .commit(CursorChange::Keep, move |conn| {
                let row = notification::date_row_or_insert(conn, date, now)?;
                let had = notification::cprs_with_letter(conn, &cprs, TYPE_18AAR)?;
                let todo: Vec<String> = cprs.into_iter().filter(|c| !had.contains(c)).collect();
                let decided = notification::cprs_with_active_registration(conn, &todo, now)?;
                let letters: Vec<NewLetter> = todo
                    .into_iter()
                    .map(|cpr| {
                        let (digital, physical) = if decided.contains(&cpr) {
                            (&templates.digital_decided, &templates.physical_decided)
                        } else {
                            (&templates.digital_undecided, &templates.physical_undecided)
                        };
                        NewLetter {
                            notification_date_id: row.id,
                            cpr,
                            notification_type: TYPE_18AAR.to_string(),
                            status: LetterStatus::Pending.as_str().to_string(),
                            message_id: uuid::Uuid::new_v4().to_string(),
                            template_digital: digital.clone(),
                            template_physical: physical.clone(),
                            created: now,
                            modified: now,
                        }
                    })
                    .collect();
                let inserted = notification::insert_letters(conn, &letters)?;
                notification::set_date_status(conn, row.id, DateStatus::InProgress, now)?;
                Ok((inserted, had.len()))
            })
            .await?;
        log::info!(
            "{NOTIFICATION}: date {date} extracted: {inserted} letters to send, {already} recipients already had their letter"
        );
        Ok(())
    }

    /// Sends the next batch of date `date`, or completes it when nothing is left to send.
    async fn send_or_complete(&mut self, slice: &mut Slice, date: &DateRow) -> Result<Step, JobError> {
        let (date_id, day) = (date.id, date.latest_date);
        let limit = self.settings.send_limit;
        let now = stored(slice.clock().now());
        let batch = slice
            .commit(CursorChange::Keep, move |conn| {
                Ok(notification::claim(conn, date_id, limit, now)?)
            })
            .await?;
        if batch.is_empty() {
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
        self.send_batch(slice, batch).await?;
        Ok(Step::Continue)
    }

    /// Sends `batch` concurrently and records every outcome in one commit.
    async fn send_batch(&mut self, slice: &mut Slice, batch: Vec<LetterRow>) -> Result<(), JobError> {
        let resent = batch
            .iter()
            .filter(|l| l.status == LetterStatus::InProgress.as_str())
            .count();
        if resent > 0 {
            log::info!(
                "{NOTIFICATION}: {resent} letters left InProgress by an earlier slice are sent again with their MessageId"
            );
        }
        let client = self.client.clone();
        let down = AtomicBool::new(false);
        let fates: Vec<(i64, String, Fate)> = futures_util::stream::iter(batch.iter())
            .map(|row| {
                let (client, down) = (&client, &down);
                async move { (row.id, row.message_id.clone(), send_one(client, down, row).await) }
            })
            .buffer_unordered(self.in_flight)
            .collect()
            .await;
        let at = stored(slice.clock().now());
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        let mut unusable = Vec::new();
        let mut not_handled = Vec::new();
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
        // The failures happened whatever became of the commit: record them either way.
        for (_, message_id, reason) in &rejected {
            let message = format!("Digital Post Adapter afviste brevet med MessageId {message_id}: {reason}");
            super::record_service_error(slice, Service::DigitalPost, &message).await?;
        }
        if let Some(reason) = &unavailable {
            super::record_service_error(slice, Service::DigitalPost, reason).await?;
        }
        committed?;
        self.sent += i64::try_from(accepted.len()).unwrap_or(i64::MAX);
        self.rejected += i64::try_from(rejected.len() + unusable.len()).unwrap_or(i64::MAX);
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
                Err(JobError::Service(reason))
            }
            None => Ok(()),
        }
    }
}

/// Sends one letter unless the adapter was already found unavailable in this batch.
async fn send_one(client: &DigitalPostClient, down: &AtomicBool, row: &LetterRow) -> Fate {
    if down.load(Ordering::Relaxed) {
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

impl Job for NotificationJob {
    fn name(&self) -> &'static str {
        NOTIFICATION
    }

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn is_leap(y: i32) -> bool {
        NaiveDate::from_ymd_opt(y, 2, 29).is_some()
    }

    #[test]
    fn known_dates() {
        assert_eq!(notification_date(ymd(2008, 2, 29), 18, 14), ymd(2026, 2, 14));
        assert_eq!(notification_date(ymd(2008, 2, 28), 18, 14), ymd(2026, 2, 14));
        assert_eq!(notification_date(ymd(2008, 3, 1), 18, 14), ymd(2026, 2, 15));
        assert_eq!(notification_date(ymd(2008, 1, 5), 18, 14), ymd(2025, 12, 22));
        assert_eq!(notification_date(ymd(2006, 2, 28), 18, 14), ymd(2024, 2, 14));
        assert_eq!(notification_date(ymd(2006, 3, 1), 18, 14), ymd(2024, 2, 16));
        assert_eq!(notification_date(ymd(2008, 2, 29), 20, 0), ymd(2028, 2, 29));
        assert_eq!(
            birth_dates_for(ymd(2026, 2, 14), 18, 14),
            vec![ymd(2008, 2, 28), ymd(2008, 2, 29)]
        );
        assert_eq!(birth_dates_for(ymd(2026, 2, 15), 18, 14), vec![ymd(2008, 3, 1)]);
        assert_eq!(birth_dates_for(ymd(2024, 2, 15), 18, 14), Vec::<NaiveDate>::new());
    }

    /// Every birth date of a leap cycle (and more) against the notification dates it covers.
    fn check_cycle(years: u32, offset: u32) {
        let (first, last) = (ymd(2004, 1, 1), ymd(2012, 12, 31));
        let mut by_date: BTreeMap<NaiveDate, Vec<NaiveDate>> = BTreeMap::new();
        let mut birth = first;
        while birth <= last {
            let d = notification_date(birth, years, offset);
            let back = birth_dates_for(d, years, offset);
            assert!(back.contains(&birth), "{birth} -> {d} -> {back:?}");
            for b in &back {
                assert_eq!(notification_date(*b, years, offset), d, "inverse of {d} gives {b}");
            }
            by_date.entry(d).or_default().push(birth);
            birth = birth.succ_opt().unwrap();
        }
        let (lo, hi) = (
            notification_date(first, years, offset),
            notification_date(last, years, offset),
        );
        let mut uncovered = Vec::new();
        let mut d = lo;
        while d <= hi {
            let inverse = birth_dates_for(d, years, offset);
            // The inverse is exact: the same birth dates as the forward map found.
            assert_eq!(&inverse, by_date.get(&d).unwrap_or(&Vec::new()), "{d}");
            assert!(inverse.len() <= 2, "{d}: {inverse:?}");
            if inverse.is_empty() {
                uncovered.push(d);
            }
            d = d.succ_opt().unwrap();
        }
        // Dates with no birth date are exactly those whose birthday is 29 February of a leap
        // year while the birth year (that many years earlier) is not a leap year: nobody is born
        // on a day that does not exist. Every other date has at least one birth date.
        let expected: Vec<NaiveDate> = (lo.year()..=hi.year())
            .filter(|y| is_leap(*y) && !is_leap(y - years as i32))
            .map(|y| ymd(y, 2, 29) - chrono::Duration::days(i64::from(offset)))
            .filter(|x| (lo..=hi).contains(x))
            .collect();
        assert_eq!(uncovered, expected, "years {years}, offset {offset}");
        let total: usize = by_date.values().map(Vec::len).sum();
        assert_eq!(
            total as i64,
            (last - first).num_days() + 1,
            "each birth date exactly once"
        );
    }

    #[test]
    fn every_birth_date_of_a_leap_cycle_has_exactly_one_notification_date_and_back() {
        check_cycle(18, 14);
        check_cycle(18, 0);
        check_cycle(18, 400);
    }

    #[test]
    fn when_the_age_is_a_multiple_of_four_no_date_is_skipped() {
        for years in [16, 20] {
            check_cycle(years, 14);
            let (lo, hi) = (ymd(2020, 1, 1), ymd(2032, 12, 31));
            let mut d = lo;
            while d <= hi {
                assert!(!birth_dates_for(d, years, 14).is_empty(), "{d}");
                d = d.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn with_18_years_only_the_leap_day_birthdays_have_no_one() {
        let expected = vec![ymd(2024, 2, 15), ymd(2028, 2, 15)];
        let mut uncovered = Vec::new();
        let mut d = notification_date(ymd(2004, 1, 1), 18, 14);
        while d <= notification_date(ymd(2012, 12, 31), 18, 14) {
            if birth_dates_for(d, 18, 14).is_empty() {
                uncovered.push(d);
            }
            d = d.succ_opt().unwrap();
        }
        assert_eq!(uncovered, expected);
    }
}
