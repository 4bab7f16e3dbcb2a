//! OrganDonorEmigratedCleanup: closes (`ValidTo` = run time) the active registrations of emigrated citizens.

use super::cleanup::{CleanupJob, Rule};
use crate::app::AppState;
use crate::web::jobs::JobFactory;

/// Builds the emigrated cleanup for one slice.
pub struct EmigratedFactory;

impl JobFactory for EmigratedFactory {
    type Job = CleanupJob;
    const NAME: &'static str = super::EMIGRATED;

    fn create(state: &AppState) -> Result<CleanupJob, String> {
        let s = &state.settings;
        Ok(CleanupJob::new(
            super::EMIGRATED,
            Rule::CloseEmigrated,
            s.emigrated.clone(),
            s.person_information.max_per_route,
            state.person_information.clone(),
        ))
    }
}
