//! The two clients against the fakes of the external services, through their public API.

use std::time::Duration;

use odr_operations::config::ServiceSettings;

mod digital_post;
mod person_information;

/// Settings of a client of the service at `url`, with `per_route` requests in flight.
fn settings(url: String, per_route: usize, timeout: Duration) -> ServiceSettings {
    ServiceSettings {
        url,
        max_total_connections: 200,
        max_per_route: per_route,
        connect_timeout: timeout,
        error_tolerance: 0,
        errorcount_duration: Duration::from_secs(600),
    }
}
