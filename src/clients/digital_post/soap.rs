//! The Digital Post Adapter's SOAP 1.1 (SPEC §7): the request envelope we write and the answer
//! we read, with quick-xml and namespaces resolved (prefixes are the sender's choice).

use quick_xml::escape::escape;
use quick_xml::events::Event as XmlEvent;
use quick_xml::name::{Namespace, QName, ResolveResult};
use quick_xml::NsReader;

use super::Letter;

/// Namespace of the Digital Post Adapter messages.
pub(super) const DP_NS: &str = "http://nspop.dk/digitalpost/2024/05/29/";
/// Namespace of the SOAP 1.1 envelope.
pub(super) const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// OID of the CPR number system, the `source` of `RecipientId`.
const CPR_SOURCE: &str = "1.2.208.176.1.2";

/// The SOAP request of SPEC §7, every value XML-escaped.
pub(super) fn envelope(letter: &Letter<'_>) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="{soap}"><soap:Header/><soap:Body>"#,
            r#"<dp:SendDigitalPostRequest xmlns:dp="{dp}">"#,
            r#"<dp:MessageId>{id}</dp:MessageId>"#,
            r#"<dp:RecipientId source="{source}">{cpr}</dp:RecipientId>"#,
            r#"<dp:TemplateDigital>{digital}</dp:TemplateDigital>"#,
            r#"<dp:TemplatePhysical>{physical}</dp:TemplatePhysical>"#,
            r#"</dp:SendDigitalPostRequest></soap:Body></soap:Envelope>"#
        ),
        soap = SOAP_NS,
        dp = DP_NS,
        id = escape(letter.message_id),
        source = CPR_SOURCE,
        cpr = escape(letter.recipient.expose()),
        digital = escape(letter.template_digital),
        physical = escape(letter.template_physical),
    )
}

/// Whose fault a SOAP Fault says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Blame {
    /// faultcode `Client` in the SOAP envelope namespace (any prefix), or bare `Client`: the
    /// letter is wrong (SOAP 1.1 §4.4.1 dot-extensions such as `Client.Recipient` included).
    Letter,
    /// Any other faultcode (`soap:Server`, the seeds' "Internt systemfel", or a code we do not
    /// know): the adapter failed (SPEC §7: a Fault that is neither counts as `soap:Server`).
    Adapter,
}

/// The body of a readable answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// `dp:SendDigitalPostResponse`, with the MessageId if present.
    Response { message_id: Option<String> },
    /// `soap:Fault`: whose fault, the faultcode as named (`soap:` for the envelope namespace,
    /// whatever prefix was written) and the faultstring (empty when absent).
    Fault { blame: Blame, code: String, string: String },
}

/// Where the parser stands in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Envelope,
    Body,
    Fault,
    FaultCode,
    FaultString,
    Response,
    MessageId,
    Other,
}

/// Where the text inside the element `top` goes: fault code, fault string or MessageId.
fn text_slot<'a>(
    top: Option<&Node>,
    code: &'a mut String,
    string: &'a mut String,
    message_id: &'a mut Option<String>,
) -> Option<&'a mut String> {
    match top {
        Some(Node::FaultCode) => Some(code),
        Some(Node::FaultString) => Some(string),
        Some(Node::MessageId) => message_id.as_mut(),
        _ => None,
    }
}

/// Reads a SOAP 1.1 answer with quick-xml, namespaces resolved.
pub(super) fn parse_answer(xml: &str) -> Result<Answer, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut seen_root = false;
    let mut in_body: Option<Node> = None;
    let (mut code, mut string, mut message_id) = (String::new(), String::new(), None::<String>);
    // The faultcode named with the namespaces in scope where it was written.
    let mut named_code: Option<(Blame, String)> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            XmlEvent::Start(ref e) | XmlEvent::Empty(ref e) => {
                let empty = matches!(event, XmlEvent::Empty(_));
                let local = e.local_name();
                let node = match (stack.last(), local.as_ref()) {
                    (None, _) if seen_root => return Err("more than one root element".to_string()),
                    (None, b"Envelope") if is_ns(&ns, SOAP_NS) => Node::Envelope,
                    (None, _) => return Err("the root element is not a SOAP 1.1 Envelope".to_string()),
                    (Some(Node::Envelope), b"Body") if is_ns(&ns, SOAP_NS) => Node::Body,
                    (Some(Node::Body), b"Fault") if is_ns(&ns, SOAP_NS) => Node::Fault,
                    (Some(Node::Body), b"SendDigitalPostResponse") if is_ns(&ns, DP_NS) => Node::Response,
                    // SOAP 1.1 faultcode/faultstring are unqualified; accept any namespace.
                    (Some(Node::Fault), b"faultcode") => Node::FaultCode,
                    (Some(Node::Fault), b"faultstring") => Node::FaultString,
                    (Some(Node::Response), b"MessageId") if is_ns(&ns, DP_NS) => Node::MessageId,
                    _ => Node::Other,
                };
                seen_root = true;
                if matches!(node, Node::Fault | Node::Response) && in_body.is_none() {
                    in_body = Some(node);
                }
                if node == Node::MessageId && message_id.is_none() {
                    message_id = Some(String::new());
                }
                if !empty {
                    stack.push(node);
                }
            }
            XmlEvent::End(_) => {
                // At its end tag the faultcode element's own namespace declarations still apply.
                if stack.pop() == Some(Node::FaultCode) && named_code.is_none() {
                    named_code = Some(name_faultcode(&reader, code.trim()));
                }
            }
            XmlEvent::Text(ref t) => {
                if let Some(buf) = text_slot(stack.last(), &mut code, &mut string, &mut message_id) {
                    buf.push_str(&t.unescape().map_err(|e| format!("bad text: {e}"))?);
                }
            }
            XmlEvent::CData(ref t) => {
                if let Some(buf) = text_slot(stack.last(), &mut code, &mut string, &mut message_id) {
                    buf.push_str(&t.decode().map_err(|e| format!("bad CDATA: {e}"))?);
                }
            }
            XmlEvent::DocType(_) => return Err("a SOAP message must not have a DOCTYPE".to_string()),
            XmlEvent::Eof => break,
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the XML ends inside an element".to_string());
    }
    match in_body {
        Some(Node::Fault) => {
            // A Fault without a faultcode says nothing about the letter: the adapter's fault.
            let (blame, code) = named_code.unwrap_or((Blame::Adapter, String::new()));
            Ok(Answer::Fault { blame, code, string })
        }
        Some(_) => Ok(Answer::Response { message_id }),
        None if seen_root => Err("the Body holds neither SendDigitalPostResponse nor Fault".to_string()),
        None => Err("empty answer".to_string()),
    }
}

/// Sorts a faultcode (a QName) by the namespace its prefix is bound to where it was written, and
/// names it `soap:<local>` when that is the SOAP envelope namespace.
fn name_faultcode(reader: &NsReader<&[u8]>, qname: &str) -> (Blame, String) {
    let (ns, local) = reader.resolve(QName(qname.as_bytes()), true);
    let local = String::from_utf8_lossy(local.as_ref()).into_owned();
    let is_client = local == "Client" || local.starts_with("Client.");
    match ns {
        ResolveResult::Bound(Namespace(n)) if n == SOAP_NS.as_bytes() => {
            let blame = if is_client { Blame::Letter } else { Blame::Adapter };
            (blame, format!("soap:{local}"))
        }
        ResolveResult::Unbound if is_client => (Blame::Letter, local),
        _ => (Blame::Adapter, qname.to_string()),
    }
}

/// Whether a resolved name is in namespace `uri`.
fn is_ns(ns: &ResolveResult<'_>, uri: &str) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == uri.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(envelope_attrs: &str, faultcode: &str) -> String {
        format!(
            r#"<e:Envelope xmlns:e="{SOAP_NS}" {envelope_attrs}><e:Body><e:Fault><faultcode>{faultcode}</faultcode><faultstring>x</faultstring></e:Fault></e:Body></e:Envelope>"#
        )
    }

    fn blame_and_code(xml: &str) -> (Blame, String) {
        match parse_answer(xml).unwrap() {
            Answer::Fault { blame, code, string } => {
                assert_eq!(string, "x");
                (blame, code)
            }
            other => panic!("not a fault: {other:?}"),
        }
    }

    #[test]
    fn a_client_faultcode_is_recognised_whatever_its_prefix() {
        let soap = format!(r#"xmlns:soap="{SOAP_NS}" xmlns:s11="{SOAP_NS}""#);
        for code in ["soap:Client", "s11:Client", "e:Client", "Client", " soap:Client\n"] {
            assert_eq!(blame_and_code(&fault(&soap, code)).0, Blame::Letter, "{code}");
        }
        assert_eq!(
            blame_and_code(&fault(&soap, "s11:Client.Recipient")),
            (Blame::Letter, "soap:Client.Recipient".to_string())
        );
        assert_eq!(blame_and_code(&fault(&soap, "e:Client")).1, "soap:Client");
        // The prefix may be declared on the faultcode element itself.
        let local_decl = format!(
            r#"<e:Envelope xmlns:e="{SOAP_NS}"><e:Body><e:Fault><faultcode xmlns:z="{SOAP_NS}">z:Client</faultcode></e:Fault></e:Body></e:Envelope>"#
        );
        assert!(matches!(
            parse_answer(&local_decl),
            Ok(Answer::Fault {
                blame: Blame::Letter,
                ..
            })
        ));
    }

    #[test]
    fn every_other_faultcode_blames_the_adapter() {
        let attrs = format!(r#"xmlns:soap="{SOAP_NS}" xmlns:x="urn:other""#);
        for (code, named) in [
            ("soap:Server", "soap:Server"),
            ("e:Server", "soap:Server"),
            ("Server", "Server"),
            ("soap:MustUnderstand", "soap:MustUnderstand"),
            ("soap:VersionMismatch", "soap:VersionMismatch"),
            ("x:Client", "x:Client"),
            ("undeclared:Client", "undeclared:Client"),
            ("soap:Clientele", "soap:Clientele"),
            ("", ""),
        ] {
            assert_eq!(
                blame_and_code(&fault(&attrs, code)),
                (Blame::Adapter, named.to_string()),
                "{code}"
            );
        }
        let no_code = format!(r#"<e:Envelope xmlns:e="{SOAP_NS}"><e:Body><e:Fault/></e:Body></e:Envelope>"#);
        assert!(matches!(
            parse_answer(&no_code),
            Ok(Answer::Fault {
                blame: Blame::Adapter,
                ..
            })
        ));
    }
}
