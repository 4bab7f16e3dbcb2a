//! OrganDonorNotification: the 18-year reminder letter through the Digital Post Adapter.

use crate::app::AppState;
use crate::engine::{Job, JobError, Slice, Step};
use crate::web::jobs::JobFactory;

/// Builds the notification job for one slice.
pub struct NotificationFactory;

/// The notification job (being written).
pub struct NotificationJob;

impl JobFactory for NotificationFactory {
    type Job = NotificationJob;
    const NAME: &'static str = super::NOTIFICATION;

    fn create(_state: &AppState) -> Result<NotificationJob, String> {
        Err(format!("{}: not available yet.", super::NOTIFICATION))
    }
}

impl Job for NotificationJob {
    fn name(&self) -> &'static str {
        super::NOTIFICATION
    }
    fn budget(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    async fn step(&mut self, _slice: &mut Slice) -> Result<Step, JobError> {
        Ok(Step::Finished)
    }
    fn processed(&self) -> i64 {
        0
    }
    fn figures(&self) -> String {
        String::new()
    }
}
