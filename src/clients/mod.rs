//! Clients of the external services; each module is the only one that knows its wire format.

pub mod digital_post;
pub mod person_information;

/// The error and its sources on one line. reqwest errors name the URL, which holds no CPR
/// (CPR numbers travel only in request bodies).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
