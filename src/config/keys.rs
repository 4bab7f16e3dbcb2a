//! Every key the service understands, declared once with its default and a one-line doc, in
//! the operator guide's order, then ours. The repo's `operations.properties` is checked
//! against this table by a test.

/// One configuration key: name, default (None = unset) and a one-line description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDef {
    /// Property name, spelt as in the operator guide.
    pub name: &'static str,
    /// Default value, or `None` when the key has no default.
    pub default: Option<&'static str>,
    /// One-line English description for the generated properties file and docs.
    pub doc: &'static str,
}

/// Declares each key as a `KeyDef` constant and lists them all, in order, in [`KEYS`].
macro_rules! keys {
    ($($id:ident = $name:literal, $default:expr, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub const $id: KeyDef = KeyDef { name: $name, default: $default, doc: $doc };
        )*
        /// Every key, in the order of the repo's `operations.properties`.
        pub const KEYS: &[KeyDef] = &[$($id),*];
    };
}

keys! {
    PI_URL = "personinformation.url",
        Some("http://localhost:8081/stamdata-personinformation/2024/08/01"),
        "Base URL of the stamdata PersonInformation service.";
    PI_MAX_TOTAL = "personinformation.maxTotalConnections",
        Some("200"),
        "Maximum number of connections to PersonInformation in total.";
    PI_MAX_PER_ROUTE = "personinformation.defaultMaxConnectionsPerRoute",
        Some("20"),
        "Maximum number of connections (and requests in flight) to PersonInformation per route.";
    PI_TIMEOUT_MS = "personinformation.defaultConnectionTimeoutMs",
        Some("20000"),
        "Connection timeout towards PersonInformation, in milliseconds.";
    PI_ERROR_TOLERANCE = "personinformation.error.tolerance",
        Some("0"),
        "PersonInformation errors tolerated within the window before the alarm page reports them.";
    PI_ERROR_WINDOW = "personinformation.errorcount.duration",
        Some("PT10M"),
        "Sliding window in which PersonInformation errors are counted (ISO-8601 duration).";
    DP_URL = "digitalpost.service.url",
        Some("http://localhost:8082/digitalpost/2024/05/29/send"),
        "URL of the Digital Post Adapter send operation (SOAP).";
    DP_MAX_TOTAL = "digitalpost.max.total.connections",
        Some("200"),
        "Maximum number of connections to the Digital Post Adapter in total.";
    DP_MAX_PER_ROUTE = "digitalpost.default.max.connections.per.route",
        Some("20"),
        "Maximum number of connections (and letters in flight) to the Digital Post Adapter per route.";
    DP_TIMEOUT_MS = "digitalpost.default.connection.timeout.ms",
        Some("20000"),
        "Connection timeout towards the Digital Post Adapter, in milliseconds.";
    DP_ERROR_TOLERANCE = "digitalpost.error.tolerance",
        Some("0"),
        "Digital Post errors tolerated within the window before the alarm page reports them.";
    DP_ERROR_WINDOW = "digitalpost.errorcount.duration",
        Some("PT10M"),
        "Sliding window in which Digital Post errors are counted (ISO-8601 duration).";
    DECEASED_BUDGET = "deletion.desired.execution.duration.deceased",
        Some("PT20S"),
        "Time budget of one slice of OrganDonorDeceasedCleanup, checked after each operation.";
    DECEASED_SAVE = "deletion.save.deceased",
        Some("P12M"),
        "How long after death a citizen's data is kept before it is removed (ISO-8601 period).";
    DECEASED_BATCH = "deletion.batchsize.deceased",
        Some("1000"),
        "CPR numbers handled per batch (one transaction) by OrganDonorDeceasedCleanup.";
    DECEASED_PI_BATCH = "personinformation.batchsize.deceased",
        Some("100"),
        "CPR numbers per PersonInformation request in OrganDonorDeceasedCleanup.";
    DECEASED_MAX_AGE = "deletion.alarm.maxage.deceased",
        Some("P2D"),
        "The alarm page reports OrganDonorDeceasedCleanup when its last working slice is older than this (ISO-8601; empty: off).";
    EMIGRATED_BUDGET = "deletion.desired.execution.duration.emigrated",
        Some("PT20S"),
        "Time budget of one slice of OrganDonorEmigratedCleanup, checked after each operation.";
    EMIGRATED_BATCH = "deletion.batchsize.emigrated",
        Some("1000"),
        "CPR numbers handled per batch (one transaction) by OrganDonorEmigratedCleanup.";
    EMIGRATED_PI_BATCH = "personinformation.batchsize.emigrated",
        Some("1000"),
        "CPR numbers per PersonInformation request in OrganDonorEmigratedCleanup.";
    EMIGRATED_MAX_AGE = "deletion.alarm.maxage.emigrated",
        Some("P2D"),
        "The alarm page reports OrganDonorEmigratedCleanup when its last working slice is older than this (ISO-8601; empty: off).";
    NOTIFICATION_START_DATE = "digitalpost.notification.odr.startdate",
        None,
        "First notification date (YYYY-MM-DD); the notification job sends nothing until it is set.";
    NOTIFICATION_BUDGET = "digitalpost.notification.odr.send.desired.execution.duration",
        Some("PT20S"),
        "Time budget of one slice of OrganDonorNotification, checked after each operation.";
    NOTIFICATION_SEND_LIMIT = "digitalpost.notification.odr.send.limit",
        Some("1000"),
        "Letters taken per send batch of the current notification date.";
    NOTIFICATION_LEGAL_AGE = "digitalpost.notification.odr.legalage.periode.year",
        Some("P18Y"),
        "Age at which the reminder is sent (ISO-8601, whole years only).";
    NOTIFICATION_OFFSET_DAYS = "digitalpost.notification.odr.legalage.offset.days",
        Some("P14D"),
        "How many days before the birthday the reminder is sent (ISO-8601, whole days only).";
    TEMPLATE_DIGITAL_UNDECIDED = "digitalpost.notification.odr.template.digital.undecided",
        Some("ODR/20250911/digital/18aarIkkeTagetStilling"),
        "Digital letter template for citizens without a registration.";
    TEMPLATE_DIGITAL_DECIDED = "digitalpost.notification.odr.template.digital.descided",
        Some("ODR/20250911/digital/18aarHarTagetStilling"),
        "Digital letter template for citizens with an active registration (key spelt as in the guide).";
    TEMPLATE_PHYSICAL_UNDECIDED = "digitalpost.notification.odr.template.physical.undecided",
        Some("ODR/20250911/physical/18aarIkkeTagetStilling"),
        "Physical letter template for citizens without a registration.";
    TEMPLATE_PHYSICAL_DECIDED = "digitalpost.notification.odr.template.physical.descided",
        Some("ODR/20250911/physical/18aarHarTagetStilling"),
        "Physical letter template for citizens with an active registration (key spelt as in the guide).";
    NOTIFICATION_ALARM_PERIOD = "digitalpost.notification.odr.alarm.date.period",
        Some("P3D"),
        "How far the newest completed notification date may lag before the alarm page reports it (whole days).";
    NOTIFICATION_MAX_AGE = "digitalpost.notification.odr.alarm.maxage",
        Some("P2D"),
        "The alarm page reports OrganDonorNotification when its last working slice is older than this (ISO-8601; empty: off).";
    JNDI_NAME = "datasource.odr.jndi-name",
        Some("java:jboss/datasources/ODR-DS"),
        "Name of the ODR datasource, used only in alarm texts.";
    SERVER_BIND = "server.bind",
        Some("127.0.0.1:8080"),
        "Address and port the HTTP server listens on.";
    ODR_URL = "datasource.odr.url",
        Some("sqlite://odr.db"),
        "ODR database: sqlite://<path> or mysql://user:pass@host:port/db.";
    POOL_SIZE = "datasource.odr.pool.size",
        Some("10"),
        "Connection pool size of each datasource.";
    MIGRATE = "datasource.odr.migrate",
        Some("true"),
        "Apply database migrations when serve starts (true/false).";
    STAMDATA_URL = "datasource.stamdata.url",
        None,
        "Database holding v2_person_simplified, if not the ODR database (same URL forms).";
    TIMEZONE = "operations.timezone",
        Some("Europe/Copenhagen"),
        "Time zone in which today and notification dates are computed.";
    START_TOKEN = "operations.start.token",
        None,
        "If set, start URLs require the header Authorization: Bearer <token>.";
    DASHBOARD_ENABLED = "dashboard.enabled",
        Some("true"),
        "Serve the read-only HTML dashboard at /odr-operations/ (true/false).";
    LOGGING_CONFIG = "logging.config",
        Some("log4rs.yaml"),
        "log4rs configuration file; if missing, the application logs to the console only.";
}

/// The key named `name`, if the service knows it.
pub fn find(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}
