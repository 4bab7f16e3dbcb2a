//! The three jobs of the service, each a sequence of stack operations on the engine.

pub mod cleanup;
pub mod deceased;
pub mod emigrated;
pub mod notification;

use crate::db::models::{error_event, Service};
use crate::db::DbError;
use crate::engine::{JobError, Slice};

/// Job name of the deceased cleanup.
pub const DECEASED: &str = "OrganDonorDeceasedCleanup";
/// Job name of the emigrated cleanup.
pub const EMIGRATED: &str = "OrganDonorEmigratedCleanup";
/// How long `ErrorEvent` rows are kept; the alarm windows are far shorter.
pub const ERROR_EVENT_RETENTION_DAYS: i64 = 30;

/// Job name of the 18-year notification.
pub const NOTIFICATION: &str = "OrganDonorNotification";

/// Records a failure of an external service as an `ErrorEvent` (shared by all nodes) and logs it.
///
/// Written outside the slice's fenced transaction: the failure happened whether or not this
/// slice still holds its lease.
pub async fn record_service_error(slice: &Slice, service: Service, message: &str) -> Result<(), JobError> {
    log::error!("{service} failed: {message}");
    crate::metrics::external_error(service.as_str());
    let at = slice.clock().now();
    let message = message.to_string();
    slice
        .db()
        .run(move |conn| {
            error_event::record(conn, service, at, &message)?;
            error_event::prune(conn, at - chrono::Duration::days(ERROR_EVENT_RETENTION_DAYS))?;
            Ok::<_, DbError>(())
        })
        .await?;
    Ok(())
}
