//! The walk shared by both cleanup jobs: keyset batches of CPR numbers, their status from
//! PersonInformation (several requests in flight), and one transaction per batch that acts on
//! the citizens concerned and moves the resume point past the batch.

pub mod pipeline;
pub mod preview;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use super::{JobDeps, JobFactory};
use crate::audit::{self, Event};
use crate::clients::person_information::PersonInformationClient;
use crate::config::CleanupSettings;
use crate::cpr::Cpr;
use crate::db::models::{stored, Service};
use crate::db::StoredInstant;
use crate::engine::{CursorChange, Job, JobError, Slice, Step};
use crate::metrics::Metrics;
use pipeline::{Answered, FetchError, Pipeline, Sizes};
pub use rules::{CleanupRule, Deceased, Emigrated};

/// OrganDonorDeceasedCleanup: removes all data of citizens dead longer than `deletion.save.deceased`.
pub type DeceasedCleanup = CleanupJob<Deceased>;
/// OrganDonorEmigratedCleanup: closes (`ValidTo` = run time) the active registrations of emigrated citizens.
pub type EmigratedCleanup = CleanupJob<Emigrated>;

/// One slice of a cleanup job applying rule `R`.
pub struct CleanupJob<R> {
    rule: R,
    settings: CleanupSettings,
    in_flight: usize,
    client: PersonInformationClient,
    metrics: Arc<Metrics>,
    operation_timeout: Duration,
    /// The walk of this slice, started at its first operation.
    pipeline: Option<Pipeline>,
    /// The answered values past the last deletion batch, first in the next one.
    carry: Option<Answered>,
    checked: i64,
    acted: i64,
    rows: i64,
    /// Dead (90) without a status date: kept, and said so.
    dead_without_date: i64,
    not_existing: i64,
    inactive: i64,
}

impl<R: CleanupRule> JobFactory for CleanupJob<R> {
    fn create(deps: &JobDeps) -> Result<Self, String> {
        let settings = R::settings(&deps.settings).clone();
        let pi = &deps.settings.person_information;
        let in_flight = pi.max_per_route.max(1);
        // One operation asks batch / per-request requests, in_flight at a time, each within the timeout.
        let requests = settings
            .batch_size
            .div_ceil(settings.personinformation_batch_size.max(1));
        let rounds = u32::try_from(requests.div_ceil(in_flight)).unwrap_or(u32::MAX);
        Ok(CleanupJob {
            rule: R::for_slice(deps),
            settings,
            in_flight,
            client: deps.person_information.clone(),
            metrics: deps.metrics.clone(),
            operation_timeout: pi.connect_timeout.saturating_mul(rounds.max(1)),
            pipeline: None,
            carry: None,
            checked: 0,
            acted: 0,
            rows: 0,
            dead_without_date: 0,
            not_existing: 0,
            inactive: 0,
        })
    }
}

impl<R> CleanupJob<R> {
    /// Citizens acted on in this slice (removed or closed).
    pub fn acted(&self) -> i64 {
        self.acted
    }
}

impl<R: CleanupRule> CleanupJob<R> {
    /// Acts on the citizens of `batch` and moves the resume point past it, in one fenced
    /// transaction (`end`: the pass is complete, the next slice starts a new one); then the
    /// audit lines, for what really happened.
    async fn commit(
        &mut self,
        slice: &mut Slice,
        batch: Vec<Answered>,
        end: bool,
        run_time: StoredInstant,
    ) -> Result<(), JobError> {
        let cursor = match (end, batch.last().and_then(|a| a.raw.last())) {
            (true, _) => CursorChange::PassComplete,
            (false, Some(last)) => CursorChange::Set(last.clone()),
            (false, None) => return Ok(()),
        };
        let rule = &self.rule;
        let targets: Vec<&Cpr> = batch
            .iter()
            .flat_map(|a| {
                a.cprs
                    .iter()
                    .filter(|c| a.statuses.get(*c).is_some_and(|p| rule.applies_to(p)))
            })
            .collect();
        let keys: Vec<String> = targets.iter().map(|c| c.expose().to_string()).collect();
        let rows = slice
            .commit(cursor, move |conn| Ok(R::act(conn, &keys, run_time)?))
            .await?;
        for cpr in &targets {
            audit::citizen(R::EVENT, cpr, "");
        }
        let raw: usize = batch.iter().map(|a| a.raw.len()).sum();
        let valid: usize = batch.iter().map(|a| a.cprs.len()).sum();
        if valid < raw {
            log::warn!(
                "{}: {} stored CPR values are not 10 digits and were skipped",
                R::NAME,
                raw - valid
            );
        }
        let mut undated = 0;
        for answer in &batch {
            for cpr in &answer.cprs {
                match answer.statuses.get(cpr) {
                    None => {
                        self.not_existing += 1;
                        audit::citizen(Event::CprDoesNotExist, cpr, "");
                    }
                    Some(p) if !p.status.is_active() => {
                        self.inactive += 1;
                        let date = p.status_date.map_or("none".to_string(), |d| d.to_string());
                        let mut info = format!("status={} statusDate={date}", p.status.code());
                        if self.rule.kept_without_date(p) {
                            undated += 1;
                            info.push_str(" kept: dead without a status date");
                        }
                        audit::citizen(Event::CprInactive, cpr, &info);
                    }
                    Some(_) => {}
                }
            }
        }
        if undated > 0 {
            // No CPR here: the audit lines (statusDate=none) name them.
            log::warn!(
                "{}: {undated} citizens are dead (status 90) without a status date from PersonInformation and were kept",
                R::NAME
            );
            self.dead_without_date += undated;
        }
        self.metrics
            .cpr_checked
            .with_label_values(&[R::NAME])
            .inc_by(raw as u64);
        R::count(&self.metrics, targets.len(), rows);
        self.checked += i64::try_from(raw).unwrap_or(i64::MAX);
        self.acted += i64::try_from(targets.len()).unwrap_or(i64::MAX);
        self.rows += i64::try_from(rows).unwrap_or(i64::MAX);
        Ok(())
    }
}

impl<R: CleanupRule> Job for CleanupJob<R> {
    const NAME: &'static str = R::NAME;

    fn budget(&self) -> Duration {
        self.settings.desired_duration
    }

    async fn step(&mut self, slice: &mut Slice) -> Result<Step, JobError> {
        let run_time = stored(slice.started_at());
        if self.pipeline.is_none() {
            let after = slice.cursor().unwrap_or_default().to_string();
            let per_request = self.settings.personinformation_batch_size;
            let sizes = Sizes {
                per_request,
                in_flight: self.in_flight,
                // Enough to keep the whole window busy across a commit.
                read_ahead: self.settings.batch_size.max(per_request * self.in_flight),
            };
            let (db, client) = (slice.db().clone(), self.client.clone());
            self.pipeline = Some(Pipeline::start::<R>(
                db,
                client,
                (after, run_time),
                sizes,
                slice.lease_lost(),
            ));
        }
        // The answers of one deletion batch: a contiguous prefix of the walk from the resume point.
        let mut batch: Vec<Answered> = Vec::new();
        let mut covered = 0;
        let mut end = false;
        while covered < self.settings.batch_size {
            let next = match (self.carry.take(), self.pipeline.as_mut()) {
                (Some(carried), _) => Some(Ok(carried)),
                (None, Some(p)) => p.next().await,
                (None, None) => None,
            };
            match next {
                Some(Ok(mut answer)) => {
                    // A deletion batch is exactly `batch_size` values: the rest waits for the next.
                    let room = self.settings.batch_size - covered;
                    if answer.raw.len() > room {
                        self.carry = Some(answer.split_off(room));
                    }
                    covered += answer.raw.len();
                    batch.push(answer);
                }
                None => {
                    end = true;
                    break;
                }
                Some(Err(FetchError::LeaseLost)) => return Err(JobError::LeaseLost),
                Some(Err(FetchError::Db(e))) => return Err(JobError::Db(e)),
                Some(Err(FetchError::Service(e))) => {
                    // What was answered before the failure is kept; the rest is asked again.
                    if !batch.is_empty() {
                        self.commit(slice, batch, false, run_time).await?;
                    }
                    let reason = e.to_string();
                    super::record_service_error(slice, &self.metrics, Service::PersonInformation, &reason).await?;
                    return Err(JobError::Service(reason));
                }
            }
        }
        self.commit(slice, batch, end, run_time).await?;
        Ok(if end { Step::Finished } else { Step::Continue })
    }

    fn processed(&self) -> i64 {
        self.checked
    }

    fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    fn figures(&self) -> String {
        let mut line = format!("{} CPR checked, {} {}", self.checked, self.acted, R::ACTED);
        if self.dead_without_date > 0 {
            line.push_str(&format!(", {} dead without a status date kept", self.dead_without_date));
        }
        line
    }

    fn figures_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut figures = serde_json::Map::new();
        figures.insert("checked".into(), self.checked.into());
        figures.insert(R::ACTED.into(), self.acted.into());
        figures.insert("rowsChanged".into(), self.rows.into());
        figures.insert("notExisting".into(), self.not_existing.into());
        figures.insert("inactive".into(), self.inactive.into());
        figures.insert("deadWithoutStatusDate".into(), self.dead_without_date.into());
        figures
    }
}
