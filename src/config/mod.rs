//! Settings from `operations.properties`: every key of SPEC §3, typed and validated once.
//!
//! [`keys`] declares each key once (name, default, doc), [`properties`] reads the file by the
//! Java rules, [`values`] turns text into typed values with the SPEC's one-line errors, and
//! this module assembles [`Settings`].

pub mod db_url;
pub mod keys;
mod properties;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;

pub use db_url::{Backend, BadDbUrl, DbUrl, NoMariadb};
use keys::*;
pub use keys::{KeyDef, KEYS};
pub use values::Period;

/// A malformed configuration value, phrased as the one line printed before exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The properties file exists but cannot be read.
    #[error("{file}: cannot be read: {reason}")]
    Unreadable { file: String, reason: String },
    /// A line breaks the properties syntax (e.g. a bad `\u` escape).
    #[error("{file}: line {line} cannot be read: {text}")]
    Syntax { file: String, line: usize, text: String },
    /// A value does not have the expected form.
    #[error("{file}: {key} = \"{value}\" {expected}")]
    Value {
        file: String,
        key: String,
        value: String,
        expected: String,
    },
}

/// A secret value that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret value, for comparison only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Settings of one outgoing HTTP service.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Base URL (PersonInformation) or full send URL (Digital Post).
    pub url: String,
    /// Maximum connections in total.
    pub max_total_connections: usize,
    /// Maximum connections per route; also the number of requests in flight.
    pub max_per_route: usize,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Errors tolerated within `errorcount_duration`.
    pub error_tolerance: u64,
    /// Window in which errors are counted.
    pub errorcount_duration: Duration,
}

/// Settings of one cleanup job.
#[derive(Debug, Clone)]
pub struct CleanupSettings {
    /// Time budget of a slice.
    pub desired_duration: Duration,
    /// CPR numbers per batch.
    pub batch_size: usize,
    /// CPR numbers per PersonInformation request.
    pub personinformation_batch_size: usize,
    /// The stale-job alarm: the longest time since the last working slice (None: off).
    pub max_age: Option<MaxAge>,
}

/// How old a job's last working slice may be before the alarm page reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxAge {
    /// The limit.
    pub duration: Duration,
    /// As written in the properties (the alarm line quotes it, e.g. `P2D`).
    pub text: String,
}

/// The four letter templates.
#[derive(Debug, Clone)]
pub struct Templates {
    /// Digital template, no registration.
    pub digital_undecided: String,
    /// Digital template, active registration.
    pub digital_decided: String,
    /// Physical template, no registration.
    pub physical_undecided: String,
    /// Physical template, active registration.
    pub physical_decided: String,
}

/// Settings of OrganDonorNotification.
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// First notification date; `None` disables the job.
    pub start_date: Option<NaiveDate>,
    /// Time budget of a slice.
    pub desired_duration: Duration,
    /// Letters per send batch.
    pub send_limit: usize,
    /// Legal age in whole years.
    pub legal_age_years: u32,
    /// Days before the birthday the letter goes out.
    pub offset_days: u32,
    /// Letter templates.
    pub templates: Templates,
    /// Allowed lag of the newest completed date, in days.
    pub alarm_period_days: u32,
    /// The stale-job alarm of the notification job (None: off).
    pub max_age: Option<MaxAge>,
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// ODR database URL.
    pub url: DbUrl,
    /// Pool size per datasource.
    pub pool_size: u32,
    /// Apply migrations on `serve`.
    pub migrate: bool,
    /// Separate database for `v2_person_simplified`, if any.
    pub stamdata_url: Option<DbUrl>,
    /// JNDI name used in alarm texts.
    pub jndi_name: String,
}

/// All settings of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from (for messages), or a note that defaults are used.
    pub source: String,
    /// PersonInformation client settings.
    pub person_information: ServiceSettings,
    /// Digital Post client settings.
    pub digital_post: ServiceSettings,
    /// OrganDonorDeceasedCleanup settings.
    pub deceased: CleanupSettings,
    /// How long after death data is kept.
    pub deceased_save: Period,
    /// OrganDonorEmigratedCleanup settings.
    pub emigrated: CleanupSettings,
    /// OrganDonorNotification settings.
    pub notification: NotificationSettings,
    /// Datasources.
    pub database: DatabaseSettings,
    /// Listen address.
    pub server_bind: String,
    /// Zone for "today".
    pub timezone: Tz,
    /// Bearer token for start URLs.
    pub start_token: Option<Secret>,
    /// Whether the HTML dashboard is served.
    pub dashboard_enabled: bool,
    /// log4rs configuration file.
    pub logging_config: PathBuf,
    /// Warnings found while reading (unknown keys), logged once logging is up.
    pub warnings: Vec<String>,
}

/// Where the properties file is looked for: `--config`, then `ODR_OPERATIONS_CONFIG`, then `./operations.properties`.
pub fn locate(cli: Option<&Path>) -> (PathBuf, bool) {
    if let Some(p) = cli {
        return (p.to_path_buf(), true);
    }
    if let Some(p) = std::env::var_os("ODR_OPERATIONS_CONFIG").filter(|v| !v.is_empty()) {
        return (PathBuf::from(p), true);
    }
    (PathBuf::from("operations.properties"), false)
}

impl Settings {
    /// Loads settings from `path`; a missing file is an error only when it was asked for explicitly.
    pub fn load(path: &Path, required: bool) -> Result<Settings, ConfigError> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Settings::from_properties(&file, &text),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                let mut s = Settings::from_properties(&file, "")?;
                s.source = format!("{file} (not found: defaults)");
                Ok(s)
            }
            Err(e) => Err(ConfigError::Unreadable {
                file,
                reason: e.to_string(),
            }),
        }
    }

    /// All defaults, as if the properties file were empty.
    pub fn defaults() -> Settings {
        // The defaults are constants checked by tests; parsing them cannot fail.
        match Settings::from_properties("defaults", "") {
            Ok(s) => s,
            Err(e) => panic!("built-in defaults are invalid: {e}"),
        }
    }

    /// Parses properties text; `file` names the source in error lines.
    pub fn from_properties(file: &str, text: &str) -> Result<Settings, ConfigError> {
        let (values, warnings) = properties::parse(file, text)?;
        let r = values::Reader { file, values: &values };
        let service = |url, total, per_route, timeout_ms: &KeyDef, tolerance, window| {
            Ok::<_, ConfigError>(ServiceSettings {
                url: r.url(url)?,
                max_total_connections: r.positive(total)?,
                max_per_route: r.positive(per_route)?,
                connect_timeout: Duration::from_millis(r.positive::<u64>(timeout_ms)?),
                error_tolerance: r.number(tolerance)?,
                errorcount_duration: r.fixed_duration(window)?,
            })
        };
        let cleanup = |budget, batch, pi_batch, max_age| {
            Ok::<_, ConfigError>(CleanupSettings {
                desired_duration: r.fixed_duration(budget)?,
                batch_size: r.positive(batch)?,
                personinformation_batch_size: r.positive(pi_batch)?,
                max_age: r.max_age(max_age)?,
            })
        };
        let notification = NotificationSettings {
            start_date: r.optional_date(&NOTIFICATION_START_DATE)?,
            desired_duration: r.fixed_duration(&NOTIFICATION_BUDGET)?,
            send_limit: r.positive(&NOTIFICATION_SEND_LIMIT)?,
            legal_age_years: r.whole_years(&NOTIFICATION_LEGAL_AGE)?,
            offset_days: r.whole_days(&NOTIFICATION_OFFSET_DAYS)?,
            templates: Templates {
                digital_undecided: r.text(&TEMPLATE_DIGITAL_UNDECIDED)?,
                digital_decided: r.text(&TEMPLATE_DIGITAL_DECIDED)?,
                physical_undecided: r.text(&TEMPLATE_PHYSICAL_UNDECIDED)?,
                physical_decided: r.text(&TEMPLATE_PHYSICAL_DECIDED)?,
            },
            alarm_period_days: r.whole_days(&NOTIFICATION_ALARM_PERIOD)?,
            max_age: r.max_age(&NOTIFICATION_MAX_AGE)?,
        };
        let database = DatabaseSettings {
            url: r.db_url(&ODR_URL)?,
            pool_size: r.positive(&POOL_SIZE)?,
            migrate: r.boolean(&MIGRATE)?,
            stamdata_url: match r.raw(&STAMDATA_URL) {
                Some(_) => Some(r.db_url(&STAMDATA_URL)?),
                None => None,
            },
            jndi_name: r.text(&JNDI_NAME)?,
        };
        Ok(Settings {
            source: file.to_string(),
            person_information: service(
                &PI_URL,
                &PI_MAX_TOTAL,
                &PI_MAX_PER_ROUTE,
                &PI_TIMEOUT_MS,
                &PI_ERROR_TOLERANCE,
                &PI_ERROR_WINDOW,
            )?,
            digital_post: service(
                &DP_URL,
                &DP_MAX_TOTAL,
                &DP_MAX_PER_ROUTE,
                &DP_TIMEOUT_MS,
                &DP_ERROR_TOLERANCE,
                &DP_ERROR_WINDOW,
            )?,
            deceased: cleanup(&DECEASED_BUDGET, &DECEASED_BATCH, &DECEASED_PI_BATCH, &DECEASED_MAX_AGE)?,
            deceased_save: r.period(&DECEASED_SAVE)?,
            emigrated: cleanup(
                &EMIGRATED_BUDGET,
                &EMIGRATED_BATCH,
                &EMIGRATED_PI_BATCH,
                &EMIGRATED_MAX_AGE,
            )?,
            notification,
            database,
            server_bind: r.socket_addr(&SERVER_BIND)?,
            timezone: r.timezone(&TIMEZONE)?,
            start_token: r.raw(&START_TOKEN).map(|t| Secret(t.to_string())),
            dashboard_enabled: r.boolean(&DASHBOARD_ENABLED)?,
            logging_config: PathBuf::from(r.text(&LOGGING_CONFIG)?),
            warnings,
        })
    }
}
