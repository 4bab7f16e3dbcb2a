//! The operator's dashboard (issue 19): one read-only HTML page at `/odr-operations/` and
//! `/odr-operations/dashboard` summing up the status and alarm pages, the leases and the last runs.
//!
//! Server-rendered (maud), no script, its one stylesheet served by the binary. It is a status page:
//! no start token, but `dashboard.enabled=false` removes it (404, as for any unknown path).

pub mod letters;
pub mod model;
pub mod pass;
pub mod view;
pub mod words;

use actix_web::http::header;
use actix_web::{guard, web, HttpResponse};

use super::state::AppState;

/// The dashboard at the service's root.
pub const ROOT_PAGE: &str = "/odr-operations/";
/// The dashboard under its own name.
pub const DASHBOARD: &str = "/odr-operations/dashboard";
/// The dashboard's stylesheet.
pub const CSS_PATH: &str = "/odr-operations/dashboard/dashboard.css";

/// The stylesheet, compiled into the binary (no CDN, nothing fetched from elsewhere).
const CSS: &str = include_str!("assets/dashboard.css");

/// What the browser may load for the page: its own stylesheet, nothing else, no script at all.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Registers the dashboard's pages and its stylesheet (GET and HEAD; other methods 405).
pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in [ROOT_PAGE, DASHBOARD] {
        cfg.service(resource(path).route(web::get().to(page)).route(web::head().to(page)));
    }
    cfg.service(resource(CSS_PATH).route(web::get().to(css)).route(web::head().to(css)));
}

/// A dashboard resource that exists only while `dashboard.enabled` is true: when it is false
/// the guard fails, no resource matches and the app's 404 answers, as for any unknown path.
fn resource(path: &str) -> actix_web::Resource {
    super::get_resource(path).guard(guard::fn_guard(|ctx| {
        ctx.app_data::<web::Data<AppState>>()
            .is_some_and(|state| state.settings().dashboard_enabled)
    }))
}

/// The page: 200 whatever it reports (monitoring reads the status and alarm pages, not this).
async fn page(state: web::Data<AppState>) -> HttpResponse {
    let dashboard = model::read(&state).await;
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(view::page(&dashboard).into_string())
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CSS)
}
