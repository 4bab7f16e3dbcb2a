//! OrganDonorDeceasedCleanup: removes all data of citizens dead longer than `deletion.save.deceased`.

use super::cleanup::{removal_cutoff, CleanupJob, Rule};
use crate::app::AppState;
use crate::web::jobs::JobFactory;

/// Builds the deceased cleanup for one slice.
pub struct DeceasedFactory;

impl JobFactory for DeceasedFactory {
    type Job = CleanupJob;
    const NAME: &'static str = super::DECEASED;

    fn create(state: &AppState) -> Result<CleanupJob, String> {
        let s = &state.settings;
        let cutoff = removal_cutoff(&s.deceased_save, state.clock.now(), state.clock.timezone());
        Ok(CleanupJob::new(
            super::DECEASED,
            Rule::RemoveDeadOnOrBefore(cutoff),
            s.deceased.clone(),
            s.person_information.max_per_route,
            state.person_information.clone(),
        ))
    }
}
