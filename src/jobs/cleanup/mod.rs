//! The walk shared by both cleanup jobs: keyset batches of CPR numbers, their status from
//! PersonInformation (several requests in flight), and one transaction per batch that acts on
//! the citizens concerned and moves the resume point past the batch.

pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};

use super::{JobDeps, JobFactory};
use crate::audit::{self, Event};
use crate::clients::person_information::{PersonInfoError, PersonInformationClient, PersonStatus};
use crate::config::CleanupSettings;
use crate::cpr::Cpr;
use crate::db::models::{stored, Service};
use crate::engine::{CursorChange, Job, JobError, Slice, Step, StopSignal};
use crate::metrics::Metrics;
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

/// Why the statuses of a batch could not be had.
#[derive(Debug)]
pub enum FetchError {
    /// PersonInformation failed.
    Service(PersonInfoError),
    /// The slice lost its lease: no further request was sent.
    LeaseLost,
}

/// Asks PersonInformation for `cprs`, `per_request` per call, at most `in_flight` calls at once;
/// no call starts once `lost` is raised.
pub async fn fetch_statuses(
    client: &PersonInformationClient,
    cprs: &[Cpr],
    (per_request, in_flight): (usize, usize),
    lost: &StopSignal,
) -> Result<HashMap<Cpr, PersonStatus>, FetchError> {
    let answers: Vec<Vec<PersonStatus>> = futures_util::stream::iter(cprs.chunks(per_request.max(1)))
        .map(|chunk| async move {
            if lost.is_raised() {
                return Err(FetchError::LeaseLost);
            }
            client.statuses(chunk).await.map_err(FetchError::Service)
        })
        .buffer_unordered(in_flight.max(1))
        .try_collect()
        .await?;
    Ok(answers.into_iter().flatten().map(|p| (p.cpr.clone(), p)).collect())
}

impl<R: CleanupRule> Job for CleanupJob<R> {
    const NAME: &'static str = R::NAME;

    fn budget(&self) -> Duration {
        self.settings.desired_duration
    }

    async fn step(&mut self, slice: &mut Slice) -> Result<Step, JobError> {
        let after = slice.cursor().unwrap_or_default().to_string();
        let run_time = stored(slice.started_at());
        let limit = self.settings.batch_size;
        let batch = slice
            .read(move |conn| Ok(R::next_cprs(conn, &after, run_time, limit)?))
            .await?;
        let Some(last) = batch.last().cloned() else {
            slice.commit(CursorChange::PassComplete, |_| Ok(())).await?;
            return Ok(Step::Finished);
        };
        let cprs: Vec<Cpr> = batch.iter().filter_map(|raw| Cpr::parse(raw.trim()).ok()).collect();
        if cprs.len() < batch.len() {
            log::warn!(
                "{}: {} stored CPR values are not 10 digits and were skipped",
                R::NAME,
                batch.len() - cprs.len()
            );
        }
        let sizes = (self.settings.personinformation_batch_size, self.in_flight);
        let statuses = match fetch_statuses(&self.client, &cprs, sizes, &slice.lease_lost()).await {
            Ok(s) => s,
            Err(FetchError::LeaseLost) => return Err(JobError::LeaseLost),
            Err(FetchError::Service(e)) => {
                let reason = e.to_string();
                super::record_service_error(slice, &self.metrics, Service::PersonInformation, &reason).await?;
                return Err(JobError::Service(reason));
            }
        };
        let rule = &self.rule;
        let targets: Vec<&Cpr> = cprs
            .iter()
            .filter(|c| statuses.get(*c).is_some_and(|p| rule.applies_to(p)))
            .collect();
        let keys: Vec<String> = targets.iter().map(|c| c.expose().to_string()).collect();
        let rows = slice
            .commit(CursorChange::Set(last), move |conn| Ok(R::act(conn, &keys, run_time)?))
            .await?;
        // Audit after the commit: a line is written only for what really happened.
        for cpr in &targets {
            audit::citizen(R::EVENT, cpr, "");
        }
        let mut undated = 0;
        for cpr in &cprs {
            match statuses.get(cpr) {
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
            .inc_by(batch.len() as u64);
        R::count(&self.metrics, targets.len(), rows);
        self.checked += i64::try_from(batch.len()).unwrap_or(i64::MAX);
        self.acted += i64::try_from(targets.len()).unwrap_or(i64::MAX);
        self.rows += i64::try_from(rows).unwrap_or(i64::MAX);
        Ok(Step::Continue)
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
