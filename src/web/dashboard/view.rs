//! The dashboard as HTML (maud: checked at compile time, every value escaped). Read-only by
//! construction: links to the text pages, no form, no button, no script.

use maud::{html, Markup, DOCTYPE};

use super::letters::{DateLine, Letters, DATES_SHOWN};
use super::model::{Dashboard, JobPanel, Lease, Progress, Run, ServicePanel};
use super::words::{self, count, date, instant, percent};
use super::CSS_PATH;
use crate::db::models::LetterStatus;
use crate::web::{NOTIFICATION_ALARM, NOTIFICATION_STATUS, SLETTEJOB_ALARM, SLETTEJOB_STATUS};

/// Seconds between the page's own reloads.
pub const REFRESH_SECONDS: u32 = 10;

/// The whole page.
pub fn page(d: &Dashboard) -> Markup {
    html! {
        (DOCTYPE)
        html lang="da" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No favicon request: the page needs nothing from anywhere but this service.
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(CSS_PATH);
                title { "ODR drift – " (d.node) }
            }
            body {
                header {
                    h1 { "ODR drift" }
                    p.meta {
                        "Node " strong { (d.node) } " · version " (d.build.version)
                        " · vist " time datetime=(crate::clock::rfc3339_millis(d.now)) { (instant(d.now)) }
                        " · alle tider i UTC · opdateres hvert " (REFRESH_SECONDS) ". sekund"
                    }
                }
                main {
                    (alarms(&d.alarms))
                    @if d.jobs.is_empty() {
                        section.card { p { "Jobbene og brevene kan ikke vises: databasen svarer ikke." } }
                    }
                    @for job in &d.jobs { (job_panel(job, d.letters.as_ref())) }
                    @if let Some(letters) = &d.letters { (letters_panel(letters)) }
                    div.grid {
                        @for s in &d.services { (service_panel(s)) }
                        (database_panel(d))
                        (build_panel(d))
                    }
                }
                footer {
                    "Tekstsiderne: "
                    a href=(SLETTEJOB_STATUS) { "slettejob/status" } " · "
                    a href=(SLETTEJOB_ALARM) { "slettejob/alarm" } " · "
                    a href=(NOTIFICATION_STATUS) { "notifikation/status" } " · "
                    a href=(NOTIFICATION_ALARM) { "notifikation/alarm" } " · "
                    a href=(format!("{SLETTEJOB_ALARM}?detailed")) { "?detailed" } " · "
                    a href=(crate::web::METRICS) { "metrics" }
                }
            }
        }
    }
}

fn alarms(lines: &[String]) -> Markup {
    html! {
        section #alarms .card .(if lines.is_empty() { "good" } else { "alarm" }) {
            h2 { "Alarmer" }
            @if lines.is_empty() {
                p { "Ingen alarmer: begge alarmsider svarer 200." }
            } @else {
                p { "Alarmsiderne svarer 500 med disse linjer:" }
                ul.lines { @for l in lines { li { (l) } } }
            }
        }
    }
}

fn badge(ok: bool, good: &str, bad: &str) -> Markup {
    html! { span.badge .(if ok { "ok" } else { "bad" }) { (if ok { good } else { bad }) } }
}

fn job_panel(job: &JobPanel, letters: Option<&Letters>) -> Markup {
    let running = job.lease.as_ref().is_some_and(|l| l.holder.is_some());
    html! {
        section.card.job id=(job.name) data-job=(job.name) {
            h2 {
                (job.name) " "
                span.badge .(if running { "run" } else { "idle" }) { (if running { "Kører" } else { "Ledig" }) }
                @if !job.alarms.is_empty() { " " span.badge.bad { "Alarm" } }
            }
            p.muted { (words::job_description(job.name)) }
            div.cols {
                div {
                    h3 { "Tilstand nu" }
                    p.lease { (lease(job.lease.as_ref())) }
                    h3 { "Fremdrift" }
                    (progress(&job.progress, letters))
                    h3 { "Alarmlinjer" }
                    @if job.alarms.is_empty() {
                        p.muted { "Ingen." }
                    } @else {
                        ul.lines.job-alarms { @for l in &job.alarms { li { (l) } } }
                    }
                }
                div {
                    h3 { "Seneste kørsler" }
                    (runs(job.runs.as_deref()))
                }
            }
        }
    }
}

fn at(t: Option<chrono::DateTime<chrono::Utc>>) -> Markup {
    match t {
        Some(t) => html! { time datetime=(crate::clock::rfc3339_millis(t)) { (instant(t)) } },
        None => html! { "–" },
    }
}

fn lease(l: Option<&Lease>) -> Markup {
    let Some(l) = l else {
        return html! { "Ukendt: JobLock kunne ikke læses." };
    };
    match (&l.holder, &l.expired_owner) {
        (Some(node), _) => html! {
            "Kører på node " strong { (node) } " med lease til " (at(l.until))
            @if let Some(s) = l.seconds_left { " (om " (s) " s)" }
            ", fencing token " code { (l.token) } "; sidste heartbeat " (at(l.heartbeat)) "."
        },
        (None, Some(node)) => html! {
            "Ledig: lease fra node " strong { (node) } " udløb " (at(l.until))
            " uden at blive frigivet (noden stoppede midt i et slice); næste kald overtager. Fencing token "
            code { (l.token) } "."
        },
        (None, None) => html! { "Ledig: ingen node holder jobbet. Fencing token " code { (l.token) } "." },
    }
}

fn progress(p: &Progress, letters: Option<&Letters>) -> Markup {
    match p {
        Progress::Pass {
            share: Some(share),
            started,
        } => html! {
            p {
                progress value=(format!("{share:.4}")) max="1" { (percent(*share)) }
                " ca. " strong { (percent(*share)) } " af CPR-intervallet gennemgået"
                @if started.is_some() { " (gennemløbet startede " (at(*started)) ")" } "."
            }
        },
        Progress::Pass { share: None, .. } => {
            html! { p { "Et nyt gennemløb begynder fra laveste CPR ved næste kald." } }
        }
        Progress::Date(day, _, 0) => html! { p { "Næste dato " (date(*day)) " er endnu ikke udtrukket." } },
        Progress::Date(day, done, total) => {
            let share = *done as f64 / *total as f64;
            html! {
                p {
                    progress value=(format!("{share:.4}")) max="1" { (percent(share)) }
                    " Dato " strong { (date(*day)) } ": " (count(*done)) " af " (count(*total)) " breve sendt."
                }
            }
        }
        Progress::UpToDate => html! { p { "Alle datoer til og med i dag er færdigbehandlede." } },
        Progress::NotStarted => html! {
            p {
                @match letters.and_then(|l| l.start_date) {
                    Some(s) => { "Startdatoen " (date(s)) " er i fremtiden: intet sendes endnu." }
                    None => { "digitalpost.notification.odr.startdate er ikke sat: jobbet er slået fra." }
                }
            }
        },
        Progress::Unknown => html! { p.muted { "Ukendt: tabellerne kunne ikke læses." } },
    }
}

fn runs(runs: Option<&[Run]>) -> Markup {
    let Some(runs) = runs else {
        return html! { p.muted { "JobRun kunne ikke læses." } };
    };
    if runs.is_empty() {
        return html! { p.muted { "Ingen kørsler endnu." } };
    }
    html! {
        div.scroll {
            table.runs {
                thead { tr { th { "Start" } th { "Slut" } th.num { "Varighed" } th { "Node" } th { "Udfald" } th.num { "Behandlet" } } }
                tbody {
                    @for r in runs {
                        tr data-outcome=(r.outcome) {
                            td { (at(r.started)) }
                            td { (end(r)) }
                            td.num {
                                @if let (Some(s), Some(e)) = (r.started, r.ended) {
                                    (words::seconds((e - s).num_milliseconds() as f64 / 1000.0))
                                }
                            }
                            td { (r.node) }
                            td.outcome .(words::outcome_class(&r.outcome)) title=(r.outcome) { (words::outcome(&r.outcome)) }
                            td.num { (count(r.processed)) }
                        }
                        @if let Some(e) = &r.error {
                            // The reason under its run, over the whole width: it is often long.
                            tr.reason { td colspan="6" { "Årsag: " (e) } }
                        }
                    }
                }
            }
        }
    }
}

/// A run's end: the time alone when it ended on the day it started.
fn end(r: &Run) -> Markup {
    match (r.started, r.ended) {
        (Some(s), Some(e)) if s.date_naive() == e.date_naive() => html! {
            time datetime=(crate::clock::rfc3339_millis(e)) { (e.format("%H:%M:%S").to_string()) }
        },
        (_, e) => at(e),
    }
}

fn letters_panel(l: &Letters) -> Markup {
    let lagging = l.lag_days.is_some_and(|d| d > i64::from(l.period_days));
    html! {
        section.card #notifikation {
            h2 { "Notifikationsdatoer og breve" }
            dl {
                dt { "Nyeste færdigbehandlede dato" }
                dd { @match l.newest_completed { Some(d) => (date(d)), None => "Ingen" } }
                dt { "Startdato" }
                dd { @match l.start_date { Some(d) => (date(d)), None => "ikke sat" } }
                dt { "I dag" } dd { (date(l.today)) }
                dt { "Forsinkelse" }
                dd {
                    @match l.lag_days {
                        Some(n) => { (words::days(n)) " (grænse " (words::days(i64::from(l.period_days))) ", alarm.date.period) " (badge(!lagging, "OK", "ALARM")) }
                        None => "ingen startdato: ingen forsinkelsesalarm",
                    }
                }
            }
            h3 { "Datoer fra den nyeste færdigbehandlede til i dag" }
            (dates_table(&l.dates))
            @if let Some((first, last)) = l.not_extracted {
                p { (date(first)) @if first != last { " – " (date(last)) } ": endnu ikke udtrukket." }
            }
            @if l.dates.len() as i64 >= DATES_SHOWN { p.muted { "Viser de første " (DATES_SHOWN) " datoer." } }
            h3 { "Breve med status Error: " (count(l.errors_total)) }
            (errors(l))
        }
    }
}

fn dates_table(dates: &[DateLine]) -> Markup {
    if dates.is_empty() {
        return html! { p.muted { "Ingen datoer endnu." } };
    }
    let unknown = dates.iter().any(|d| d.unknown > 0);
    html! {
        div.scroll {
            table.dates {
                thead {
                    tr {
                        th { "Dato" } th { "Status" }
                        @for s in LetterStatus::ALL { th.num { (s.as_str()) } }
                        @if unknown { th.num { "Ukendt status" } }
                    }
                }
                tbody {
                    @for d in dates {
                        tr {
                            td { (date(d.date)) }
                            td { (d.status) }
                            @for (s, n) in LetterStatus::ALL.iter().zip(d.counts) {
                                td.num .(if *s == LetterStatus::Error && n > 0 { "bad" } else { "" }) { (count(n)) }
                            }
                            @if unknown { td.num { (count(d.unknown)) } }
                        }
                    }
                }
            }
        }
    }
}

/// The runbook's SQL (docs/OPERATIONS.md, section 7), byte for byte.
fn repair_sql(id: i64) -> String {
    format!(
        "update NotificationPerson set Status = \"Pending\", SentAtDateTime = null, ErrorMessage = null where NotificationPersonPID = {id} and status = \"Error\";"
    )
}

fn errors(l: &Letters) -> Markup {
    if l.error_rows.is_empty() {
        return html! { p.muted { "Ingen breve at reparere." } };
    }
    let mut sql =
        String::from("select NotificationPersonPID, ErrorMessage from NotificationPerson where status = \"Error\";\n");
    for (id, _) in &l.error_rows {
        sql.push_str(&repair_sql(*id));
        sql.push('\n');
    }
    html! {
        p {
            "Adapteren afviste disse breve; hvert holder sin dato. Ret årsagen, sæt brevet tilbage til Pending "
            "med SQL'en nedenfor (runbook, docs/OPERATIONS.md afsnit 7), og næste kald sender det med samme MessageId."
        }
        div.scroll {
            table.errors {
                thead { tr { th.num { "NotificationPersonPID" } th { "ErrorMessage" } } }
                tbody { @for (id, m) in &l.error_rows { tr { td.num { (id) } td { (m) } } } }
            }
        }
        @if (l.error_rows.len() as i64) < l.errors_total {
            p.muted { "Viser de første " (l.error_rows.len()) " af " (count(l.errors_total)) "." }
        }
        pre.sql { code { (sql) } }
    }
}

fn service_panel(s: &ServicePanel) -> Markup {
    let ok = s.alarms.is_empty();
    html! {
        section.card.service id=(s.name) {
            h2 { (if s.name == "DigitalPost" { "Digital Post Adapter" } else { "PersonInformation" }) " " (badge(ok, "OK", "ALARM")) }
            p {
                @match (s.errors, s.tolerance) {
                    (Some(n), Some(t)) => {
                        strong { (count(n)) } " fejl inden for de seneste "
                        (s.window_seconds.map(words::window).unwrap_or_default())
                        "; tolerance " (count(t)) "."
                    }
                    _ => "Fejltallet kunne ikke læses.",
                }
            }
            @if !ok { ul.lines { @for l in &s.alarms { li { (l) } } } }
        }
    }
}

fn database_panel(d: &Dashboard) -> Markup {
    html! {
        section.card #database {
            h2 { "Database" }
            table {
                thead { tr { th { "Datasource" } th { "Type" } th { "Tilstand" } } }
                tbody {
                    @for (name, backend, ok) in &d.database.datasources {
                        tr { td { (name) } td { (backend) } td { (badge(*ok, "OK", "Unavailable")) } }
                    }
                }
            }
            p.muted { "JNDI-navn: " (d.database.jndi_name) }
        }
    }
}

fn build_panel(d: &Dashboard) -> Markup {
    let b = &d.build;
    html! {
        section.card #build {
            h2 { "Build" }
            dl {
                dt { "Title" } dd { (b.title) }
                dt { "Build-Version" } dd { (b.version) }
                dt { "Build-Date" } dd { (b.build_date) }
                dt { "Builder" } dd { (b.builder) }
                dt { "Startet (Deployed)" } dd { (at(Some(d.deployed))) }
                dt { "Node" } dd { (d.node) }
            }
        }
    }
}
