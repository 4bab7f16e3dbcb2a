//! Settings from `operations.properties`: every key of SPEC §3, typed and validated once.
//!
//! Each key is declared once in [`KEYS`] with its default and a one-line description; the
//! repo's `operations.properties` is checked against this table by a test.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, Utc};
use chrono_tz::Tz;

pub mod db_url;

pub use db_url::{Backend, BadDbUrl, DbUrl, NoMariadb};

/// One configuration key: name, default (None = unset) and a one-line description.
pub struct KeyDef {
    /// Property name, spelt as in the operator guide.
    pub name: &'static str,
    /// Default value, or `None` when the key has no default.
    pub default: Option<&'static str>,
    /// One-line English description for the generated properties file and docs.
    pub doc: &'static str,
}

const fn key(name: &'static str, default: Option<&'static str>, doc: &'static str) -> KeyDef {
    KeyDef { name, default, doc }
}

/// Every key the service understands, in the operator guide's order, then ours.
pub const KEYS: &[KeyDef] = &[
    key(
        "personinformation.url",
        Some("http://localhost:8081/stamdata-personinformation/2024/08/01"),
        "Base URL of the stamdata PersonInformation service.",
    ),
    key(
        "personinformation.maxTotalConnections",
        Some("200"),
        "Maximum number of connections to PersonInformation in total.",
    ),
    key(
        "personinformation.defaultMaxConnectionsPerRoute",
        Some("20"),
        "Maximum number of connections (and requests in flight) to PersonInformation per route.",
    ),
    key(
        "personinformation.defaultConnectionTimeoutMs",
        Some("20000"),
        "Connection timeout towards PersonInformation, in milliseconds.",
    ),
    key(
        "personinformation.error.tolerance",
        Some("0"),
        "PersonInformation errors tolerated within the window before the alarm page reports them.",
    ),
    key(
        "personinformation.errorcount.duration",
        Some("PT10M"),
        "Sliding window in which PersonInformation errors are counted (ISO-8601 duration).",
    ),
    key(
        "digitalpost.service.url",
        Some("http://localhost:8082/digitalpost/2024/05/29/send"),
        "URL of the Digital Post Adapter send operation (SOAP).",
    ),
    key(
        "digitalpost.max.total.connections",
        Some("200"),
        "Maximum number of connections to the Digital Post Adapter in total.",
    ),
    key(
        "digitalpost.default.max.connections.per.route",
        Some("20"),
        "Maximum number of connections (and letters in flight) to the Digital Post Adapter per route.",
    ),
    key(
        "digitalpost.default.connection.timeout.ms",
        Some("20000"),
        "Connection timeout towards the Digital Post Adapter, in milliseconds.",
    ),
    key(
        "digitalpost.error.tolerance",
        Some("0"),
        "Digital Post errors tolerated within the window before the alarm page reports them.",
    ),
    key(
        "digitalpost.errorcount.duration",
        Some("PT10M"),
        "Sliding window in which Digital Post errors are counted (ISO-8601 duration).",
    ),
    key(
        "deletion.desired.execution.duration.deceased",
        Some("PT20S"),
        "Time budget of one slice of OrganDonorDeceasedCleanup, checked after each operation.",
    ),
    key(
        "deletion.save.deceased",
        Some("P12M"),
        "How long after death a citizen's data is kept before it is removed (ISO-8601 period).",
    ),
    key(
        "deletion.batchsize.deceased",
        Some("1000"),
        "CPR numbers handled per batch (one transaction) by OrganDonorDeceasedCleanup.",
    ),
    key(
        "personinformation.batchsize.deceased",
        Some("100"),
        "CPR numbers per PersonInformation request in OrganDonorDeceasedCleanup.",
    ),
    key(
        "deletion.desired.execution.duration.emigrated",
        Some("PT20S"),
        "Time budget of one slice of OrganDonorEmigratedCleanup, checked after each operation.",
    ),
    key(
        "deletion.batchsize.emigrated",
        Some("1000"),
        "CPR numbers handled per batch (one transaction) by OrganDonorEmigratedCleanup.",
    ),
    key(
        "personinformation.batchsize.emigrated",
        Some("1000"),
        "CPR numbers per PersonInformation request in OrganDonorEmigratedCleanup.",
    ),
    key(
        "digitalpost.notification.odr.startdate",
        None,
        "First notification date (YYYY-MM-DD); the notification job sends nothing until it is set.",
    ),
    key(
        "digitalpost.notification.odr.send.desired.execution.duration",
        Some("PT20S"),
        "Time budget of one slice of OrganDonorNotification, checked after each operation.",
    ),
    key(
        "digitalpost.notification.odr.send.limit",
        Some("1000"),
        "Letters taken per send batch of the current notification date.",
    ),
    key(
        "digitalpost.notification.odr.legalage.periode.year",
        Some("P18Y"),
        "Age at which the reminder is sent (ISO-8601, whole years only).",
    ),
    key(
        "digitalpost.notification.odr.legalage.offset.days",
        Some("P14D"),
        "How many days before the birthday the reminder is sent (ISO-8601, whole days only).",
    ),
    key(
        "digitalpost.notification.odr.template.digital.undecided",
        Some("ODR/20250911/digital/18aarIkkeTagetStilling"),
        "Digital letter template for citizens without a registration.",
    ),
    key(
        "digitalpost.notification.odr.template.digital.descided",
        Some("ODR/20250911/digital/18aarHarTagetStilling"),
        "Digital letter template for citizens with an active registration (key spelt as in the guide).",
    ),
    key(
        "digitalpost.notification.odr.template.physical.undecided",
        Some("ODR/20250911/physical/18aarIkkeTagetStilling"),
        "Physical letter template for citizens without a registration.",
    ),
    key(
        "digitalpost.notification.odr.template.physical.descided",
        Some("ODR/20250911/physical/18aarHarTagetStilling"),
        "Physical letter template for citizens with an active registration (key spelt as in the guide).",
    ),
    key(
        "digitalpost.notification.odr.alarm.date.period",
        Some("P3D"),
        "How far the newest completed notification date may lag before the alarm page reports it (whole days).",
    ),
    key(
        "datasource.odr.jndi-name",
        Some("java:jboss/datasources/ODR-DS"),
        "Name of the ODR datasource, used only in alarm texts.",
    ),
    key(
        "server.bind",
        Some("127.0.0.1:8080"),
        "Address and port the HTTP server listens on.",
    ),
    key(
        "datasource.odr.url",
        Some("sqlite://odr.db"),
        "ODR database: sqlite://<path> or mysql://user:pass@host:port/db.",
    ),
    key(
        "datasource.odr.pool.size",
        Some("10"),
        "Connection pool size of each datasource.",
    ),
    key(
        "datasource.odr.migrate",
        Some("true"),
        "Apply database migrations when serve starts (true/false).",
    ),
    key(
        "datasource.stamdata.url",
        None,
        "Database holding v2_person_simplified, if not the ODR database (same URL forms).",
    ),
    key(
        "operations.timezone",
        Some("Europe/Copenhagen"),
        "Time zone in which today and notification dates are computed.",
    ),
    key(
        "operations.start.token",
        None,
        "If set, start URLs require the header Authorization: Bearer <token>.",
    ),
    key(
        "logging.config",
        Some("log4rs.yaml"),
        "log4rs configuration file; if missing, the application logs to the console only.",
    ),
];

/// A malformed configuration value, phrased as the one line printed before exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The properties file exists but cannot be read.
    #[error("{file}: cannot be read: {reason}")]
    Unreadable { file: String, reason: String },
    /// A line is not `key=value`.
    #[error("{file}: line {line} is not of the form key=value: \"{text}\"")]
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

/// A calendar period such as `P12M`: years and months are calendar units, the rest fixed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Whole months (years count as 12).
    pub months: u32,
    /// Fixed part (days, hours, minutes, seconds).
    pub fixed: Duration,
}

impl Period {
    /// The instant this period before `t` (calendar arithmetic for months, clamped to month end).
    pub fn before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let base = t.checked_sub_months(Months::new(self.months)).unwrap_or(t);
        let fixed = chrono::Duration::from_std(self.fixed).unwrap_or_else(|_| chrono::Duration::zero());
        base - fixed
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
        let (values, warnings) = parse_properties(file, text)?;
        let r = Reader { file, values: &values };
        let person_information = ServiceSettings {
            url: r.url("personinformation.url")?,
            max_total_connections: r.positive("personinformation.maxTotalConnections")?,
            max_per_route: r.positive("personinformation.defaultMaxConnectionsPerRoute")?,
            connect_timeout: Duration::from_millis(r.positive::<u64>("personinformation.defaultConnectionTimeoutMs")?),
            error_tolerance: r.number("personinformation.error.tolerance")?,
            errorcount_duration: r.fixed_duration("personinformation.errorcount.duration")?,
        };
        let digital_post = ServiceSettings {
            url: r.url("digitalpost.service.url")?,
            max_total_connections: r.positive("digitalpost.max.total.connections")?,
            max_per_route: r.positive("digitalpost.default.max.connections.per.route")?,
            connect_timeout: Duration::from_millis(r.positive::<u64>("digitalpost.default.connection.timeout.ms")?),
            error_tolerance: r.number("digitalpost.error.tolerance")?,
            errorcount_duration: r.fixed_duration("digitalpost.errorcount.duration")?,
        };
        let deceased = CleanupSettings {
            desired_duration: r.fixed_duration("deletion.desired.execution.duration.deceased")?,
            batch_size: r.positive("deletion.batchsize.deceased")?,
            personinformation_batch_size: r.positive("personinformation.batchsize.deceased")?,
        };
        let emigrated = CleanupSettings {
            desired_duration: r.fixed_duration("deletion.desired.execution.duration.emigrated")?,
            batch_size: r.positive("deletion.batchsize.emigrated")?,
            personinformation_batch_size: r.positive("personinformation.batchsize.emigrated")?,
        };
        let notification = NotificationSettings {
            start_date: r.optional_date("digitalpost.notification.odr.startdate")?,
            desired_duration: r.fixed_duration("digitalpost.notification.odr.send.desired.execution.duration")?,
            send_limit: r.positive("digitalpost.notification.odr.send.limit")?,
            legal_age_years: r.whole_years("digitalpost.notification.odr.legalage.periode.year")?,
            offset_days: r.whole_days("digitalpost.notification.odr.legalage.offset.days")?,
            templates: Templates {
                digital_undecided: r.text("digitalpost.notification.odr.template.digital.undecided")?,
                digital_decided: r.text("digitalpost.notification.odr.template.digital.descided")?,
                physical_undecided: r.text("digitalpost.notification.odr.template.physical.undecided")?,
                physical_decided: r.text("digitalpost.notification.odr.template.physical.descided")?,
            },
            alarm_period_days: r.whole_days("digitalpost.notification.odr.alarm.date.period")?,
        };
        let database = DatabaseSettings {
            url: r.db_url("datasource.odr.url")?,
            pool_size: r.positive("datasource.odr.pool.size")?,
            migrate: r.boolean("datasource.odr.migrate")?,
            stamdata_url: match r.raw("datasource.stamdata.url") {
                Some(_) => Some(r.db_url("datasource.stamdata.url")?),
                None => None,
            },
            jndi_name: r.text("datasource.odr.jndi-name")?,
        };
        Ok(Settings {
            source: file.to_string(),
            person_information,
            digital_post,
            deceased,
            deceased_save: r.period("deletion.save.deceased")?,
            emigrated,
            notification,
            database,
            server_bind: r.socket_addr("server.bind")?,
            timezone: r.timezone("operations.timezone")?,
            start_token: r.raw("operations.start.token").map(|t| Secret(t.to_string())),
            logging_config: PathBuf::from(r.text("logging.config")?),
            warnings,
        })
    }
}

/// Parses `key=value` lines (also `key: value`, as Java does); `#`/`!` start comments.
fn parse_properties(file: &str, text: &str) -> Result<(HashMap<String, String>, Vec<String>), ConfigError> {
    let mut values = HashMap::new();
    let mut warnings = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(pos) = line.find(['=', ':']) else {
            return Err(ConfigError::Syntax {
                file: file.to_string(),
                line: i + 1,
                text: line.to_string(),
            });
        };
        let k = line[..pos].trim();
        let v = line[pos + 1..].trim();
        if k.is_empty() {
            return Err(ConfigError::Syntax {
                file: file.to_string(),
                line: i + 1,
                text: line.to_string(),
            });
        }
        if !KEYS.iter().any(|d| d.name == k) {
            warnings.push(format!("{file}: unknown key {k} on line {} is ignored", i + 1));
            continue;
        }
        if values.insert(k.to_string(), v.to_string()).is_some() {
            warnings.push(format!("{file}: key {k} is set more than once; line {} wins", i + 1));
        }
    }
    Ok((values, warnings))
}

/// Longest duration accepted anywhere: keeps every date computation far from overflow.
const MAX_YEARS: f64 = 100.0;
const TOO_LONG: &str = "is longer than 100 years";

/// Seconds as a `Duration`, if within [`MAX_YEARS`].
fn bounded(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs <= MAX_YEARS * 366.0 * 86_400.0).then(|| Duration::from_secs_f64(secs))
}

struct Reader<'a> {
    file: &'a str,
    values: &'a HashMap<String, String>,
}

impl Reader<'_> {
    /// The configured value, or the default; an empty value counts as unset.
    fn raw(&self, key: &str) -> Option<&str> {
        match self.values.get(key).map(String::as_str) {
            Some(v) if !v.is_empty() => Some(v),
            Some(_) => None,
            None => KEYS.iter().find(|d| d.name == key).and_then(|d| d.default),
        }
    }

    fn bad(&self, key: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    fn text(&self, key: &str) -> Result<String, ConfigError> {
        self.raw(key)
            .map(str::to_string)
            .ok_or_else(|| self.bad(key, "", "must not be empty"))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, ConfigError> {
        let v = self.text(key)?;
        v.parse()
            .map_err(|_| self.bad(key, &v, "is not a whole number (example: 20)"))
    }

    fn positive<T: std::str::FromStr + PartialOrd + Default>(&self, key: &str) -> Result<T, ConfigError> {
        let v = self.text(key)?;
        match v.parse::<T>() {
            Ok(n) if n > T::default() => Ok(n),
            _ => Err(self.bad(key, &v, "is not a positive whole number (example: 100)")),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        let v = self.text(key)?;
        match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(key, &v, "is not true or false")),
        }
    }

    fn url(&self, key: &str) -> Result<String, ConfigError> {
        let v = self.text(key)?;
        match reqwest::Url::parse(&v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(v.trim_end_matches('/').to_string())
            }
            _ => Err(self.bad(key, &v, "is not an http(s) URL (example: http://localhost:8081/path)")),
        }
    }

    fn db_url(&self, key: &str) -> Result<DbUrl, ConfigError> {
        let v = self.text(key)?;
        let url = DbUrl::parse(&v).map_err(|_| {
            self.bad(
                key,
                &db_url::mask_password(&v),
                "is not a database URL (example: sqlite://odr.db or mysql://user:pass@host:3306/odr)",
            )
        })?;
        if !url.backend.is_compiled() {
            return Err(self.bad(key, &url.masked(), &format!("cannot be used: {}", db_url::NO_MARIADB)));
        }
        Ok(url)
    }

    fn socket_addr(&self, key: &str) -> Result<String, ConfigError> {
        let v = self.text(key)?;
        let ok = v
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if ok {
            Ok(v)
        } else {
            Err(self.bad(key, &v, "is not a host:port address (example: 127.0.0.1:8080)"))
        }
    }

    fn timezone(&self, key: &str) -> Result<Tz, ConfigError> {
        let v = self.text(key)?;
        v.parse::<Tz>()
            .map_err(|_| self.bad(key, &v, "is not an IANA time zone (example: Europe/Copenhagen)"))
    }

    fn optional_date(&self, key: &str) -> Result<Option<NaiveDate>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| self.bad(key, v, "is not a date (example: 2026-01-31)")),
        }
    }

    fn iso(&self, key: &str, example: &str) -> Result<(String, iso8601_duration::Duration), ConfigError> {
        let v = self.text(key)?;
        match v.parse::<iso8601_duration::Duration>() {
            Ok(d)
                if [d.year, d.month, d.day, d.hour, d.minute, d.second]
                    .iter()
                    .all(|x| x.is_finite() && *x >= 0.0) =>
            {
                Ok((v, d))
            }
            _ => Err(self.bad(key, &v, &format!("is not an ISO-8601 duration (example: {example})"))),
        }
    }

    /// A duration without years or months, e.g. `PT20S`.
    fn fixed_duration(&self, key: &str) -> Result<Duration, ConfigError> {
        let (v, d) = self.iso(key, "PT20S")?;
        if d.year != 0.0 || d.month != 0.0 {
            return Err(self.bad(
                key,
                &v,
                "must be a fixed ISO-8601 duration without years or months (example: PT20S)",
            ));
        }
        let secs = f64::from(d.day) * 86_400.0
            + f64::from(d.hour) * 3_600.0
            + f64::from(d.minute) * 60.0
            + f64::from(d.second);
        if secs <= 0.0 {
            return Err(self.bad(key, &v, "must be a positive ISO-8601 duration (example: PT20S)"));
        }
        bounded(secs).ok_or_else(|| self.bad(key, &v, TOO_LONG))
    }

    /// A calendar period, e.g. `P12M`; years and months must be whole.
    fn period(&self, key: &str) -> Result<Period, ConfigError> {
        let (v, d) = self.iso(key, "P12M")?;
        if d.year.fract() != 0.0 || d.month.fract() != 0.0 {
            return Err(self.bad(key, &v, "must use whole years and months (example: P12M)"));
        }
        let secs = f64::from(d.day) * 86_400.0
            + f64::from(d.hour) * 3_600.0
            + f64::from(d.minute) * 60.0
            + f64::from(d.second);
        let months = f64::from(d.year) * 12.0 + f64::from(d.month);
        if months == 0.0 && secs <= 0.0 {
            return Err(self.bad(key, &v, "must be a positive ISO-8601 period (example: P12M)"));
        }
        if months > MAX_YEARS * 12.0 {
            return Err(self.bad(key, &v, TOO_LONG));
        }
        let fixed = bounded(secs).ok_or_else(|| self.bad(key, &v, TOO_LONG))?;
        Ok(Period {
            months: months as u32,
            fixed,
        })
    }

    fn whole_years(&self, key: &str) -> Result<u32, ConfigError> {
        let (v, d) = self.iso(key, "P18Y")?;
        let only_years = d.month == 0.0 && d.day == 0.0 && d.hour == 0.0 && d.minute == 0.0 && d.second == 0.0;
        if !only_years || d.year.fract() != 0.0 || d.year < 1.0 {
            return Err(self.bad(key, &v, "must be whole years only (example: P18Y)"));
        }
        if f64::from(d.year) > MAX_YEARS {
            return Err(self.bad(key, &v, TOO_LONG));
        }
        Ok(d.year as u32)
    }

    fn whole_days(&self, key: &str) -> Result<u32, ConfigError> {
        let (v, d) = self.iso(key, "P14D")?;
        let only_days = d.year == 0.0 && d.month == 0.0 && d.hour == 0.0 && d.minute == 0.0 && d.second == 0.0;
        if !only_days || d.day.fract() != 0.0 {
            return Err(self.bad(key, &v, "must be whole days only (example: P14D)"));
        }
        if f64::from(d.day) > MAX_YEARS * 366.0 {
            return Err(self.bad(key, &v, TOO_LONG));
        }
        Ok(d.day as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_subtracts_calendar_months() {
        let p = Period {
            months: 12,
            fixed: Duration::ZERO,
        };
        let t = "2026-02-28T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(p.before(t).to_rfc3339(), "2025-02-28T10:00:00+00:00");
    }
}
