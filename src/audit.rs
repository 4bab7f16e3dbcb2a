//! The audit log (log4rs logger `audit`): the only place CPR numbers are written.
//!
//! One JSON object per line with the five fields of the operator guide's audit table (guide
//! 002): Komponent, Kontekst, Type, Nøgle, Information; plus the time and the request id, so a
//! log shipper can read it. The appender writes the message as is (`log4rs.yaml`: `{m}{n}`).

use chrono::{SecondsFormat, Utc};
use serde_json::json;

use crate::cpr::Cpr;
use crate::logging::request_id;

/// Log target routed to `logs/audit.log` by `log4rs.yaml`.
pub const TARGET: &str = "audit";
/// Komponent of every line.
pub const KOMPONENT: &str = "ODR";
/// Type of a line that holds a CPR number.
pub const SENSITIVE: &str = "Følsomme";
/// Type of a line without a CPR number.
pub const NOT_PERSONAL: &str = "Ikke Personlig";

/// Audit event keys (Nøgle) of the operator guide, and ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// CPR number absent from PersonInformation's answer.
    CprDoesNotExist,
    /// CPR number whose status is not active (01, 03, 05, 07).
    CprInactive,
    /// A citizen's data removed by the deceased cleanup.
    DeceasedDataRemoved,
    /// A citizen's active registrations closed by the emigrated cleanup.
    EmigratedRegistrationClosed,
    /// A letter sent to the Digital Post Adapter (CPR and templates).
    DigitalPostRequest,
    /// The adapter's answer (no CPR).
    DigitalPostResponse,
    /// What a real cleanup pass would do to one citizen (a preview writes nothing else).
    PreviewOutcome,
}

impl Event {
    /// Nøgle: the key written in the line.
    pub fn key(self) -> &'static str {
        match self {
            Event::CprDoesNotExist => "cpr-does-not-exist",
            Event::CprInactive => "cpr-inactive",
            Event::DeceasedDataRemoved => "deceased-data-removed",
            Event::EmigratedRegistrationClosed => "emigrated-registration-closed",
            Event::DigitalPostRequest => "digital-post-request",
            Event::DigitalPostResponse => "digital-post-response",
            Event::PreviewOutcome => "preview-outcome",
        }
    }

    /// Kontekst: the guide's `validateCpr` and `digitalPostSent`, and ours for the cleanups.
    pub fn kontekst(self) -> &'static str {
        match self {
            Event::CprDoesNotExist | Event::CprInactive => "validateCpr",
            Event::DeceasedDataRemoved => "deceasedCleanup",
            Event::EmigratedRegistrationClosed => "emigratedCleanup",
            Event::DigitalPostRequest | Event::DigitalPostResponse => "digitalPostSent",
            Event::PreviewOutcome => "preview",
        }
    }
}

/// One audit line as written: a JSON object with a fixed key order.
pub fn line(event: Event, cpr: Option<&Cpr>, information: &str, outgoing_request_id: Option<&str>) -> String {
    let information = match cpr {
        Some(cpr) if information.is_empty() => format!("cpr={}", cpr.expose()),
        Some(cpr) => format!("cpr={} {information}", cpr.expose()),
        None => information.to_string(),
    };
    let mut object = json!({
        "time": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "requestId": request_id::current().unwrap_or_else(|| "-".to_string()),
        "komponent": KOMPONENT,
        "kontekst": event.kontekst(),
        "type": if cpr.is_some() { SENSITIVE } else { NOT_PERSONAL },
        "noegle": event.key(),
        "information": information,
    });
    if let (Some(id), Some(map)) = (outgoing_request_id, object.as_object_mut()) {
        map.insert("outgoingRequestId".into(), id.into());
    }
    object.to_string()
}

/// Writes one audit line about a citizen (Type `Følsomme`).
pub fn citizen(event: Event, cpr: &Cpr, information: &str) {
    log::info!(target: TARGET, "{}", line(event, Some(cpr), information, None));
}

/// Writes one audit line of an outgoing call (its own request id beside the incoming one).
pub fn call(event: Event, cpr: Option<&Cpr>, information: &str, outgoing_request_id: &str) {
    log::info!(target: TARGET, "{}", line(event, cpr, information, Some(outgoing_request_id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_citizen_line_has_the_guides_five_fields_the_time_and_the_request_id() {
        let cpr = Cpr::parse("0101001234").unwrap();
        let text = line(Event::CprInactive, Some(&cpr), "status=20", None);
        assert!(!text.contains('\n'));
        let v = parse(&text);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "time",
                "requestId",
                "komponent",
                "kontekst",
                "type",
                "noegle",
                "information"
            ]
        );
        assert_eq!(v["komponent"], "ODR");
        assert_eq!(v["kontekst"], "validateCpr");
        assert_eq!(v["type"], "Følsomme");
        assert_eq!(v["noegle"], "cpr-inactive");
        assert_eq!(v["information"], "cpr=0101001234 status=20");
        assert_eq!(v["requestId"], "-");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[tokio::test]
    async fn a_response_line_is_not_personal_and_joins_both_request_ids() {
        let text = request_id::scope("cron-9".to_string(), async {
            line(
                Event::DigitalPostResponse,
                None,
                "messageId=m-1 accepted: MessageId m-1",
                Some("cron-9-4"),
            )
        })
        .await;
        let v = parse(&text);
        assert_eq!(v["type"], "Ikke Personlig");
        assert_eq!(v["kontekst"], "digitalPostSent");
        assert_eq!(v["noegle"], "digital-post-response");
        assert_eq!(v["requestId"], "cron-9");
        assert_eq!(v["outgoingRequestId"], "cron-9-4");
    }

    #[test]
    fn every_event_has_its_kontekst() {
        let pairs = [
            (Event::CprDoesNotExist, "validateCpr"),
            (Event::CprInactive, "validateCpr"),
            (Event::DeceasedDataRemoved, "deceasedCleanup"),
            (Event::EmigratedRegistrationClosed, "emigratedCleanup"),
            (Event::DigitalPostRequest, "digitalPostSent"),
            (Event::DigitalPostResponse, "digitalPostSent"),
            (Event::PreviewOutcome, "preview"),
        ];
        for (event, kontekst) in pairs {
            assert_eq!(event.kontekst(), kontekst, "{}", event.key());
        }
    }
}
