//! Prometheus metrics of this node (`GET /odr-operations/metrics`): slices, CPR checks,
//! removals, closures, external errors and request latency; letters by status are read from
//! the database at scrape time, so every node reports the cluster's letters.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::db::models::Outcome;
use crate::engine::SliceObserver;

/// The registry behind `/odr-operations/metrics`.
pub struct Metrics {
    registry: Registry,
    /// Slices by job and outcome.
    pub slices: IntCounterVec,
    /// CPR numbers checked with PersonInformation, by job.
    pub cpr_checked: IntCounterVec,
    /// Citizens whose data the deceased cleanup removed.
    pub citizens_removed: IntCounter,
    /// Registrations the emigrated cleanup closed.
    pub registrations_closed: IntCounter,
    /// Letters handed to the Digital Post Adapter, by result (accepted, rejected, unavailable).
    pub letters_sent: IntCounterVec,
    /// `NotificationPerson` rows by status, read at scrape time.
    pub letters: IntGaugeVec,
    /// External service failures, by service.
    pub external_errors: IntCounterVec,
    /// HTTP request latency by route and status code.
    pub http_latency: HistogramVec,
    /// 1 when the job's last slice that ran failed (the "fejlede sidst" alarm), else 0.
    pub job_last_run_failed: IntGaugeVec,
    /// Seconds since the job's last working slice ended (since the first start if it never did work).
    pub job_seconds_since_last_work: IntGaugeVec,
    /// The job's stale-alarm limit in seconds; no series when the alarm is off.
    pub job_stale_limit_seconds: IntGaugeVec,
    /// External service failures within the tolerance window, from every node.
    pub external_errors_in_window: IntGaugeVec,
    /// The tolerance of each external service.
    pub external_error_tolerance: IntGaugeVec,
    /// Seconds (whole days) from the newest completed notification date (or startdate - 1) to today.
    pub notification_lag_seconds: IntGauge,
    /// The allowed lag (`digitalpost.notification.odr.alarm.date.period`), in seconds.
    pub notification_lag_limit_seconds: IntGauge,
}

impl Metrics {
    /// A fresh registry with every metric of the node (one per application).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("odr".into()), None)?;
        let slices = IntCounterVec::new(
            Opts::new("slices_total", "Job slices by job and outcome"),
            &["job", "outcome"],
        )?;
        let cpr_checked = IntCounterVec::new(
            Opts::new("cpr_checked_total", "CPR numbers checked with PersonInformation"),
            &["job"],
        )?;
        let citizens_removed = IntCounter::new(
            "citizens_removed_total",
            "Citizens whose data the deceased cleanup removed",
        )?;
        let registrations_closed = IntCounter::new(
            "registrations_closed_total",
            "Registrations closed by the emigrated cleanup",
        )?;
        let letters_sent = IntCounterVec::new(
            Opts::new(
                "letters_sent_total",
                "Letters sent to the Digital Post Adapter by result",
            ),
            &["result"],
        )?;
        let letters = IntGaugeVec::new(Opts::new("letters", "NotificationPerson rows by status"), &["status"])?;
        let external_errors = IntCounterVec::new(
            Opts::new("external_errors_total", "External service failures by service"),
            &["service"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route and status",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["route", "status"],
        )?;
        registry.register(Box::new(slices.clone()))?;
        registry.register(Box::new(cpr_checked.clone()))?;
        registry.register(Box::new(citizens_removed.clone()))?;
        registry.register(Box::new(registrations_closed.clone()))?;
        registry.register(Box::new(letters_sent.clone()))?;
        registry.register(Box::new(letters.clone()))?;
        registry.register(Box::new(external_errors.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        let gauge = |name: &str, help: &str, label: &str| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let job_last_run_failed = gauge(
            "job_last_run_failed",
            "1 when the last slice of the job that ran failed",
            "job",
        )?;
        let job_seconds_since_last_work = gauge(
            "job_seconds_since_last_work",
            "Seconds since the last Finished or Paused slice of the job ended",
            "job",
        )?;
        let job_stale_limit_seconds = gauge(
            "job_stale_limit_seconds",
            "The stale-job alarm limit of the job (absent when off)",
            "job",
        )?;
        let external_errors_in_window = gauge(
            "external_errors_in_window",
            "External service failures within the tolerance window (all nodes)",
            "service",
        )?;
        let external_error_tolerance = gauge(
            "external_error_tolerance",
            "Failures tolerated within the window",
            "service",
        )?;
        let notification_lag_seconds = IntGauge::new(
            "notification_lag_seconds",
            "Time (whole days) from the newest completed notification date to today",
        )?;
        let notification_lag_limit_seconds = IntGauge::new(
            "notification_lag_limit_seconds",
            "Allowed lag of the newest completed notification date",
        )?;
        registry.register(Box::new(notification_lag_seconds.clone()))?;
        registry.register(Box::new(notification_lag_limit_seconds.clone()))?;
        Ok(Metrics {
            registry,
            slices,
            cpr_checked,
            citizens_removed,
            registrations_closed,
            letters_sent,
            letters,
            external_errors,
            http_latency,
            job_last_run_failed,
            job_seconds_since_last_work,
            job_stale_limit_seconds,
            external_errors_in_window,
            external_error_tolerance,
            notification_lag_seconds,
            notification_lag_limit_seconds,
        })
    }

    /// Records one HTTP request.
    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_latency
            .with_label_values(&[route, &status.to_string()])
            .observe(elapsed.as_secs_f64());
    }

    /// Records one external failure.
    pub fn external_error(&self, service: &str) {
        self.external_errors.with_label_values(&[service]).inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            log::error!("metrics could not be encoded: {e}");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl SliceObserver for Metrics {
    fn slice_ended(&self, job: &str, outcome: Outcome) {
        self.slices.with_label_values(&[job, outcome.as_str()]).inc();
    }
}
