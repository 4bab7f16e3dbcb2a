//! A dry run of a cleanup pass (issue 18): the same keyset walk, the same PersonInformation
//! requests (batching, concurrency, error handling), and a report of what the real pass would
//! do, without doing it. It holds the job's lease while it walks (so it never runs beside the
//! real job), records a `Preview` run in `JobRun`, and writes each citizen's outcome to the audit
//! log only (Kontekst `preview`): no CPR number in the report or the application log.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;

use super::pipeline::{FetchError, Pipeline, Sizes};
use super::rules::CleanupRule;
use crate::audit::{self, Event};
use crate::clients::person_information::PersonStatus;
use crate::db::models::{stored, Outcome, Service};
use crate::engine::{self, EngineCtx, Lease, Recorded, StopSignal};
use crate::jobs::JobDeps;

/// What a real pass would do, counted.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// CPR numbers walked and answered.
    pub checked: u64,
    /// Citizens the pass would act on (remove all data / close the active registrations).
    pub would_act: u64,
    /// Active status (01, 03, 05, 07): kept.
    pub kept_active: u64,
    /// Dead (90) too recently: kept (status can revert).
    pub kept_dead_recently: u64,
    /// Dead (90) without a status date: kept, the 12 months cannot be counted.
    pub kept_dead_without_status_date: u64,
    /// Absent from PersonInformation's answer: the CPR does not exist; kept.
    pub unknown_cpr: u64,
    /// Other statuses that are not active, by code: kept.
    pub inactive_by_status: BTreeMap<String, u64>,
    /// Stored values that are not 10 digits: skipped, as the job skips them.
    pub not_a_cpr: u64,
}

/// The preview's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewReport {
    /// The job previewed.
    pub job: &'static str,
    /// What the real pass does to the citizens it acts on (`remove all data`, `close active registrations`).
    pub action: &'static str,
    /// `Finished` (the whole walk), `Limit` (stopped at `--limit`), `Failed`, or `Skipped` (the job ran elsewhere).
    pub outcome: &'static str,
    /// The counts.
    pub counts: Counts,
    /// Oldest status date among the citizens it would act on.
    pub oldest_status_date: Option<NaiveDate>,
    /// Newest status date among the citizens it would act on.
    pub newest_status_date: Option<NaiveDate>,
    /// Seconds the walk took.
    pub seconds: f64,
    /// Why it failed (Danish, no CPR), if it did.
    pub error: Option<String>,
}

impl PreviewReport {
    fn new(job: &'static str, action: &'static str) -> PreviewReport {
        PreviewReport {
            job,
            action,
            outcome: "Finished",
            counts: Counts::default(),
            oldest_status_date: None,
            newest_status_date: None,
            seconds: 0.0,
            error: None,
        }
    }

    /// Counts one answered citizen and writes its audit line.
    fn count<R: CleanupRule>(&mut self, rule: &R, cpr: &crate::cpr::Cpr, answer: Option<&PersonStatus>) {
        let c = &mut self.counts;
        c.checked += 1;
        let outcome = match answer {
            None => {
                c.unknown_cpr += 1;
                "unknown CPR: kept".to_string()
            }
            Some(p) if rule.applies_to(p) => {
                c.would_act += 1;
                if let Some(d) = p.status_date {
                    self.oldest_status_date = Some(self.oldest_status_date.map_or(d, |o| o.min(d)));
                    self.newest_status_date = Some(self.newest_status_date.map_or(d, |n| n.max(d)));
                }
                format!("would {}", self.action)
            }
            Some(p) if p.status.is_active() => {
                c.kept_active += 1;
                "active: kept".to_string()
            }
            Some(p) if rule.kept_without_date(p) => {
                c.kept_dead_without_status_date += 1;
                "dead without a status date: kept".to_string()
            }
            Some(p) if rule.kept_dead_recently(p) => {
                c.kept_dead_recently += 1;
                "dead too recently: kept".to_string()
            }
            Some(p) => {
                *c.inactive_by_status.entry(p.status.code().to_string()).or_default() += 1;
                "inactive: kept".to_string()
            }
        };
        let status = answer.map_or(String::new(), |p| {
            let date = p.status_date.map_or("none".to_string(), |d| d.to_string());
            format!(" status={} statusDate={date}", p.status.code())
        });
        audit::citizen(
            Event::PreviewOutcome,
            cpr,
            &format!("job={}{status} {outcome}", R::NAME),
        );
    }
}

/// The `...kører allerede...` answer when the real job (or another preview) holds the lease.
pub const SKIPPED: &str = "Skipped";

/// Walks `R`'s pass up to `limit` CPR numbers (None: all) and reports; holds the lease meanwhile.
pub async fn run<R: CleanupRule>(deps: &JobDeps, ctx: &EngineCtx, limit: Option<u64>) -> PreviewReport {
    let rule = R::for_slice(deps);
    let mut report = PreviewReport::new(R::NAME, R::ACTION);
    let settings = R::settings(&deps.settings).clone();
    let started_at = deps.clock.now();
    let started = Instant::now();
    let length = settings.desired_duration + ctx.lease_margin;
    let lease = match Lease::acquire(&ctx.db, R::NAME, &ctx.node, length).await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            report.outcome = SKIPPED;
            report.error = Some(engine::already_running_line(R::NAME));
            return report;
        }
        Err(e) => {
            report.outcome = "Failed";
            report.error = Some(e.to_string());
            return report;
        }
    };
    log::info!("{}: preview started (token {})", R::NAME, lease.token);
    let per_request = settings.personinformation_batch_size;
    let in_flight = deps.settings.person_information.max_per_route.max(1);
    let sizes = Sizes {
        per_request,
        in_flight,
        read_ahead: settings.batch_size.max(per_request * in_flight),
    };
    let lost = StopSignal::new();
    let walk = (String::new(), stored(started_at));
    let mut pipeline = Pipeline::start::<R>(
        ctx.db.clone(),
        deps.person_information.clone(),
        walk,
        sizes,
        lost.clone(),
    );
    let mut since_extension = 0usize;
    while let Some(next) = pipeline.next().await {
        match next {
            Ok(answer) => {
                report.counts.not_a_cpr += (answer.raw.len() - answer.cprs.len()) as u64;
                for cpr in &answer.cprs {
                    report.count(&rule, cpr, answer.statuses.get(cpr));
                }
                since_extension += answer.raw.len();
                // The walk makes progress: keep the lease as the job's commits would.
                if since_extension >= settings.batch_size {
                    since_extension = 0;
                    if !matches!(lease.heartbeat(&ctx.db).await, Ok(true)) {
                        lost.raise();
                        report.outcome = "Failed";
                        report.error = Some(crate::engine::JobError::LeaseLost.to_string());
                        break;
                    }
                }
                if limit.is_some_and(|l| report.counts.checked >= l) {
                    report.outcome = "Limit";
                    break;
                }
            }
            Err(e) => {
                let reason = match e {
                    FetchError::Service(e) => {
                        let reason = e.to_string();
                        // The same error handling as the job: PersonInformation's failure is recorded.
                        let failure = (Service::PersonInformation, deps.clock.now());
                        if let Err(e) = crate::jobs::record_error_event(&ctx.db, &deps.metrics, failure, &reason).await
                        {
                            log::error!("the ErrorEvent could not be recorded: {e}");
                        }
                        reason
                    }
                    FetchError::Db(e) => e.to_string(),
                    FetchError::LeaseLost => crate::engine::JobError::LeaseLost.to_string(),
                };
                report.outcome = "Failed";
                report.error = Some(reason);
                break;
            }
        }
    }
    drop(pipeline);
    if let Err(e) = lease.release(&ctx.db).await {
        log::warn!(
            "{}: releasing the preview's lease failed ({e}); it expires by itself",
            R::NAME
        );
    }
    report.seconds = started.elapsed().as_secs_f64();
    let c = &report.counts;
    log::info!(
        "{}: preview {} after {:.1} s: {} CPR checked, {} would be acted on ({}), {} kept active, {} dead too recently, {} dead without a status date, {} unknown",
        R::NAME,
        report.outcome,
        report.seconds,
        c.checked,
        c.would_act,
        R::ACTION,
        c.kept_active,
        c.kept_dead_recently,
        c.kept_dead_without_status_date,
        c.unknown_cpr
    );
    let figures = serde_json::to_value(&report.counts)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let run = Recorded {
        outcome: Outcome::Preview,
        processed: i64::try_from(report.counts.checked).unwrap_or(i64::MAX),
        error: report.error.clone(),
        figures,
    };
    engine::record(ctx, R::NAME, (started_at, deps.clock.now()), run).await;
    report
}
