//! The audit log (log4rs logger `audit`): the only place CPR numbers are written.

use crate::cpr::Cpr;

/// Log target routed to `logs/audit.log` by `log4rs.yaml`.
pub const TARGET: &str = "audit";

/// Audit event keys of the operator guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// CPR number absent from PersonInformation's answer.
    CprDoesNotExist,
    /// CPR number with an inactive status.
    CprInactive,
    /// A citizen's data removed by the deceased cleanup.
    DeceasedDataRemoved,
    /// A citizen's active registrations closed by the emigrated cleanup.
    EmigratedRegistrationClosed,
    /// A letter sent to the Digital Post Adapter (CPR and templates).
    DigitalPostRequest,
    /// The adapter's answer (no CPR).
    DigitalPostResponse,
}

impl Event {
    /// The key written in the audit line.
    pub fn key(self) -> &'static str {
        match self {
            Event::CprDoesNotExist => "cpr-does-not-exist",
            Event::CprInactive => "cpr-inactive",
            Event::DeceasedDataRemoved => "deceased-data-removed",
            Event::EmigratedRegistrationClosed => "emigrated-registration-closed",
            Event::DigitalPostRequest => "digital-post-request",
            Event::DigitalPostResponse => "digital-post-response",
        }
    }
}

/// Writes one audit line about a citizen.
pub fn citizen(event: Event, cpr: &Cpr, detail: &str) {
    if detail.is_empty() {
        log::info!(target: TARGET, "{} cpr={}", event.key(), cpr.expose());
    } else {
        log::info!(target: TARGET, "{} cpr={} {}", event.key(), cpr.expose(), detail);
    }
}

/// Writes one audit line without a CPR number.
pub fn plain(event: Event, detail: &str) {
    log::info!(target: TARGET, "{} {}", event.key(), detail);
}
