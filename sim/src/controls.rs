//! Test controls shared by the HTTP server and the `Sim` handle: injected faults and latency, and the
//! request log (verb, resource, namespace, user agent) used to check who talked to the API.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which requests a rule applies to; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMatch {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: Option<String>,
    /// Plural resource name, e.g. `persistentvolumeclaims`.
    pub resource: Option<String>,
    /// Subresource, e.g. `status`.
    pub subresource: Option<String>,
    pub namespace: Option<String>,
}

impl RequestMatch {
    fn matches(&self, r: &RequestRecord) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.verb, &r.verb)
            && ok(&self.resource, &r.resource)
            && ok(&self.subresource, &r.subresource)
            && ok(&self.namespace, &r.namespace)
    }
}

/// An injected error: matching requests fail with `code` with probability `rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub code: u16,
    #[serde(default, flatten)]
    pub matches: RequestMatch,
    /// Probability in 0..=1 (default 1: every matching request).
    #[serde(default = "one")]
    pub rate: f64,
    /// Stop after failing this many requests (default: never stop).
    #[serde(default)]
    pub count: Option<u64>,
}

fn one() -> f64 {
    1.0
}

/// Injected latency for matching requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub millis: u64,
    #[serde(default, flatten)]
    pub matches: RequestMatch,
}

/// One API request as logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub user_agent: String,
    /// Path and query string as sent.
    pub path: String,
}

/// The mutable test controls (all behind short-lived locks).
#[derive(Debug, Default)]
pub struct Controls {
    faults: Mutex<Vec<Fault>>,
    latencies: Mutex<Vec<Latency>>,
    log: Mutex<Vec<RequestRecord>>,
}

/// Upper bound on logged requests (oldest dropped first), so long benchmarks do not grow without bound.
const LOG_LIMIT: usize = 200_000;

impl Controls {
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub fn add_latency(&self, latency: Latency) {
        lock(&self.latencies).push(latency);
    }

    pub fn clear_latencies(&self) {
        lock(&self.latencies).clear();
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    /// Logs a request and decides whether to delay and/or fail it.
    pub fn on_request(&self, record: RequestRecord) -> (Duration, Option<u16>) {
        let delay = lock(&self.latencies)
            .iter()
            .filter(|l| l.matches.matches(&record))
            .map(|l| Duration::from_millis(l.millis))
            .max()
            .unwrap_or_default();
        let code = {
            let mut faults = lock(&self.faults);
            let mut rng = rand::rng();
            let hit = faults.iter_mut().find(|f| {
                f.matches.matches(&record)
                    && f.count != Some(0)
                    && (f.rate >= 1.0 || rng.random_bool(f.rate.clamp(0.0, 1.0)))
            });
            hit.map(|f| {
                if let Some(c) = f.count.as_mut() {
                    *c -= 1;
                }
                f.code
            })
        };
        let mut log = lock(&self.log);
        if log.len() >= LOG_LIMIT {
            log.drain(..LOG_LIMIT / 10);
        }
        log.push(record);
        (delay, code)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(verb: &str, resource: &str) -> RequestRecord {
        RequestRecord {
            verb: verb.into(),
            resource: resource.into(),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn faults_match_and_count_down() {
        let c = Controls::default();
        c.add_fault(Fault {
            code: 503,
            matches: RequestMatch {
                verb: Some("list".into()),
                ..RequestMatch::default()
            },
            rate: 1.0,
            count: Some(1),
        });
        assert_eq!(c.on_request(req("get", "pods")).1, None);
        assert_eq!(c.on_request(req("list", "pods")).1, Some(503));
        assert_eq!(c.on_request(req("list", "pods")).1, None);
        assert_eq!(c.requests().len(), 3);
    }

    #[test]
    fn fault_json_shape() {
        let f: Fault =
            serde_json::from_str(r#"{"code":429,"verb":"create","resource":"pods"}"#).unwrap();
        assert_eq!(f.rate, 1.0);
        assert_eq!(f.matches.resource.as_deref(), Some("pods"));
    }
}
