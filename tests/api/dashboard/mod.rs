//! The operator's dashboard (`/odr-operations/`, `/odr-operations/dashboard`) on both backends:
//! the three jobs with their leases and last runs as `JobRun` holds them, an alarm line after a
//! failed slice, the letters to repair with the runbook SQL, no CPR number anywhere, nothing
//! writable, and `dashboard.enabled=false`. `browser` loads it in headless Chromium.

mod browser;

use odr_operations::simulator::person_information::PiFault;
use odr_operations::simulator::population;

use crate::both_backends;
use crate::fixture::sql::{person, registration};
use crate::fixture::{count, spawn_app, test_db, texts, Backend, TestDbExt, TestEnv};

pub const ROOT: &str = "/odr-operations/";
pub const DASHBOARD: &str = "/odr-operations/dashboard";
pub const CSS: &str = "/odr-operations/dashboard/dashboard.css";
const DECEASED_START: &str = "/odr-operations/odr-slettejob/deceased/start";
const EMIGRATED_START: &str = "/odr-operations/odr-slettejob/emigrated/start";
const NOTIFICATION_START: &str = "/odr-operations/odr-send-digitalpost-notifikation/start";
pub const JOBS: [&str; 3] = [
    "OrganDonorDeceasedCleanup",
    "OrganDonorEmigratedCleanup",
    "OrganDonorNotification",
];
/// The citizen whose letter the fake adapter rejects (an Error row to repair).
const REJECTED: &str = "0712084301";

/// A service that has run every job over a population, with one letter in Error and the
/// deceased cleanup in the middle of a pass; returns it with every CPR number it holds.
pub async fn scenario(backend: Backend) -> Option<(TestEnv, Vec<String>)> {
    let env = TestEnv::start(
        backend,
        "digitalpost.notification.odr.startdate=2026-11-20\n\
         deletion.desired.execution.duration.deceased=PT0.001S\ndeletion.batchsize.deceased=10\n\
         personinformation.batchsize.deceased=5",
    )
    .await?;
    env.app.set_today("2026-11-24");
    let today = "2026-11-24".parse().expect("date");
    let spec = population::Spec {
        seed: 19,
        ..population::demo_spec(150, today)
    };
    let citizens = population::citizens(&spec);
    let now = odr_operations::db::StoredInstant::from_utc(env.app.clock().now());
    population::load(&mut env.db.conn(), &citizens, now, true, |_| {}).expect("population loads");
    env.pi.set_people(population::statuses(&citizens));
    // Recipients of the notification dates 2026-11-20 .. 2026-11-24 (born 2008-12-04 .. 08).
    let mut sql = String::new();
    let mut cprs: Vec<String> = citizens.iter().map(|c| c.cpr.clone()).collect();
    for (cpr, birth) in [
        ("0412084101", "2008-12-04"),
        ("0512084201", "2008-12-05"),
        ("0612084301", "2008-12-06"),
        (REJECTED, "2008-12-07"),
        ("0712084302", "2008-12-07"),
    ] {
        sql.push_str(&person(cpr, birth, "01"));
        cprs.push(cpr.to_string());
    }
    sql.push_str(&registration("0412084101", "2026-01-01 00:00:00", None));
    env.db.execute(&sql);
    env.dp
        .reject_cpr(REJECTED, &format!("Modtageren {REJECTED} kan ikke modtage post"));

    env.app.run_to_end(EMIGRATED_START).await;
    // The fake's latency makes every deceased batch outlast the 1 ms budget on any machine: one
    // batch per slice, so the pass leaves more than 10 runs.
    env.pi.set_latency(std::time::Duration::from_millis(5));
    env.app.run_to_end(DECEASED_START).await;
    // One more slice: a new pass, paused after its first batch, so the resume point is a CPR.
    let paused = env.app.start(DECEASED_START).await;
    assert!(paused.contains(": Paused after "), "{paused}");
    let held = env.app.start(NOTIFICATION_START).await;
    assert!(held.contains("held by its letters: 1 with status Error"), "{held}");
    Some((env, cprs))
}

/// The page's HTML (asserting the answer's code and type).
pub async fn html(env: &TestEnv, path: &str) -> String {
    let res = env.app.get(path).await;
    assert_eq!(res.status().as_u16(), 200, "{path}");
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    res.text().await.expect("body")
}

/// The part of `html` from the element with `id` to the end of its section.
pub fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &html[at..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// The `data-outcome` values of a job's runs table, in page order.
pub fn outcomes(html: &str, job: &str) -> Vec<String> {
    section(html, job)
        .split("data-outcome=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap_or(0)].to_string())
        .collect()
}

/// The newest ten `JobRun.Outcome` values of `job`.
pub fn stored_outcomes(env: &TestEnv, job: &str) -> Vec<String> {
    texts(
        &env.db,
        &format!("SELECT Outcome AS m FROM JobRun WHERE JobName = '{job}' ORDER BY JobRunPID DESC LIMIT 10"),
    )
}

/// What every rendering of the page must hold: the three jobs, their outcomes as stored, no CPR
/// number of the population, and nothing that could start or change anything.
pub fn assert_page(env: &TestEnv, html: &str, cprs: &[String]) {
    for job in JOBS {
        assert!(html.contains(&format!("id=\"{job}\"")), "{job} is on the page");
        assert_eq!(
            outcomes(html, job),
            stored_outcomes(env, job),
            "{job}: the last runs as in JobRun"
        );
    }
    for cpr in cprs {
        assert!(!html.contains(cpr.as_str()), "the page shows a CPR number");
    }
    let lower = html.to_lowercase();
    for writable in ["<form", "<button", "method=", "<script", "<input", "/start\""] {
        assert!(!lower.contains(writable), "the page holds {writable}");
    }
    assert!(
        lower.contains("<meta http-equiv=\"refresh\" content=\"10\">"),
        "it refreshes itself"
    );
    assert!(
        !lower.contains("src=\"http") && !lower.contains("href=\"http"),
        "nothing from elsewhere"
    );
}

async fn the_page_shows_the_jobs_their_runs_leases_progress_and_letters(backend: Backend) {
    let Some((env, cprs)) = scenario(backend).await else {
        return;
    };
    let page = html(&env, ROOT).await;
    assert!(html(&env, DASHBOARD).await.contains("id=\"OrganDonorNotification\""));
    assert_page(&env, &page, &cprs);
    assert_eq!(outcomes(&page, JOBS[0]).len(), 10, "the last 10 runs");
    assert_eq!(outcomes(&page, JOBS[0])[0], "Paused");
    // Idle leases with their fencing tokens; the deceased pass stands somewhere in its range.
    for job in JOBS {
        let token = texts(
            &env.db,
            &format!("SELECT CAST(Token AS CHAR) AS m FROM JobLock WHERE JobName = '{job}'"),
        );
        let s = section(&page, job);
        assert!(
            s.contains("Ledig: ingen node holder jobbet. Fencing token <code>"),
            "{s}"
        );
        assert!(s.contains(&format!("<code>{}</code>", token[0])), "{s}");
    }
    let deceased = section(&page, JOBS[0]);
    assert!(deceased.contains("af CPR-intervallet gennemgået"), "{deceased}");
    assert!(deceased.contains("<progress value=\"0."), "{deceased}");
    // The notification job waits at 2026-11-23 for its Error letter.
    let notification = section(&page, JOBS[2]);
    let of_date = |status: &str| {
        count(
            &env.db,
            &format!(
                "SELECT COUNT(*) AS n FROM NotificationPerson p JOIN NotificationDate d \
                 ON d.NotificationDatePID = p.NotificationDatePID WHERE d.LatestDate = '2026-11-23'{status}"
            ),
        )
    };
    let (sent, all) = (of_date(" AND p.Status = 'Sent'"), of_date(""));
    assert!(all >= 2 && sent == all - 1, "one letter in Error: {sent} of {all}");
    assert!(
        notification.contains(&format!(
            "Dato <strong>2026-11-23</strong>: {sent} af {all} breve sendt."
        )),
        "{notification}"
    );
    let letters = section(&page, "notifikation");
    assert!(
        letters.contains("<dd>2026-11-22</dd>"),
        "newest Completed date: {letters}"
    );
    let pid = texts(
        &env.db,
        "SELECT CAST(NotificationPersonPID AS CHAR) AS m FROM NotificationPerson WHERE Status = 'Error'",
    );
    assert_eq!(pid.len(), 1);
    assert!(
        letters.contains(&format!(
            "update NotificationPerson set Status = &quot;Pending&quot;, SentAtDateTime = null, ErrorMessage = null where NotificationPersonPID = {} and status = &quot;Error&quot;;",
            pid[0]
        )),
        "the runbook SQL: {letters}"
    );
    assert!(
        letters.contains("Modtageren ********** kan ikke modtage post"),
        "{letters}"
    );
    assert!(letters.contains("2026-11-24: endnu ikke udtrukket."), "{letters}");
    // Database and build facts.
    assert!(section(&page, "database").contains("<td>odr</td>"));
    assert!(section(&page, "build").contains(env!("CARGO_PKG_VERSION")));
    // The stylesheet comes from the service itself.
    let res = env.app.get(CSS).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    assert!(res.text().await.expect("css").contains("@media (max-width: 599px)"));
    env.stop().await;
}
both_backends!(the_page_shows_the_jobs_their_runs_leases_progress_and_letters);

async fn an_alarm_line_appears_after_a_failed_slice(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    let cpr = "0101401111";
    env.db.execute(&registration(cpr, "2020-01-01 00:00:00", None));
    env.pi.set_person(cpr, "01", None);
    let line = env.app.start(DECEASED_START).await;
    assert!(line.contains(": Finished after "), "{line}");
    let page = html(&env, ROOT).await;
    assert!(!section(&page, "alarms").contains("Baggrundsjobbet"), "{page}");
    assert!(section(&page, JOBS[0]).contains("<p class=\"muted\">Ingen.</p>"));

    env.pi.set_fault(PiFault::Status(500));
    let line = env.app.start(DECEASED_START).await;
    assert!(line.contains("Failed: "), "{line}");
    let (code, alarm) = env.app.get_text("/odr-operations/odr-slettejob/alarm").await;
    assert_eq!(code, 500);
    let page = html(&env, ROOT).await;
    assert_page(&env, &page, &[cpr.to_string()]);
    for line in alarm.lines() {
        assert!(section(&page, "alarms").contains(line), "{line} on top of the page");
    }
    let failed = alarm
        .lines()
        .find(|l| l.starts_with("Baggrundsjobbet StackedOperationsService fejlede"))
        .expect("the failed-slice line");
    assert!(failed.ends_with("uventet statuskode: 500."), "{failed}");
    let deceased = section(&page, JOBS[0]);
    assert!(deceased.contains(&format!("<li>{failed}</li>")), "{deceased}");
    assert!(!section(&page, JOBS[1]).contains(failed), "only the job that failed");
    assert_eq!(outcomes(&page, JOBS[0]), ["Failed", "Finished"]);
    let pi = section(&page, "PersonInformation");
    assert!(
        pi.contains("<strong>1</strong> fejl inden for de seneste 10 min; tolerance 0."),
        "{pi}"
    );
    assert!(pi.contains("ALARM"), "{pi}");

    // Three days later every job is stale: each stale line stands under its own job.
    env.app.clock().set_offset(chrono::Duration::days(3));
    let (_, alarm) = env.app.get_text("/odr-operations/odr-slettejob/alarm").await;
    let page = html(&env, ROOT).await;
    let mut stale = 0;
    for line in alarm.lines().filter(|l| l.contains(" har ikke kørt siden ")) {
        let job = JOBS
            .iter()
            .find(|j| line.contains(*j))
            .expect("a stale line names its job");
        assert!(section(&page, job).contains(&format!("<li>{line}</li>")), "{line}");
        stale += 1;
    }
    assert_eq!(stale, 2, "both cleanups: {alarm}");
    env.stop().await;
}
both_backends!(an_alarm_line_appears_after_a_failed_slice);

async fn the_page_is_gone_when_dashboard_enabled_is_false(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = spawn_app(&db, "dashboard.enabled=false").await;
    for path in [ROOT, DASHBOARD, CSS] {
        let (code, body) = app.get_text(path).await;
        assert_eq!(code, 404, "{path}");
        assert_eq!(
            body,
            format!("No page at {path}: see README.md for the endpoints under /odr-operations/.\n")
        );
        let res = app
            .client
            .post(format!("{}{path}", app.address))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status().as_u16(), 404, "as any unknown path, whatever the method");
    }
    app.stop().await;
    // Enabled (the default): GET and HEAD only, no token asked even when start URLs need one.
    let app = spawn_app(&db, "operations.start.token=secret").await;
    let (code, _) = app.get_text(ROOT).await;
    assert_eq!(code, 200);
    let res = app
        .client
        .post(format!("{}{ROOT}", app.address))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status().as_u16(), 405);
    let res = app
        .client
        .head(format!("{}{DASHBOARD}", app.address))
        .send()
        .await
        .expect("head");
    assert_eq!(res.status().as_u16(), 200);
    app.stop().await;
}
both_backends!(the_page_is_gone_when_dashboard_enabled_is_false);

async fn a_database_that_is_down_is_shown_not_hidden(backend: Backend) {
    let url = match backend {
        Backend::Sqlite => "sqlite:///nonexistent-dir-odr-test/odr.db".to_string(),
        Backend::Mysql => "mysql://root@127.0.0.1:1/odr_unreachable".to_string(),
    };
    let Some(db) = test_db(backend) else { return };
    let app = spawn_app(&db, &format!("datasource.odr.url={url}\ndatasource.odr.migrate=false")).await;
    let (code, page) = app.get_text(ROOT).await;
    assert_eq!(code, 200);
    assert!(
        page.contains("Der er ingen forbindelse til databasen med JNDI navnet java:jboss/datasources/ODR-DS"),
        "{page}"
    );
    assert!(section(&page, "database").contains("Unavailable"), "{page}");
    app.stop().await;
}
both_backends!(a_database_that_is_down_is_shown_not_hidden);

async fn a_held_lease_shows_its_node_until_and_token_and_an_expired_one_its_dead_owner(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = spawn_app(&db, "").await;
    db.execute(
        "UPDATE JobLock SET Owner = 'node-b:4242', Token = Token + 1, LockedUntil = '2999-01-01 10:00:00', \
         HeartbeatAt = '2999-01-01 09:59:30' WHERE JobName = 'OrganDonorEmigratedCleanup'; \
         UPDATE JobLock SET Owner = 'node-c:77', LockedUntil = '2000-01-01 00:00:00' \
         WHERE JobName = 'OrganDonorNotification';",
    );
    let token = texts(
        &db,
        "SELECT CAST(Token AS CHAR) AS m FROM JobLock WHERE JobName = 'OrganDonorEmigratedCleanup'",
    );
    let (code, page) = app.get_text(ROOT).await;
    assert_eq!(code, 200);
    let running = section(&page, JOBS[1]);
    assert!(running.contains("<span class=\"badge run\">Kører</span>"), "{running}");
    assert!(
        running.contains(
            "Kører på node <strong>node-b:4242</strong> med lease til <time datetime=\"2999-01-01T10:00:00.000Z\">\
             2999-01-01 10:00:00</time> (om "
        ),
        "{running}"
    );
    assert!(
        running.contains(&format!(
            ", fencing token <code>{}</code>; sidste heartbeat <time datetime=\"2999-01-01T09:59:30.000Z\">",
            token[0]
        )),
        "{running}"
    );
    let expired = section(&page, JOBS[2]);
    assert!(expired.contains("<span class=\"badge idle\">Ledig</span>"), "{expired}");
    assert!(
        expired.contains("Ledig: lease fra node <strong>node-c:77</strong> udløb"),
        "{expired}"
    );
    assert!(section(&page, JOBS[0]).contains("Ledig: ingen node holder jobbet."));
    app.stop().await;
}
both_backends!(a_held_lease_shows_its_node_until_and_token_and_an_expired_one_its_dead_owner);
