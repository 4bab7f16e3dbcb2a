//! The control API's knobs: fault names as the API spells them, turned on either fake.

use std::fmt::Debug;
use std::time::Duration;

use actix_web::HttpResponse;

use crate::simulator::digital_post::DpFault;
use crate::simulator::fake::FakeCore;
use crate::simulator::person_information::PiFault;

/// A plain-text 200 answer of the control API.
pub(super) fn text(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{body}\n"))
}

/// A plain-text 400 answer of the control API.
fn bad(body: String) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{body}\n"))
}

/// `none`, `garbage`, `hang` or an HTTP code.
fn parse_pi_fault(f: &str) -> Option<PiFault> {
    match f {
        "none" => Some(PiFault::None),
        "garbage" => Some(PiFault::Garbage),
        "hang" => Some(PiFault::Hang),
        code => http_code(code).map(PiFault::Status),
    }
}

/// `none`, `soap-client`, `soap-server`, `soap-other`, `503`, `hang`, `refuse` or another HTTP
/// code (answered with a short text body).
fn parse_dp_fault(f: &str) -> Option<DpFault> {
    match f {
        "none" => Some(DpFault::None),
        "soap-client" => Some(DpFault::SoapClient),
        "soap-server" => Some(DpFault::SoapServer),
        "soap-other" => Some(DpFault::SoapOther),
        "503" => Some(DpFault::Unavailable503),
        "hang" => Some(DpFault::Hang),
        "refuse" => Some(DpFault::Refuse),
        code => http_code(code).map(DpFault::ClientError),
    }
}

/// An HTTP status code, 100 to 599.
fn http_code(code: &str) -> Option<u16> {
    code.parse::<u16>().ok().filter(|c| (100..600).contains(c))
}

/// A fake's fault type, as the control API names it.
trait NamedFault: Copy + Default + Debug {
    /// The service, at the start of every answer.
    const SERVICE: &'static str;
    /// What the fake receives, for "the next n ...".
    const ITEMS: &'static str;
    /// The names `parse` knows, for the answer to an unknown one.
    const NAMES: &'static str;
    /// The fault of a name.
    fn parse(name: &str) -> Option<Self>;
}

impl NamedFault for PiFault {
    const SERVICE: &'static str = "PersonInformation";
    const ITEMS: &'static str = "requests";
    const NAMES: &'static str = "none, garbage, hang or an HTTP code";
    fn parse(name: &str) -> Option<Self> {
        parse_pi_fault(name)
    }
}

impl NamedFault for DpFault {
    const SERVICE: &'static str = "Digital Post";
    const ITEMS: &'static str = "letters";
    const NAMES: &'static str = "none, soap-client, soap-server, soap-other, 503, hang, refuse or an HTTP code";
    fn parse(name: &str) -> Option<Self> {
        parse_dp_fault(name)
    }
}

/// The knobs every fake has, turned by name; each answers the control request.
pub(super) trait Knobs: Sync {
    fn set_fault_named(&self, name: &str) -> HttpResponse;
    fn fail_next_named(&self, n: u32, name: &str) -> HttpResponse;
    fn set_latency_ms(&self, ms: u64) -> HttpResponse;
}

impl<F: NamedFault + Send> Knobs for FakeCore<F> {
    fn set_fault_named(&self, name: &str) -> HttpResponse {
        let Some(fault) = F::parse(name) else {
            return bad(format!("unknown fault {name:?}: {}", F::NAMES));
        };
        self.set_fault(fault);
        text(&format!("{} fault: {fault:?}", F::SERVICE))
    }

    fn fail_next_named(&self, n: u32, name: &str) -> HttpResponse {
        let Some(fault) = F::parse(name) else {
            return bad(format!("unknown fault {name:?}: {}", F::NAMES));
        };
        self.fail_next(n, fault);
        text(&format!("{}: next {n} {} {fault:?}", F::SERVICE, F::ITEMS))
    }

    fn set_latency_ms(&self, ms: u64) -> HttpResponse {
        self.set_latency(Duration::from_millis(ms));
        text(&format!("{} latency: {ms} ms", F::SERVICE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_parse() {
        assert_eq!(parse_pi_fault("409"), Some(PiFault::Status(409)));
        assert_eq!(parse_pi_fault("hang"), Some(PiFault::Hang));
        assert_eq!(parse_pi_fault("garbage"), Some(PiFault::Garbage));
        assert_eq!(parse_pi_fault("9999"), None);
        assert_eq!(parse_pi_fault("refuse"), None);
        for (name, fault) in [
            ("none", DpFault::None),
            ("soap-client", DpFault::SoapClient),
            ("soap-server", DpFault::SoapServer),
            ("soap-other", DpFault::SoapOther),
            ("503", DpFault::Unavailable503),
            ("hang", DpFault::Hang),
            ("refuse", DpFault::Refuse),
            ("404", DpFault::ClientError(404)),
        ] {
            assert_eq!(parse_dp_fault(name), Some(fault), "{name}");
        }
        assert_eq!(parse_dp_fault("nope"), None);
        assert_eq!(parse_dp_fault("99"), None);
    }
}
