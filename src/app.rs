//! Application start: build the state, bind (port 0 in tests), and serve until stopped.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use chrono::Utc;

use crate::clients::digital_post::DigitalPostClient;
use crate::clients::person_information::PersonInformationClient;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{migrate, Datasources};
use crate::engine::StopSignal;
use crate::jobs::JobDeps;
use crate::metrics::Metrics;
use crate::web as routes;
use crate::web::state::{AppState, BuildInfo};

/// What the jobs are built from: pools (built without connecting), clients, a fresh metrics registry.
pub fn job_deps(settings: Settings, clock: Clock) -> Result<JobDeps, StartError> {
    let db = Datasources::new(&settings.database);
    let person_information =
        PersonInformationClient::new(&settings.person_information).map_err(|e| StartError::Client {
            service: "PersonInformation",
            reason: format!("{e:?}"),
        })?;
    let digital_post = DigitalPostClient::new(&settings.digital_post).map_err(|e| StartError::Client {
        service: "Digital Post",
        reason: format!("{e:?}"),
    })?;
    Ok(JobDeps {
        settings: Arc::new(settings),
        clock,
        db,
        person_information,
        digital_post,
        metrics: Arc::new(Metrics::new()?),
    })
}

/// How long a graceful stop waits for running slices (each stops at its next commit) before
/// connections are closed; below systemd's default stop timeout of 90 s.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Raises the slices' shutdown signal, then stops the server gracefully.
fn shutdown(flag: &StopSignal, handle: ServerHandle) -> impl std::future::Future<Output = ()> {
    flag.raise();
    handle.stop(true)
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Migrating failed.
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
    /// The metrics registry could not be built.
    #[error("cannot register the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// An external-service client could not be built.
    #[error("cannot build the {service} client: {reason}")]
    Client {
        /// The service.
        service: &'static str,
        /// The cause.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A node id that tells operators which process holds a lease.
pub fn node_id() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".to_string());
    format!("{host}:{}", std::process::id())
}

/// How to build the application besides its settings.
#[derive(Clone)]
pub struct AppOptions {
    /// Application clock (tests shift it).
    pub clock: Clock,
    /// Node id written to `JobLock.Owner` and `JobRun.Node`.
    pub node: String,
    /// More routes (tests mount throwaway jobs on the engine).
    pub extra_routes: Option<fn(&mut actix_web::web::ServiceConfig)>,
    /// Lease time beyond each slice's budget (SPEC §5: 60 s; tests shorten it).
    pub lease_margin: std::time::Duration,
}

impl AppOptions {
    /// System clock in the configured zone, this host's node id, no extra routes.
    pub fn new(settings: &Settings) -> AppOptions {
        AppOptions {
            clock: Clock::new(settings.timezone),
            node: node_id(),
            extra_routes: None,
            lease_margin: crate::engine::LEASE_MARGIN,
        }
    }
}

/// A built, bound application.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Builds the app from settings with the system clock; applies migrations unless disabled.
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let options = AppOptions::new(&settings);
        Application::build_with(settings, options).await
    }

    /// Builds the app with explicit options (tests run several "nodes" in one process).
    pub async fn build_with(settings: Settings, options: AppOptions) -> Result<Application, StartError> {
        let AppOptions {
            clock,
            node,
            extra_routes,
            lease_margin,
        } = options;
        if settings.database.migrate {
            let url = settings.database.url.clone();
            let applied = tokio::task::spawn_blocking(move || migrate::run(&url))
                .await
                .map_err(|e| migrate::MigrateError::Migration(e.to_string()))??;
            if !applied.is_empty() {
                log::info!("applied migrations: {}", applied.join(", "));
            }
        }
        let addr = settings.server_bind.clone();
        let deps = job_deps(settings, clock)?;
        let listener = TcpListener::bind(&addr).map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?
            .port();
        let state = web::Data::new(AppState {
            deps,
            node,
            deployed: Utc::now(),
            build: BuildInfo::current(),
            completed_letters: Arc::default(),
            shutdown: StopSignal::new(),
            lease_margin,
        });
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(from_fn(routes::request_id::middleware))
                .configure(routes::routes)
                .configure(|cfg| {
                    if let Some(extra) = extra_routes {
                        extra(cfg);
                    }
                })
                .default_service(web::to(routes::not_found))
        })
        .workers(2)
        // Signals are ours (stop_on_signals): slices must hear of the shutdown first.
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: "listener".to_string(),
            source,
        })?
        .run();
        Ok(Application { port, server, state })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shared state (tests reach the clock and pools through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Stops gracefully: no new connections, running slices stop at their next commit and
    /// release their leases, their callers get the summary line; at most [`SHUTDOWN_GRACE`].
    pub fn shutdown(&self) -> impl std::future::Future<Output = ()> {
        shutdown(&self.state.shutdown, self.server.handle())
    }

    /// On SIGTERM or SIGINT, [`Application::shutdown`] (systemd's stop, Ctrl-C).
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (flag, handle) = (self.state.shutdown.clone(), self.server.handle());
        actix_web::rt::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            log::info!("{name}: stopping; running slices end at their next commit and release their leases");
            shutdown(&flag, handle).await;
        });
        Ok(())
    }

    /// Serves until the server is stopped (a signal after [`Application::stop_on_signals`], or a handle).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
