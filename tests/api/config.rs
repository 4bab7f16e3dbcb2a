//! operations.properties: every default, every kind of bad value, the repo's file, exit code 2.

use std::time::Duration;

use odr_operations::config::{Settings, KEYS};

fn parse(text: &str) -> Result<Settings, String> {
    Settings::from_properties("operations.properties", text).map_err(|e| e.to_string())
}

#[test]
fn every_key_has_the_guides_default() {
    let s = Settings::defaults();
    assert_eq!(
        s.person_information.url,
        "http://localhost:8081/stamdata-personinformation/2024/08/01"
    );
    assert_eq!(s.person_information.max_total_connections, 200);
    assert_eq!(s.person_information.max_per_route, 20);
    assert_eq!(s.person_information.connect_timeout, Duration::from_millis(20_000));
    assert_eq!(s.person_information.error_tolerance, 0);
    assert_eq!(s.person_information.errorcount_duration, Duration::from_secs(600));
    assert_eq!(s.digital_post.url, "http://localhost:8082/digitalpost/2024/05/29/send");
    assert_eq!(s.digital_post.max_total_connections, 200);
    assert_eq!(s.digital_post.max_per_route, 20);
    assert_eq!(s.digital_post.connect_timeout, Duration::from_millis(20_000));
    assert_eq!(s.digital_post.error_tolerance, 0);
    assert_eq!(s.digital_post.errorcount_duration, Duration::from_secs(600));
    assert_eq!(s.deceased.desired_duration, Duration::from_secs(20));
    assert_eq!(s.deceased_save.months, 12);
    assert_eq!(s.deceased_save.fixed, Duration::ZERO);
    assert_eq!(s.deceased.batch_size, 1000);
    assert_eq!(s.deceased.personinformation_batch_size, 100);
    assert_eq!(s.emigrated.desired_duration, Duration::from_secs(20));
    assert_eq!(s.emigrated.batch_size, 1000);
    assert_eq!(s.emigrated.personinformation_batch_size, 1000);
    assert_eq!(s.notification.start_date, None);
    assert_eq!(s.notification.desired_duration, Duration::from_secs(20));
    assert_eq!(s.notification.send_limit, 1000);
    assert_eq!(s.notification.legal_age_years, 18);
    assert_eq!(s.notification.offset_days, 14);
    assert_eq!(
        s.notification.templates.digital_undecided,
        "ODR/20250911/digital/18aarIkkeTagetStilling"
    );
    assert_eq!(
        s.notification.templates.digital_decided,
        "ODR/20250911/digital/18aarHarTagetStilling"
    );
    assert_eq!(
        s.notification.templates.physical_undecided,
        "ODR/20250911/physical/18aarIkkeTagetStilling"
    );
    assert_eq!(
        s.notification.templates.physical_decided,
        "ODR/20250911/physical/18aarHarTagetStilling"
    );
    assert_eq!(s.notification.alarm_period_days, 3);
    assert_eq!(s.database.jndi_name, "java:jboss/datasources/ODR-DS");
    assert_eq!(s.server_bind, "127.0.0.1:8080");
    assert_eq!(s.database.url.expose(), "sqlite://odr.db");
    assert_eq!(s.database.pool_size, 10);
    assert!(s.database.migrate);
    assert_eq!(s.database.stamdata_url, None);
    assert_eq!(s.timezone, chrono_tz::Europe::Copenhagen);
    assert!(s.start_token.is_none());
    assert_eq!(s.logging_config.to_str(), Some("log4rs.yaml"));
}

#[test]
fn values_are_read_and_trimmed() {
    let s = parse(
        "# comment\n  deletion.batchsize.deceased =  250  \ndigitalpost.notification.odr.startdate=2026-01-31\n\
         operations.start.token=s3cret\ndeletion.save.deceased=P1Y6M\ndatasource.odr.migrate=false\n",
    )
    .unwrap();
    assert_eq!(s.deceased.batch_size, 250);
    assert_eq!(
        s.notification.start_date.map(|d| d.to_string()).as_deref(),
        Some("2026-01-31")
    );
    assert_eq!(s.start_token.as_ref().map(|t| t.expose()), Some("s3cret"));
    assert_eq!(format!("{:?}", s.start_token), "Some(***)", "the token never prints");
    assert_eq!(s.deceased_save.months, 18);
    assert!(!s.database.migrate);
}

#[test]
fn each_kind_of_bad_value_names_file_key_value_and_form() {
    let cases = [
        ("deletion.save.deceased", "12 months", "operations.properties: deletion.save.deceased = \"12 months\" is not an ISO-8601 duration (example: P12M)"),
        ("deletion.desired.execution.duration.deceased", "20s", "operations.properties: deletion.desired.execution.duration.deceased = \"20s\" is not an ISO-8601 duration (example: PT20S)"),
        ("deletion.save.deceased", "P1000Y", "operations.properties: deletion.save.deceased = \"P1000Y\" is longer than 100 years"),
        ("deletion.desired.execution.duration.deceased", "PT99999999999S", "operations.properties: deletion.desired.execution.duration.deceased = \"PT99999999999S\" is longer than 100 years"),
        ("deletion.desired.execution.duration.emigrated", "P1M", "operations.properties: deletion.desired.execution.duration.emigrated = \"P1M\" must be a fixed ISO-8601 duration without years or months (example: PT20S)"),
        ("digitalpost.notification.odr.legalage.periode.year", "P18Y6M", "operations.properties: digitalpost.notification.odr.legalage.periode.year = \"P18Y6M\" must be whole years only (example: P18Y)"),
        ("digitalpost.notification.odr.legalage.periode.year", "P17.5Y", "operations.properties: digitalpost.notification.odr.legalage.periode.year = \"P17.5Y\" must be whole years only (example: P18Y)"),
        ("digitalpost.notification.odr.legalage.offset.days", "PT14H", "operations.properties: digitalpost.notification.odr.legalage.offset.days = \"PT14H\" must be whole days only (example: P14D)"),
        ("digitalpost.notification.odr.alarm.date.period", "three days", "operations.properties: digitalpost.notification.odr.alarm.date.period = \"three days\" is not an ISO-8601 duration (example: P14D)"),
        ("digitalpost.notification.odr.startdate", "31-01-2026", "operations.properties: digitalpost.notification.odr.startdate = \"31-01-2026\" is not a date (example: 2026-01-31)"),
        ("deletion.batchsize.deceased", "many", "operations.properties: deletion.batchsize.deceased = \"many\" is not a positive whole number (example: 100)"),
        ("deletion.batchsize.deceased", "0", "operations.properties: deletion.batchsize.deceased = \"0\" is not a positive whole number (example: 100)"),
        ("personinformation.error.tolerance", "-1", "operations.properties: personinformation.error.tolerance = \"-1\" is not a whole number (example: 20)"),
        ("personinformation.url", "localhost:8081", "operations.properties: personinformation.url = \"localhost:8081\" is not an http(s) URL (example: http://localhost:8081/path)"),
        ("datasource.odr.url", "postgres://x/y", "operations.properties: datasource.odr.url = \"postgres://x/y\" is not a database URL (example: sqlite://odr.db or mysql://user:pass@host:3306/odr)"),
        ("datasource.odr.migrate", "yes", "operations.properties: datasource.odr.migrate = \"yes\" is not true or false"),
        ("server.bind", "8080", "operations.properties: server.bind = \"8080\" is not a host:port address (example: 127.0.0.1:8080)"),
        ("operations.timezone", "Europe/Aarhus", "operations.properties: operations.timezone = \"Europe/Aarhus\" is not an IANA time zone (example: Europe/Copenhagen)"),
    ];
    for (key, value, expected) in cases {
        let err = parse(&format!("{key}={value}\n")).expect_err(key);
        assert_eq!(err, expected);
    }
    // Java rules: a blank separates key and value, so this is the unknown key `this`.
    let s = parse("this line has no separator\n").unwrap();
    assert_eq!(
        s.warnings,
        ["operations.properties: unknown key this on line 1 is ignored"]
    );
    let err = parse("server.bind=127.0.0.1:\\u80x0\n").expect_err("syntax");
    assert!(
        err.starts_with("operations.properties: server.bind = \"127.0.0.1:\\u80x0\" cannot be read on line 1: "),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn unknown_keys_are_warnings_not_errors() {
    let s = parse("deletion.save.decesed=P12M\n").unwrap();
    assert_eq!(
        s.warnings,
        vec!["operations.properties: unknown key deletion.save.decesed on line 1 is ignored".to_string()]
    );
}

#[test]
fn the_repos_properties_file_lists_every_key_with_its_default_in_order() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/operations.properties")).unwrap();
    let mut listed = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        let setting = l.strip_prefix('#').map(str::trim).unwrap_or(l);
        if let Some((k, v)) = setting.split_once('=') {
            if KEYS.iter().any(|d| d.name == k.trim()) {
                listed.push((k.trim().to_string(), v.trim().to_string(), l.starts_with('#')));
            }
        }
    }
    let names: Vec<&str> = listed.iter().map(|(k, _, _)| k.as_str()).collect();
    let expected: Vec<&str> = KEYS.iter().map(|d| d.name).collect();
    assert_eq!(names, expected);
    for ((_, value, commented), def) in listed.iter().zip(KEYS) {
        match def.default {
            Some(d) => assert_eq!((value.as_str(), *commented), (d, false), "{}", def.name),
            None => assert!(
                *commented && value.is_empty(),
                "{} has no default and stays commented out",
                def.name
            ),
        }
    }
    let parsed = Settings::from_properties("operations.properties", &text).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn a_bad_value_refuses_start_up_with_exit_code_2_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("operations.properties");
    std::fs::write(&file, "deletion.save.deceased=12 months\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_odr-operations"))
        .args(["--config", file.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "{}: deletion.save.deceased = \"12 months\" is not an ISO-8601 duration (example: P12M)",
            file.display()
        )
    );
}

#[test]
fn an_explicit_config_file_that_is_missing_refuses_start_up() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_odr-operations"))
        .args(["--config", "/nonexistent/odr/operations.properties", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/odr/operations.properties: cannot be read"));
}

mod fuzz {
    use odr_operations::config::{Settings, KEYS};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any value of any key: settings or one line naming that key, never a panic.
        #[test]
        fn any_value_of_any_key_is_accepted_or_named(key_index in 0..KEYS.len(), value in "\\PC{0,40}") {
            let key = KEYS[key_index].name;
            let text = format!("{key}={value}\n");
            match Settings::from_properties("fuzz.properties", &text) {
                Ok(_) => {}
                Err(e) => {
                    let line = e.to_string();
                    prop_assert!(!line.contains('\n'), "one line: {line}");
                    prop_assert!(line.starts_with(&format!("fuzz.properties: {key} = \"")), "{line}");
                }
            }
        }

        /// Any file content: settings or an error line, never a panic.
        #[test]
        fn any_file_is_accepted_or_refused_with_one_line(text in "(\\PC{0,30}[=:]?\\PC{0,30}\n){0,8}") {
            if let Err(e) = Settings::from_properties("fuzz.properties", &text) {
                prop_assert!(e.to_string().starts_with("fuzz.properties: "));
            }
        }

        /// Durations in every ISO-8601 shape.
        #[test]
        fn iso_durations_never_panic(y in 0u32..40, m in 0u32..30, d in 0u32..400, h in 0u32..30, s in 0u32..100, frac in any::<bool>()) {
            let v = if frac { format!("P{y}Y{m}M{d}DT{h}H{s}.5S") } else { format!("P{y}Y{m}M{d}DT{h}H{s}S") };
            for key in ["deletion.save.deceased", "deletion.desired.execution.duration.deceased",
                        "digitalpost.notification.odr.legalage.periode.year", "digitalpost.notification.odr.legalage.offset.days"] {
                let _ = Settings::from_properties("fuzz.properties", &format!("{key}={v}\n"));
            }
        }
    }
}
