//! `odr-operations simulate`: the fake PersonInformation and Digital Post as standalone servers,
//! scriptable from outside the process through a small HTTP control API, with the demo's
//! deterministic population (and optionally that population loaded into a MariaDB database).
//!
//! Thin by design: the fakes are [`FakePersonInformation`] and [`FakeDigitalPost`], the population
//! is [`population::citizens`] with [`population::demo_spec`]. The fakes bind free loopback
//! ports; the control API binds `--control`. When everything is up, a ready file of `KEY=value`
//! lines (shell-sourceable) names the three URLs, today and the start date to use.
//!
//! Control API (127.0.0.1 only; every answer is `text/plain` unless said). The knobs are the same
//! for both fakes, named by the first path segment: `pi` (PersonInformation) or `dp` (Digital Post).
//!
//! | request | effect |
//! |---|---|
//! | `GET /health` | `ok` |
//! | `POST /pi/fault/{f}` | PersonInformation answers every request with `f`: `none`, an HTTP code (`409`, `500`), `garbage`, `hang` |
//! | `POST /dp/fault/{f}` | Digital Post answers every letter with `f`: `none`, `soap-client` (a `soap:Client` Fault), `soap-server` (a `soap:Server` Fault, "Internt systemfel"), `soap-other` (a Fault with another faultcode), `503` (no Fault), `hang`, `refuse` (the connection is closed unanswered), another HTTP code (a 4xx) |
//! | `POST /{pi,dp}/fail-next/{n}/{f}` | the next `n` requests get `f`, then the standing fault again |
//! | `POST /{pi,dp}/latency/{ms}` | delay of every answer |
//! | `GET /pi/stats` | JSON: requests, CPR numbers asked, largest batch, most in flight, most asks of one CPR |
//! | `GET /dp/stats` | JSON: requests, accepted, duplicates dropped, rejected, most in flight |
//! | `POST /dp/reject/{cpr}` | letters to this CPR get a `soap:Client` Fault; the body is the faultstring |
//! | `POST /dp/clear-rejections` | accept every CPR again |
//! | `GET /dp/letters` | JSON `{"<cpr>":["<MessageId>",...]}`: the distinct letters accepted per CPR |
//! | `GET /dp/letters.tsv` | the same, one `cpr<TAB>MessageId<TAB>TemplateDigital<TAB>TemplatePhysical` line per letter |

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

use super::knobs::{text, Knobs};
use super::seed::{population_for, seed_database};
use crate::clock::Clock;
use crate::config::DbUrl;
use crate::config::Settings;
use crate::simulator::digital_post::FakeDigitalPost;
use crate::simulator::person_information::FakePersonInformation;
use crate::simulator::population;

/// What `odr-operations simulate` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateOptions {
    /// Citizens of the synthetic population (the demo's shape).
    #[arg(long, default_value_t = 20_000)]
    pub citizens: usize,
    /// Seed of the population generator.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Listen address of the control API (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub control: String,
    /// Write KEY=value lines (control, fake URLs, today, start date) here once ready.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Drop, recreate and fill this MariaDB database (mysql://user@host:port/name; the name must
    /// contain test, sim, cluster, demo or bench) with the population; needs the `mariadb` feature.
    #[arg(long, value_name = "URL", value_parser = DbUrl::parse_arg)]
    pub seed_db: Option<DbUrl>,
    /// Notification dates, ending today, with extra recipients; the first is the start date.
    #[arg(long, default_value_t = 5)]
    pub recent_dates: u32,
    /// Extra recipients per birth date of each of those dates.
    #[arg(long, default_value_t = 20)]
    pub per_date: u32,
}

/// The fakes shared by the control handlers.
struct Fakes {
    pi: FakePersonInformation,
    dp: FakeDigitalPost,
}

/// The first path segment of a knob: which fake it turns (any other segment is a 404).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Which {
    Pi,
    Dp,
}

impl Fakes {
    fn knobs(&self, which: Which) -> &dyn Knobs {
        match which {
            Which::Pi => &*self.pi,
            Which::Dp => &*self.dp,
        }
    }
}

/// Starts the fakes and the control API, writes the ready file, and serves until killed.
pub async fn run(opts: SimulateOptions) -> Result<(), String> {
    let defaults = Settings::defaults();
    let today = Clock::new(defaults.timezone).today();
    let n = &defaults.notification;
    let (people, start) = population_for(&opts, today, n.legal_age_years, n.offset_days);
    if let Some(url) = &opts.seed_db {
        let (url2, people2) = (url.clone(), people.clone());
        tokio::task::spawn_blocking(move || seed_database(&url2, &people2))
            .await
            .map_err(|e| e.to_string())??;
        log::info!("simulate: loaded {} citizens into {url}", people.len());
    }
    let pi = FakePersonInformation::start()
        .await
        .map_err(|e| format!("fake PersonInformation: {e}"))?;
    pi.set_people(population::statuses(&people));
    let dp = FakeDigitalPost::start()
        .await
        .map_err(|e| format!("fake Digital Post: {e}"))?;
    let (pi_url, dp_url) = (pi.base_url(), dp.url());
    let fakes = web::Data::from(Arc::new(Fakes { pi, dp }));
    let server = HttpServer::new(move || App::new().app_data(fakes.clone()).configure(control_routes))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(opts.control.as_str())
        .map_err(|e| format!("cannot listen on {}: {e}", opts.control))?;
    let port = server
        .addrs()
        .first()
        .map(|a| a.port())
        .ok_or("the control API bound no address")?;
    let ready = format!(
        "SIM_CONTROL=http://127.0.0.1:{port}\nSIM_PI_URL={pi_url}\nSIM_DP_URL={dp_url}\nSIM_TODAY={today}\n\
         SIM_STARTDATE={start}\nSIM_CITIZENS={}\n",
        people.len()
    );
    if let Some(path) = &opts.ready_file {
        // Written whole, then renamed: a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &ready).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    print!("{ready}");
    server.run().await.map_err(|e| e.to_string())
}

fn control_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(|| async { text("ok") }))
        .route("/{which}/fault/{f}", web::post().to(fault))
        .route("/{which}/fail-next/{n}/{f}", web::post().to(fail_next))
        .route("/{which}/latency/{ms}", web::post().to(latency))
        .route("/{which}/stats", web::get().to(stats))
        .route("/dp/reject/{cpr}", web::post().to(dp_reject))
        .route("/dp/clear-rejections", web::post().to(dp_clear))
        .route("/dp/letters", web::get().to(dp_letters))
        .route("/dp/letters.tsv", web::get().to(dp_letters_tsv));
}

async fn fault(fakes: web::Data<Fakes>, path: web::Path<(Which, String)>) -> HttpResponse {
    let (which, f) = path.into_inner();
    fakes.knobs(which).set_fault_named(&f)
}

async fn fail_next(fakes: web::Data<Fakes>, path: web::Path<(Which, u32, String)>) -> HttpResponse {
    let (which, n, f) = path.into_inner();
    fakes.knobs(which).fail_next_named(n, &f)
}

async fn latency(fakes: web::Data<Fakes>, path: web::Path<(Which, u64)>) -> HttpResponse {
    let (which, ms) = path.into_inner();
    fakes.knobs(which).set_latency_ms(ms)
}

async fn stats(fakes: web::Data<Fakes>, which: web::Path<Which>) -> HttpResponse {
    let body = match *which {
        Which::Pi => {
            let s = fakes.pi.stats();
            json!({
                "requests": s.requests,
                "cprsAsked": s.cprs_asked,
                "maxBatch": s.max_batch,
                "maxInFlight": s.max_in_flight,
                "maxAskedOneCpr": fakes.pi.max_asked_count(),
            })
        }
        Which::Dp => {
            let s = fakes.dp.stats();
            json!({
                "requests": s.requests,
                "accepted": s.accepted,
                "duplicatesDropped": s.duplicates_dropped,
                "rejected": s.rejected,
                "maxInFlight": s.max_in_flight,
            })
        }
    };
    HttpResponse::Ok().json(body)
}

async fn dp_reject(fakes: web::Data<Fakes>, cpr: web::Path<String>, body: String) -> HttpResponse {
    let faultstring = if body.trim().is_empty() {
        "Modtageren kan ikke modtage post"
    } else {
        body.trim()
    };
    fakes.dp.reject_cpr(&cpr, faultstring);
    text("Digital Post: letters to that CPR get a SOAP Fault")
}

async fn dp_clear(fakes: web::Data<Fakes>) -> HttpResponse {
    fakes.dp.clear_rejections();
    text("Digital Post: no CPR is rejected")
}

async fn dp_letters(fakes: web::Data<Fakes>) -> HttpResponse {
    let mut by_cpr: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in fakes.dp.letters() {
        by_cpr.entry(l.cpr).or_default().push(l.message_id);
    }
    HttpResponse::Ok().json(by_cpr)
}

async fn dp_letters_tsv(fakes: web::Data<Fakes>) -> HttpResponse {
    let body: String = fakes
        .dp
        .letters()
        .into_iter()
        .map(|l| {
            format!(
                "{}\t{}\t{}\t{}\n",
                l.cpr, l.message_id, l.template_digital, l.template_physical
            )
        })
        .collect();
    HttpResponse::Ok()
        .content_type("text/tab-separated-values; charset=utf-8")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every URL the reliability suite (tests/cluster/run.sh) calls, and what it answers.
    #[actix_web::test]
    async fn the_control_api_turns_the_knobs_of_the_fake_it_names() {
        use actix_web::test::{call_service, init_service, read_body, TestRequest};
        let fakes = web::Data::new(Fakes {
            pi: FakePersonInformation::start().await.unwrap(),
            dp: FakeDigitalPost::start().await.unwrap(),
        });
        let (pi_url, dp_url) = (format!("{}/persons/status", fakes.pi.base_url()), fakes.dp.url());
        let app = init_service(App::new().app_data(fakes.clone()).configure(control_routes)).await;
        let call = |method: &str, uri: &str, body: &str| {
            let req = match method {
                "GET" => TestRequest::get(),
                _ => TestRequest::post(),
            };
            req.uri(uri).set_payload(body.to_string()).to_request()
        };
        let mut answers = Vec::new();
        for (method, uri, body) in [
            ("GET", "/health", ""),
            ("POST", "/pi/latency/0", ""),
            ("POST", "/dp/latency/0", ""),
            ("POST", "/pi/fault/409", ""),
            ("POST", "/dp/fault/soap-server", ""),
            ("POST", "/pi/fail-next/2/garbage", ""),
            ("POST", "/dp/fail-next/1/refuse", ""),
            (
                "POST",
                "/dp/reject/0101001234",
                "Modtageren 0101001234 har ingen digital postkasse",
            ),
            ("POST", "/dp/clear-rejections", ""),
            ("POST", "/dp/fault/nope", ""),
            ("POST", "/xx/fault/none", ""),
        ] {
            let res = call_service(&app, call(method, uri, body)).await;
            let status = res.status().as_u16();
            answers.push(format!(
                "{status} {}",
                String::from_utf8_lossy(&read_body(res).await).trim()
            ));
        }
        assert_eq!(
            answers,
            [
                "200 ok",
                "200 PersonInformation latency: 0 ms",
                "200 Digital Post latency: 0 ms",
                "200 PersonInformation fault: Status(409)",
                "200 Digital Post fault: SoapServer",
                "200 PersonInformation: next 2 requests Garbage",
                "200 Digital Post: next 1 letters Refuse",
                "200 Digital Post: letters to that CPR get a SOAP Fault",
                "200 Digital Post: no CPR is rejected",
                "400 unknown fault \"nope\": none, soap-client, soap-server, soap-other, 503, hang, refuse or an HTTP code",
                "404 unknown variant `xx`, expected `pi` or `dp`",
            ]
        );
        // The knobs were turned on the fake the path named.
        let http = reqwest::Client::new();
        let pi = |http: &reqwest::Client| http.post(&pi_url).body(r#"{"cprs":[]}"#).send();
        assert_eq!(
            pi(&http).await.unwrap().text().await.unwrap(),
            "<html><body>Service Unavailable</body></html>"
        );
        pi(&http).await.unwrap();
        assert_eq!(pi(&http).await.unwrap().status().as_u16(), 409);
        let dp = |http: &reqwest::Client| {
            http.post(&dp_url)
                .header("content-type", "text/xml")
                .body("<x/>")
                .send()
        };
        assert!(dp(&http).await.is_err(), "refused");
        let fault = dp(&http).await.unwrap().text().await.unwrap();
        assert!(fault.contains("<faultcode>soap:Server</faultcode>"), "{fault}");
        for (uri, expected) in [
            (
                "/pi/stats",
                r#"{"requests":3,"cprsAsked":0,"maxBatch":0,"maxInFlight":1,"maxAskedOneCpr":0}"#,
            ),
            (
                "/dp/stats",
                r#"{"requests":2,"accepted":0,"duplicatesDropped":0,"rejected":0,"maxInFlight":1}"#,
            ),
            ("/dp/letters", "{}"),
            ("/dp/letters.tsv", ""),
        ] {
            let res = call_service(&app, call("GET", uri, "")).await;
            assert_eq!(res.status().as_u16(), 200, "{uri}");
            assert_eq!(String::from_utf8_lossy(&read_body(res).await), expected, "{uri}");
        }
    }
}
