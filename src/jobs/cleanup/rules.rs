//! The two cleanup rules: which citizens a pass walks, who it acts on, and what it does to them.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryResult;

use super::super::JobDeps;
use crate::audit::Event;
use crate::clients::person_information::{CprStatus, PersonStatus};
use crate::config::{CleanupSettings, Settings};
use crate::db::models::registration;
use crate::db::DbConn;
use crate::db::StoredInstant;
use crate::metrics::Metrics;

/// What one cleanup job walks and does (SPEC §6).
pub trait CleanupRule: Send + Sync + 'static {
    /// Job name (`JobLock` / `JobState` / `JobRun`).
    const NAME: &'static str;
    /// The word for a citizen acted on, in the summary line (`deleted`, `closed`).
    const ACTED: &'static str;
    /// The audit event of a citizen acted on.
    const EVENT: Event;
    /// What the pass does to a citizen it acts on, for the preview (`remove all data`).
    const ACTION: &'static str;
    /// The job's settings.
    fn settings(settings: &Settings) -> &CleanupSettings;
    /// The rule for a slice starting now.
    fn for_slice(deps: &JobDeps) -> Self;
    /// Whether a citizen with this answer is acted on.
    fn applies_to(&self, p: &PersonStatus) -> bool;
    /// Whether a citizen is kept only because PersonInformation gave no status date.
    fn kept_without_date(&self, _p: &PersonStatus) -> bool {
        false
    }
    /// Whether a citizen is kept because they died too recently.
    fn kept_dead_recently(&self, _p: &PersonStatus) -> bool {
        false
    }
    /// The next `limit` CPR numbers of the walk after `after` (keyset, CPR order).
    fn next_cprs(conn: &mut DbConn, after: &str, run_time: StoredInstant, limit: usize) -> QueryResult<Vec<String>>;
    /// Acts on these citizens; returns the rows changed.
    fn act(conn: &mut DbConn, cprs: &[String], run_time: StoredInstant) -> QueryResult<usize>;
    /// Counts what was done in the node's metrics.
    fn count(metrics: &Metrics, citizens: usize, rows: usize);
}

/// OrganDonorDeceasedCleanup: all data of citizens dead (90) on or before the cutoff date.
#[derive(Debug, Clone, Copy)]
pub struct Deceased {
    /// The last date of death whose data may be removed.
    pub cutoff: NaiveDate,
}

impl CleanupRule for Deceased {
    const NAME: &'static str = "OrganDonorDeceasedCleanup";
    const ACTED: &'static str = "deleted";
    const EVENT: Event = Event::DeceasedDataRemoved;
    const ACTION: &'static str = "remove all data";

    fn settings(settings: &Settings) -> &CleanupSettings {
        &settings.deceased
    }

    fn for_slice(deps: &JobDeps) -> Deceased {
        Deceased {
            cutoff: removal_cutoff(&deps.settings.deceased_save, deps.clock.now(), deps.clock.timezone()),
        }
    }

    fn applies_to(&self, p: &PersonStatus) -> bool {
        p.status == CprStatus::Dead90 && p.status_date.is_some_and(|d| d <= self.cutoff)
    }

    fn kept_without_date(&self, p: &PersonStatus) -> bool {
        p.status == CprStatus::Dead90 && p.status_date.is_none()
    }

    fn kept_dead_recently(&self, p: &PersonStatus) -> bool {
        p.status == CprStatus::Dead90 && p.status_date.is_some_and(|d| d > self.cutoff)
    }

    fn next_cprs(conn: &mut DbConn, after: &str, _: StoredInstant, limit: usize) -> QueryResult<Vec<String>> {
        registration::next_cprs_with_data(conn, after, limit)
    }

    fn act(conn: &mut DbConn, cprs: &[String], _: StoredInstant) -> QueryResult<usize> {
        let (registrations, letters) = registration::delete_all_for(conn, cprs)?;
        Ok(registrations + letters)
    }

    fn count(metrics: &Metrics, citizens: usize, _rows: usize) {
        metrics.citizens_removed.inc_by(citizens as u64);
    }
}

/// OrganDonorEmigratedCleanup: the active registrations of emigrated (80) citizens are closed.
#[derive(Debug, Clone, Copy)]
pub struct Emigrated;

impl CleanupRule for Emigrated {
    const NAME: &'static str = "OrganDonorEmigratedCleanup";
    const ACTED: &'static str = "closed";
    const EVENT: Event = Event::EmigratedRegistrationClosed;
    const ACTION: &'static str = "close the active registrations";

    fn settings(settings: &Settings) -> &CleanupSettings {
        &settings.emigrated
    }

    fn for_slice(_: &JobDeps) -> Emigrated {
        Emigrated
    }

    fn applies_to(&self, p: &PersonStatus) -> bool {
        p.status == CprStatus::Emigrated80
    }

    fn next_cprs(conn: &mut DbConn, after: &str, run_time: StoredInstant, limit: usize) -> QueryResult<Vec<String>> {
        registration::next_cprs_with_active_registration(conn, after, run_time, limit)
    }

    fn act(conn: &mut DbConn, cprs: &[String], run_time: StoredInstant) -> QueryResult<usize> {
        registration::close_active(conn, cprs, run_time)
    }

    fn count(metrics: &Metrics, _citizens: usize, rows: usize) {
        metrics.registrations_closed.inc_by(rows as u64);
    }
}

/// The last date of death whose data may be removed at `now`.
pub fn removal_cutoff(save: &crate::config::Period, now: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    save.before(now).with_timezone(&tz).date_naive()
}
