//! The three jobs of the service, each a sequence of stack operations on the engine, and what
//! they need from the application ([`JobDeps`]).

pub mod cleanup;
pub mod notification;

use std::sync::Arc;

use crate::clients::digital_post::DigitalPostClient;
use crate::clients::person_information::PersonInformationClient;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::models::{error_event, Service};
use crate::db::{Datasources, Db, DbError};
use crate::engine::{Job, JobError, Slice};
use crate::metrics::Metrics;

pub use cleanup::{DeceasedCleanup, EmigratedCleanup};
pub use notification::NotificationJob;

/// Job name of the deceased cleanup (declared on the job).
pub const DECEASED: &str = <DeceasedCleanup as Job>::NAME;
/// Job name of the emigrated cleanup (declared on the job).
pub const EMIGRATED: &str = <EmigratedCleanup as Job>::NAME;
/// Job name of the 18-year notification (declared on the job).
pub const NOTIFICATION: &str = <NotificationJob as Job>::NAME;

/// How long `ErrorEvent` rows are kept; the alarm windows are far shorter.
pub const ERROR_EVENT_RETENTION_DAYS: i64 = 30;

/// What a job needs to be built for one slice: settings, clock, datasources, clients, metrics.
#[derive(Clone)]
pub struct JobDeps {
    /// Settings, parsed once.
    pub settings: Arc<Settings>,
    /// Application clock.
    pub clock: Clock,
    /// Datasources.
    pub db: Datasources,
    /// PersonInformation client (shared connection pool).
    pub person_information: PersonInformationClient,
    /// Digital Post Adapter client (shared connection pool).
    pub digital_post: DigitalPostClient,
    /// This node's metrics.
    pub metrics: Arc<Metrics>,
}

/// A job that can be built from [`JobDeps`] for one slice (what a start URL runs).
pub trait JobFactory: Job + Sized + 'static {
    /// A job ready to run, or the sentence to answer instead (e.g. the job is not configured).
    fn create(deps: &JobDeps) -> Result<Self, String>;
}

/// Records a failure of an external service as an `ErrorEvent` (shared by all nodes) and logs it.
///
/// Written outside the slice's fenced transaction: the failure happened whether or not this
/// slice still holds its lease.
pub async fn record_service_error(
    slice: &Slice,
    metrics: &Metrics,
    service: Service,
    message: &str,
) -> Result<(), JobError> {
    record_error_event(slice.db(), metrics, (service, slice.clock().now()), message).await?;
    Ok(())
}

/// Logs a failure of `service` at `at`, counts it, and stores it as an `ErrorEvent` (pruning
/// those past [`ERROR_EVENT_RETENTION_DAYS`]); two nodes failing at once may conflict on Galera:
/// retried.
pub async fn record_error_event(
    db: &Db,
    metrics: &Metrics,
    (service, at): (Service, chrono::DateTime<chrono::Utc>),
    message: &str,
) -> Result<(), DbError> {
    log::error!("{service} failed: {message}");
    metrics.external_error(service.as_str());
    let message = message.to_string();
    let keep_after = at - chrono::Duration::days(ERROR_EVENT_RETENTION_DAYS);
    db.run(move |conn| {
        let times = (at, keep_after);
        Ok::<_, DbError>(error_event::record(conn, service, times, &message)?)
    })
    .await
}
