//! The stale-job alarm (issue 18): a job whose last working slice is older than its max age
//! gets a line on its alarm page; a fresh installation only after the max age from its first
//! start; a recent run clears it; an empty max age turns it off; ?detailed and /metrics show it.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Copenhagen;

use crate::both_backends;
use crate::fixture::sql::registration;
use crate::fixture::{Backend, TestDbExt, TestEnv};

const SLETTEJOB_ALARM: &str = "/odr-operations/odr-slettejob/alarm";
const NOTIFICATION_ALARM: &str = "/odr-operations/odr-send-digitalpost-notifikation/alarm";
const DECEASED: &str = "/odr-operations/odr-slettejob/deceased/start";

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Copenhagen).format("%Y-%m-%d %H:%M").to_string()
}

async fn a_job_that_has_not_worked_for_longer_than_its_max_age_is_reported(backend: Backend) {
    let props = "deletion.alarm.maxage.emigrated=\ndigitalpost.notification.odr.alarm.maxage=PT36H\n\
                 digitalpost.notification.odr.startdate=2020-01-01";
    let Some(env) = TestEnv::start(backend, props).await else {
        return;
    };
    let (db, app) = (&env.db, &env.app);
    db.execute(&registration("0101401111", "2020-01-01 10:00:00.000000", None));
    let installed = Utc::now();
    // A fresh installation is not reported at once.
    assert_eq!(app.get_text(SLETTEJOB_ALARM).await, (200, String::new()));
    let (_, lines) = app.alarm(NOTIFICATION_ALARM).await;
    assert!(!lines.iter().any(|l| l.contains("har ikke kørt")), "{lines:?}");

    // Two days and a bit later nothing has run: the deceased job (P2D) and the notification
    // job (PT36H) are reported since the installation; the emigrated job's alarm is off.
    app.clock().set_now(installed + Duration::hours(49));
    let (code, lines) = app.alarm(SLETTEJOB_ALARM).await;
    assert_eq!(code, 500);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let since = &lines[0];
    let prefix = "Baggrundsjobbet OrganDonorDeceasedCleanup har ikke kørt siden installationen ";
    assert!(
        since.starts_with(prefix) && since.ends_with(" (grænse P2D)."),
        "{since}"
    );
    // The installation time is the first migration (the database clock, within this test's minute).
    let shown = &since[prefix.len()..prefix.len() + 16];
    let near: Vec<String> = [-1, 0, 1]
        .iter()
        .map(|m| local(installed + Duration::minutes(*m)))
        .collect();
    assert!(near.iter().any(|n| n == shown), "{shown} vs {near:?}");
    let (code, lines) = app.alarm(NOTIFICATION_ALARM).await;
    assert_eq!(code, 500);
    assert!(
        lines.iter().any(|l| l
            .starts_with("Baggrundsjobbet OrganDonorNotification har ikke kørt siden installationen ")
            && l.ends_with(" (grænse PT36H).")),
        "{lines:?}"
    );

    // A run clears it, and the next alarm names the run's time exactly.
    let ran_at = installed + Duration::hours(50);
    app.clock().set_now(ran_at);
    assert!(app.start(DECEASED).await.contains(": Finished after "));
    assert_eq!(app.get_text(SLETTEJOB_ALARM).await, (200, String::new()));
    app.clock().set_now(ran_at + Duration::days(2) + Duration::minutes(1));
    let (code, lines) = app.alarm(SLETTEJOB_ALARM).await;
    assert_eq!(code, 500);
    let ended = crate::fixture::texts(
        db,
        "SELECT CAST(EndedAt AS CHAR) AS m FROM JobRun WHERE Outcome = 'Finished'",
    );
    let ended: DateTime<Utc> = chrono::NaiveDateTime::parse_from_str(&ended[0], "%Y-%m-%d %H:%M:%S%.f")
        .unwrap()
        .and_utc();
    assert_eq!(
        lines,
        [format!(
            "Baggrundsjobbet OrganDonorDeceasedCleanup har ikke kørt siden {} (grænse P2D).",
            local(ended)
        )]
    );
    // ?detailed has the figures, /metrics the gauges.
    let detailed: serde_json::Value = app
        .get(&format!("{SLETTEJOB_ALARM}?detailed"))
        .await
        .json()
        .await
        .unwrap();
    let stale = detailed["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "StaleJobIndicator (OrganDonorDeceasedCleanup)")
        .unwrap()
        .clone();
    assert_eq!(stale["state"], "ALARM");
    assert_eq!(stale["figures"]["maxAge"], "P2D");
    assert_eq!(stale["figures"]["maxAgeSeconds"], 172_800);
    let seconds = stale["figures"]["secondsSinceLastWork"].as_i64().unwrap();
    assert!((172_800..172_900).contains(&seconds), "{seconds}");
    let metrics = app.get_text("/odr-operations/metrics").await.1;
    let gauge = |name: &str, job: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("odr_{name}{{job=\"{job}\"}} ")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    // A second may pass between the two requests (the app clock runs on from its set time).
    let gauged = gauge("job_seconds_since_last_work", "OrganDonorDeceasedCleanup").unwrap();
    assert!(
        (seconds as f64..=seconds as f64 + 5.0).contains(&gauged),
        "{gauged} vs {seconds}"
    );
    assert_eq!(
        gauge("job_stale_limit_seconds", "OrganDonorDeceasedCleanup"),
        Some(172_800.0)
    );
    assert_eq!(
        gauge("job_stale_limit_seconds", "OrganDonorEmigratedCleanup"),
        None,
        "off: no series"
    );
    assert_eq!(
        gauge("job_stale_limit_seconds", "OrganDonorNotification"),
        Some(129_600.0)
    );
    env.stop().await;
}
both_backends!(a_job_that_has_not_worked_for_longer_than_its_max_age_is_reported);

/// Without a start date the notification job is disabled: never stale, as it never lags.
async fn a_disabled_notification_job_is_never_stale(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    env.app.clock().set_now(Utc::now() + Duration::days(30));
    assert_eq!(env.app.get_text(NOTIFICATION_ALARM).await, (200, String::new()));
    env.stop().await;
}
both_backends!(a_disabled_notification_job_is_never_stale);
