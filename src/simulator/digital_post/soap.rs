//! The fake adapter's side of SPEC §7's SOAP: reading a SendDigitalPostRequest and writing the
//! answers. Written independently of the client's, so the two check each other.

use std::collections::HashMap;

use actix_web::HttpResponse;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use super::ReceivedLetter;

/// Namespace of the Digital Post Adapter messages.
const DP_NS: &[u8] = b"http://nspop.dk/digitalpost/2024/05/29/";
/// Namespace of the SOAP 1.1 envelope.
const SOAP_NS: &[u8] = b"http://schemas.xmlsoap.org/soap/envelope/";

/// 200 with a SendDigitalPostResponse naming `message_id`.
pub(super) fn accepted_response(message_id: &str) -> HttpResponse {
    let body = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/><soap:Body>"#,
            r#"<dp:SendDigitalPostResponse xmlns:dp="http://nspop.dk/digitalpost/2024/05/29/">"#,
            r#"<dp:MessageId>{}</dp:MessageId>"#,
            r#"</dp:SendDigitalPostResponse></soap:Body></soap:Envelope>"#
        ),
        escape(message_id)
    );
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body)
}

/// A SOAP 1.1 Fault with HTTP 500, as SOAP 1.1 sends every fault; `faultcode` is a QName
/// with the `soap` prefix of this envelope (`soap:Client`, `soap:Server`, ...).
pub(super) fn fault_response(faultcode: &str, faultstring: &str) -> HttpResponse {
    let body = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
            r#"<soap:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring></soap:Fault>"#,
            r#"</soap:Body></soap:Envelope>"#
        ),
        escape(faultcode),
        escape(faultstring)
    );
    HttpResponse::InternalServerError()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

/// Names an element by its resolved namespace: `soap:`, `dp:`, bare when unqualified, `?:` otherwise.
fn qualified(ns: &ResolveResult<'_>, local: &[u8]) -> String {
    let prefix = match ns {
        ResolveResult::Bound(Namespace(n)) if *n == SOAP_NS => "soap:",
        ResolveResult::Bound(Namespace(n)) if *n == DP_NS => "dp:",
        ResolveResult::Unbound => "",
        _ => "?:",
    };
    format!("{prefix}{}", String::from_utf8_lossy(local))
}

/// Reads a SendDigitalPostRequest envelope; the error says what is wrong.
pub(super) fn parse_request(body: &[u8]) -> Result<ReceivedLetter, String> {
    const REQUEST: &str = "soap:Envelope/soap:Body/dp:SendDigitalPostRequest";
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    let mut reader = NsReader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut fields: HashMap<&'static str, String> = HashMap::new();
    let mut source: Option<String> = None;
    let mut current: Option<(&'static str, String)> = None;
    let mut roots = 0;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| format!("XML error: {e}"))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = qualified(&ns, e.local_name().as_ref());
                if path.is_empty() {
                    roots += 1;
                }
                let parent = path.join("/");
                let field = match (parent.as_str(), name.as_str()) {
                    (REQUEST, "dp:MessageId") => Some("MessageId"),
                    (REQUEST, "dp:RecipientId") => Some("RecipientId"),
                    (REQUEST, "dp:TemplateDigital") => Some("TemplateDigital"),
                    (REQUEST, "dp:TemplatePhysical") => Some("TemplatePhysical"),
                    _ => None,
                };
                if field == Some("RecipientId") {
                    let attr = e
                        .try_get_attribute("source")
                        .map_err(|e| format!("bad attribute: {e}"))?;
                    if let Some(a) = attr {
                        source = Some(
                            a.unescape_value()
                                .map_err(|e| format!("bad attribute: {e}"))?
                                .into_owned(),
                        );
                    }
                }
                if let Some(f) = field {
                    if fields.contains_key(f) {
                        return Err(format!("dp:{f} appears more than once"));
                    }
                    if matches!(event, Event::Empty(_)) {
                        fields.insert(f, String::new());
                    } else {
                        current = Some((f, String::new()));
                    }
                }
                if matches!(event, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::End(_) => {
                if let Some((f, value)) = current.take() {
                    fields.insert(f, value);
                }
                path.pop();
            }
            Event::Text(t) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&t.unescape().map_err(|e| format!("bad text: {e}"))?);
                }
            }
            Event::CData(t) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&t.decode().map_err(|e| format!("bad CDATA: {e}"))?);
                }
            }
            Event::DocType(_) => return Err("DOCTYPE is not allowed in SOAP".to_string()),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if roots != 1 || !path.is_empty() {
        return Err("not one complete root element".to_string());
    }
    let mut take = |f: &str| fields.remove(f).ok_or_else(|| format!("{REQUEST}/dp:{f} is missing"));
    let message_id = take("MessageId")?;
    let cpr = take("RecipientId")?;
    let template_digital = take("TemplateDigital")?;
    let template_physical = take("TemplatePhysical")?;
    let source = source.ok_or_else(|| "dp:RecipientId has no source attribute".to_string())?;
    if message_id.trim().is_empty() {
        return Err("dp:MessageId is empty".to_string());
    }
    Ok(ReceivedLetter {
        message_id,
        cpr,
        template_digital,
        template_physical,
        source,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/><soap:Body><dp:SendDigitalPostRequest xmlns:dp="http://nspop.dk/digitalpost/2024/05/29/"><dp:MessageId>m-1</dp:MessageId><dp:RecipientId source="1.2.208.176.1.2">0101001234</dp:RecipientId><dp:TemplateDigital>d &amp; &lt;x&gt;</dp:TemplateDigital><dp:TemplatePhysical><![CDATA[p <y>]]></dp:TemplatePhysical></dp:SendDigitalPostRequest></soap:Body></soap:Envelope>"#;

    #[test]
    fn reads_a_request_with_any_prefixes() {
        let l = parse_request(GOOD.as_bytes()).unwrap();
        assert_eq!(l.message_id, "m-1");
        assert_eq!(l.cpr, "0101001234");
        assert_eq!(l.source, "1.2.208.176.1.2");
        assert_eq!(l.template_digital, "d & <x>");
        assert_eq!(l.template_physical, "p <y>");
        let other_prefixes = GOOD
            .replace("soap:", "s:")
            .replace("xmlns:soap", "xmlns:s")
            .replace("dp:", "n:")
            .replace("xmlns:dp", "xmlns:n");
        assert_eq!(parse_request(other_prefixes.as_bytes()).unwrap(), l);
    }

    #[test]
    fn refuses_requests_that_do_not_parse() {
        let wrong_ns = GOOD.replace("http://nspop.dk/digitalpost/2024/05/29/", "urn:x");
        let no_source = GOOD.replace(r#" source="1.2.208.176.1.2""#, "");
        let no_template = GOOD.replace("<dp:TemplateDigital>d &amp; &lt;x&gt;</dp:TemplateDigital>", "");
        let twice = GOOD.replace(
            "<dp:MessageId>m-1</dp:MessageId>",
            "<dp:MessageId>a</dp:MessageId><dp:MessageId>b</dp:MessageId>",
        );
        for bad in [
            "",
            "hello",
            "<a></b>",
            &GOOD[..GOOD.len() - 5],
            &wrong_ns,
            &no_source,
            &no_template,
            &twice,
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
