//! Fakes of the external services (and synthetic data) for tests, the demo and benchmarks.

pub mod digital_post;
pub mod fake;
mod knobs;
pub mod person_information;
pub mod population;
pub mod scratch;
pub mod seed;
pub mod server;
