//! Clients of the external services; each module is the only one that knows its wire format.

pub mod digital_post;
pub mod person_information;
