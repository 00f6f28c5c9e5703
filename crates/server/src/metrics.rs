//! Prometheus metrics, hand-rolled: a handful of counters and one latency histogram do
//! not justify an exporter crate and its HTTP stack.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 250, 1000, 5000];

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// Responses by status class 1xx..5xx (index 0..4).
    pub responses: [AtomicU64; 5],
    /// Request latency histogram (cumulative buckets, then +Inf).
    pub latency: [AtomicU64; BUCKETS_MS.len() + 1],
    pub latency_sum_us: AtomicU64,
    pub audit_events: AtomicU64,
    pub control_evaluations: AtomicU64,
}

impl Metrics {
    /// Records one response.
    pub fn observe(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let idx = BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(BUCKETS_MS.len());
        self.latency[idx].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP bposhield_http_responses_total HTTP responses by status class.\n# TYPE bposhield_http_responses_total counter\n");
        for (i, c) in self.responses.iter().enumerate() {
            out.push_str(&format!(
                "bposhield_http_responses_total{{class=\"{}xx\"}} {}\n",
                i + 1,
                c.load(Ordering::Relaxed)
            ));
        }
        out.push_str("# HELP bposhield_http_request_duration_seconds Request latency.\n# TYPE bposhield_http_request_duration_seconds histogram\n");
        let mut cum = 0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            cum += self.latency[i].load(Ordering::Relaxed);
            out.push_str(&format!(
                "bposhield_http_request_duration_seconds_bucket{{le=\"{}\"}} {cum}\n",
                *b as f64 / 1000.0
            ));
        }
        cum += self.latency[BUCKETS_MS.len()].load(Ordering::Relaxed);
        out.push_str(&format!("bposhield_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cum}\n"));
        out.push_str(&format!(
            "bposhield_http_request_duration_seconds_sum {}\nbposhield_http_request_duration_seconds_count {cum}\n",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out.push_str(&format!(
            "# HELP bposhield_audit_events_total Audit events written.\n# TYPE bposhield_audit_events_total counter\nbposhield_audit_events_total {}\n",
            self.audit_events.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP bposhield_control_evaluations_total Control evaluation rounds run by this replica.\n# TYPE bposhield_control_evaluations_total counter\nbposhield_control_evaluations_total {}\n",
            self.control_evaluations.load(Ordering::Relaxed)
        ));
        out
    }
}
