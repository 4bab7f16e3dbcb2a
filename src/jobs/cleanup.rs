//! The walk shared by both cleanup jobs: keyset batches of CPR numbers, their status from
//! PersonInformation (several requests in flight), and one transaction per batch that acts on
//! the citizens concerned and moves the resume point past the batch.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt};

use crate::audit::{self, Event};
use crate::clients::person_information::{CprStatus, PersonInfoError, PersonInformationClient, PersonStatus};
use crate::config::CleanupSettings;
use crate::cpr::Cpr;
use crate::db::models::{registration, stored, Service};
use crate::engine::{CursorChange, Job, JobError, Slice, Step};

/// What a cleanup pass does to the citizens it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Remove all data of citizens dead (90) on or before this date.
    RemoveDeadOnOrBefore(NaiveDate),
    /// Close the active registrations of emigrated (80) citizens.
    CloseEmigrated,
}

impl Rule {
    fn applies_to(self, p: &PersonStatus) -> bool {
        match self {
            Rule::RemoveDeadOnOrBefore(cutoff) => {
                p.status == CprStatus::Dead90 && p.status_date.is_some_and(|d| d <= cutoff)
            }
            Rule::CloseEmigrated => p.status == CprStatus::Emigrated80,
        }
    }
}

/// One cleanup job: the deceased or the emigrated walk.
pub struct CleanupJob {
    name: &'static str,
    rule: Rule,
    settings: CleanupSettings,
    in_flight: usize,
    client: PersonInformationClient,
    checked: i64,
    acted: i64,
    rows: i64,
}

impl CleanupJob {
    /// A job named `name` applying `rule`.
    pub fn new(
        name: &'static str,
        rule: Rule,
        settings: CleanupSettings,
        in_flight: usize,
        client: PersonInformationClient,
    ) -> CleanupJob {
        CleanupJob {
            name,
            rule,
            settings,
            in_flight: in_flight.max(1),
            client,
            checked: 0,
            acted: 0,
            rows: 0,
        }
    }

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

impl Job for CleanupJob {
    fn name(&self) -> &'static str {
        self.name
    }

    fn budget(&self) -> Duration {
        self.settings.desired_duration
    }

    async fn step(&mut self, slice: &mut Slice) -> Result<Step, JobError> {
        let after = slice.cursor().unwrap_or_default().to_string();
        let run_time = stored(slice.started_at());
        let (rule, limit) = (self.rule, self.settings.batch_size);
        let batch = slice
            .read(move |conn| {
                Ok(match rule {
                    Rule::RemoveDeadOnOrBefore(_) => registration::next_cprs_with_data(conn, &after, limit)?,
                    Rule::CloseEmigrated => {
                        registration::next_cprs_with_active_registration(conn, &after, run_time, limit)?
                    }
                })
            })
            .await?;
        let Some(last) = batch.last().cloned() else {
            slice.commit(CursorChange::PassComplete, |_| Ok(())).await?;
            return Ok(Step::Finished);
        };
        let cprs: Vec<Cpr> = batch.iter().filter_map(|raw| Cpr::parse(raw.trim()).ok()).collect();
        if cprs.len() < batch.len() {
            log::warn!(
                "{}: {} stored CPR values are not 10 digits and were skipped",
                self.name,
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
                super::record_service_error(slice, Service::PersonInformation, &reason).await?;
                return Err(JobError::Service(reason));
            }
        };
        let targets: Vec<&Cpr> = cprs
            .iter()
            .filter(|c| statuses.get(*c).is_some_and(|p| rule.applies_to(p)))
            .collect();
        let keys: Vec<String> = targets.iter().map(|c| c.expose().to_string()).collect();
        let rows = slice
            .commit(CursorChange::Set(last), move |conn| {
                Ok(match rule {
                    Rule::RemoveDeadOnOrBefore(_) => {
                        let (registrations, letters) = registration::delete_all_for(conn, &keys)?;
                        registrations + letters
                    }
                    Rule::CloseEmigrated => registration::close_active(conn, &keys, run_time)?,
                })
            })
            .await?;
        // Audit after the commit: a line is written only for what really happened.
        let event = match rule {
            Rule::RemoveDeadOnOrBefore(_) => Event::DeceasedDataRemoved,
            Rule::CloseEmigrated => Event::EmigratedRegistrationClosed,
        };
        for cpr in &targets {
            audit::citizen(event, cpr, "");
        }
        for cpr in &cprs {
            match statuses.get(cpr) {
                None => audit::citizen(Event::CprDoesNotExist, cpr, ""),
                Some(p) if is_inactive(p.status) => {
                    audit::citizen(Event::CprInactive, cpr, &format!("status={}", p.status.code()))
                }
                Some(_) => {}
            }
        }
        if let Some(m) = crate::metrics::get() {
            m.cpr_checked.with_label_values(&[self.name]).inc_by(batch.len() as u64);
            match rule {
                Rule::RemoveDeadOnOrBefore(_) => m.citizens_removed.inc_by(targets.len() as u64),
                Rule::CloseEmigrated => m.registrations_closed.inc_by(rows as u64),
            }
        }
        self.checked += i64::try_from(batch.len()).unwrap_or(i64::MAX);
        self.acted += i64::try_from(targets.len()).unwrap_or(i64::MAX);
        self.rows += i64::try_from(rows).unwrap_or(i64::MAX);
        Ok(Step::Continue)
    }

    fn processed(&self) -> i64 {
        self.checked
    }

    fn figures(&self) -> String {
        match self.rule {
            Rule::RemoveDeadOnOrBefore(_) => format!("{} CPR checked, {} deleted", self.checked, self.acted),
            Rule::CloseEmigrated => format!("{} CPR checked, {} closed", self.checked, self.acted),
        }
    }
}

/// Statuses audited as `cpr-inactive` (dead and emigrated have their own handling).
fn is_inactive(status: CprStatus) -> bool {
    matches!(
        status,
        CprStatus::Inactive20
            | CprStatus::Annulled30
            | CprStatus::Deleted50
            | CprStatus::Changed60
            | CprStatus::Missing70
    )
}

/// The last date of death whose data may be removed at `now`.
pub fn removal_cutoff(save: &crate::config::Period, now: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    save.before(now).with_timezone(&tz).date_naive()
}
