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
use crate::engine::{CursorChange, Job, JobError, Slice, Step};
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
    checked: i64,
    acted: i64,
    rows: i64,
}

impl<R: CleanupRule> JobFactory for CleanupJob<R> {
    fn create(deps: &JobDeps) -> Result<Self, String> {
        Ok(CleanupJob {
            rule: R::for_slice(deps),
            settings: R::settings(&deps.settings).clone(),
            in_flight: deps.settings.person_information.max_per_route.max(1),
            client: deps.person_information.clone(),
            metrics: deps.metrics.clone(),
            checked: 0,
            acted: 0,
            rows: 0,
        })
    }
}

impl<R> CleanupJob<R> {
    /// Citizens acted on in this slice (removed or closed).
    pub fn acted(&self) -> i64 {
        self.acted
    }
}

/// Asks PersonInformation for `cprs`, `per_request` per call, at most `in_flight` calls at once.
pub async fn fetch_statuses(
    client: &PersonInformationClient,
    cprs: &[Cpr],
    per_request: usize,
    in_flight: usize,
) -> Result<HashMap<Cpr, PersonStatus>, PersonInfoError> {
    let answers: Vec<Vec<PersonStatus>> = futures_util::stream::iter(cprs.chunks(per_request.max(1)))
        .map(|chunk| client.statuses(chunk))
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
        let statuses = match fetch_statuses(
            &self.client,
            &cprs,
            self.settings.personinformation_batch_size,
            self.in_flight,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
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
        for cpr in &cprs {
            match statuses.get(cpr) {
                None => audit::citizen(Event::CprDoesNotExist, cpr, ""),
                Some(p) if !p.status.is_active() => {
                    audit::citizen(Event::CprInactive, cpr, &format!("status={}", p.status.code()))
                }
                Some(_) => {}
            }
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

    fn figures(&self) -> String {
        format!("{} CPR checked, {} {}", self.checked, self.acted, R::ACTED)
    }
}
