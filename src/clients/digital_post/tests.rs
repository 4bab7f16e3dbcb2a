//! The Digital Post client's own reading and writing of the wire: the envelope, the sorting of
//! answers into outcomes, the reasons and texts. The client against the fake adapter is tested
//! in `tests/api/clients/`.

use super::soap::{envelope, DP_NS, SOAP_NS};
use super::*;

#[test]
fn markup_in_templates_is_escaped_in_the_envelope() {
    let to = Cpr::parse("0101001234").unwrap();
    let l = Letter {
        message_id: "m-1",
        recipient: &to,
        template_digital: r#"ODR/<digital>&amp; "x" 'y' ]]> æøå"#,
        template_physical: "ODR/a<b>&c\"d'e",
    };
    assert!(!envelope(&l).contains("<digital>"));
}

#[test]
fn answers_are_sorted_into_outcomes() {
    let sorted = |status: u16, body: &str, id: &str| interpret(status, body, id).outcome;
    let ok = format!(
        r#"<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP_NS}"><s:Body><SendDigitalPostResponse xmlns="{DP_NS}"><MessageId> m-1 </MessageId></SendDigitalPostResponse></s:Body></s:Envelope>"#
    );
    assert_eq!(sorted(200, &ok, "m-1"), SendOutcome::Accepted);
    assert!(matches!(
        sorted(200, &ok, "m-2"),
        SendOutcome::Unavailable(DigitalPostError::BadBody(_))
    ));
    let wrong_ns = ok.replace(DP_NS, "urn:other");
    assert!(matches!(
        sorted(200, &wrong_ns, "m-1"),
        SendOutcome::Unavailable(DigitalPostError::BadBody(_))
    ));
    for garbage in ["", "OK", "<html><body>OK</body></html>", "<soap:Envelope", "<a></b>"] {
        assert!(
            matches!(
                sorted(200, garbage, "m-1"),
                SendOutcome::Unavailable(DigitalPostError::BadBody(_))
            ),
            "{garbage}"
        );
    }
    let fault = |code: &str, string: &str| {
        format!(
            r#"<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault><faultcode>{code}</faultcode><faultstring>{string}</faultstring></soap:Fault></soap:Body></soap:Envelope>"#
        )
    };
    // A soap:Client Fault rejects the letter, whatever the HTTP code.
    let client_fault = fault("soap:Client", "Ugyldig &lt;skabelon&gt; &amp; mere");
    let rejected = SendOutcome::Rejected {
        reason: "Ugyldig <skabelon> & mere".to_string(),
    };
    for status in [500, 200, 503, 400] {
        assert_eq!(sorted(status, &client_fault, "m-1"), rejected, "{status}");
    }
    assert_eq!(
        sorted(500, &fault("Client", ""), "m-1"),
        SendOutcome::Rejected {
            reason: "Digital Post Adapter afviste brevet uden forklaring (faultcode Client)".to_string()
        }
    );
    // Any other faultcode is the adapter's fault, whatever the HTTP code.
    let server = |faultcode: &str, faultstring: &str| {
        SendOutcome::Unavailable(DigitalPostError::ServerFault {
            faultcode: faultcode.to_string(),
            faultstring: faultstring.to_string(),
        })
    };
    for status in [500, 200, 400] {
        assert_eq!(
            sorted(status, &fault("soap:Server", "Internt systemfel"), "m-1"),
            server("soap:Server", "Internt systemfel"),
            "{status}"
        );
    }
    assert_eq!(sorted(500, &fault("soap:Server", ""), "m-1"), server("soap:Server", ""));
    assert_eq!(
        sorted(500, &fault("x:Boom", "Fejl for 0101001234.\n  Prøv igen."), "m-1"),
        server("x:Boom", "Fejl for **********. Prøv igen")
    );
    assert_eq!(sorted(500, &fault("", "x"), "m-1"), server("ingen faultcode", "x"));
    // Without a Fault, the HTTP code decides.
    assert_eq!(
        sorted(404, "Not Found", "m-1"),
        SendOutcome::Rejected {
            reason: "Digital Post Adapter afviste brevet med statuskode 404".to_string()
        }
    );
    for status in [502, 500, 503, 429, 408, 302] {
        assert_eq!(
            sorted(status, "<html>Bad Gateway</html>", "m-1"),
            SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(status)),
            "{status}"
        );
    }
    let doctype = format!(r#"<!DOCTYPE x [<!ENTITY a "b">]><soap:Envelope xmlns:soap="{SOAP_NS}"/>"#);
    assert!(matches!(
        sorted(200, &doctype, "m-1"),
        SendOutcome::Unavailable(DigitalPostError::BadBody(_))
    ));
}

#[test]
fn the_response_audit_line_carries_the_answer() {
    let detail = |status: u16, body: &str| response_detail("m-1", &interpret(status, body, "m-1"));
    let ok = format!(
        r#"<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><SendDigitalPostResponse xmlns="{DP_NS}"><MessageId>m-1</MessageId></SendDigitalPostResponse></s:Body></s:Envelope>"#
    );
    assert_eq!(detail(200, &ok), "messageId=m-1 accepted: MessageId m-1");
    let fault = format!(
        r#"<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>Ukendt modtager 0101001234</faultstring></s:Fault></s:Body></s:Envelope>"#
    );
    assert_eq!(
        detail(500, &fault),
        "messageId=m-1 rejected: faultcode soap:Client, faultstring \"Ukendt modtager **********\""
    );
    assert_eq!(
        detail(500, &fault.replace("s:Client", "s:Server")),
        "messageId=m-1 unavailable: Kaldet til Digital Post Adapter-servicen fejlede: \
         serverfejl (soap:Server): Ukendt modtager **********"
    );
    assert_eq!(detail(403, ""), "messageId=m-1 rejected: HTTP 403 without a SOAP Fault");
    assert_eq!(
        detail(503, ""),
        "messageId=m-1 unavailable: Kaldet til Digital Post Adapter-servicen fejlede: uventet statuskode 503"
    );
    let bad = detail(200, "OK");
    assert!(
        bad.starts_with("messageId=m-1 unavailable: Kaldet til Digital Post Adapter-servicen fejlede: svaret kunne ikke læses (HTTP 200: "),
        "{bad}"
    );
}

#[test]
fn reasons_are_one_line_masked_and_bounded() {
    assert_eq!(fault_reason("soap:Client", "  a\n\tb 0101001234 "), "a b **********");
    assert_eq!(fault_reason("soap:Client", &"å".repeat(2000)).chars().count(), 900);
    let DigitalPostError::ServerFault { faultstring, .. } =
        DigitalPostError::server_fault("soap:Server", &"ø".repeat(2000))
    else {
        panic!("not a server fault")
    };
    assert_eq!(faultstring.chars().count(), 300);
}

#[test]
fn error_texts_are_danish_without_trailing_period() {
    let texts = [
        DigitalPostError::Timeout.to_string(),
        DigitalPostError::Unreachable("x".into()).to_string(),
        DigitalPostError::UnexpectedStatus(503).to_string(),
        DigitalPostError::BadBody("x".into()).to_string(),
        DigitalPostError::Client("x".into()).to_string(),
        DigitalPostError::server_fault("soap:Server", "Internt systemfel.").to_string(),
        DigitalPostError::server_fault("soap:Server", "").to_string(),
    ];
    assert_eq!(
        texts[3],
        "Kaldet til Digital Post Adapter-servicen fejlede: svaret kunne ikke læses"
    );
    assert_eq!(
        texts[5],
        "Kaldet til Digital Post Adapter-servicen fejlede: serverfejl (soap:Server): Internt systemfel"
    );
    assert_eq!(
        texts[6],
        "Kaldet til Digital Post Adapter-servicen fejlede: serverfejl (soap:Server)"
    );
    for t in texts {
        assert!(
            t.starts_with("Kaldet til Digital Post Adapter-servicen fejlede: ") && !t.ends_with('.'),
            "{t}"
        );
    }
}
