//! Leader election on a coordination.k8s.io/v1 Lease: only the holder writes, and a holder that cannot renew
//! stops writing before anyone else may take over.
//!
//! The decision ([`decide`]) is pure: the observed Lease and the clock in, one [`LeaseAction`] out. The loop
//! ([`LeaderElector::run`]) executes it with resourceVersion preconditions, so two contenders racing for an
//! expired lease cannot both win: the loser gets 409 Conflict.
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// Errors of one election round; they are logged and the round is retried, never fatal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read lease {namespace}/{name}")]
    ReadLease {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("write lease {namespace}/{name}")]
    WriteLease {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Timings of the election, as in client-go: a holder renews every `retry_period`, gives up leadership when it
/// could not renew for `renew_deadline`, and others take over once `lease_duration` passed since the last renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timings {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What to do with the Lease this round.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseAction {
    /// No Lease exists: create one held by us.
    Create(Lease),
    /// We hold it: write it back with a fresh renewTime.
    Renew(Lease),
    /// It expired under another holder (or has none): take it over, counting a transition.
    TakeOver(Lease),
    /// Someone else holds a live lease.
    Follow { holder: String },
}

/// Decides this round from the observed Lease. `now` is the local clock; a lease is live while
/// `renewTime + leaseDurationSeconds > now`.
pub fn decide(
    observed: Option<&Lease>,
    name: &str,
    namespace: &str,
    identity: &str,
    duration: Duration,
    now: Timestamp,
) -> LeaseAction {
    let seconds = i32::try_from(duration.as_secs()).unwrap_or(i32::MAX);
    let Some(lease) = observed else {
        let spec = LeaseSpec {
            holder_identity: Some(identity.to_string()),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        };
        let metadata = ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        };
        return LeaseAction::Create(Lease {
            metadata,
            spec: Some(spec),
        });
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec
        .holder_identity
        .clone()
        .filter(|holder| !holder.is_empty());
    let mut next = lease.clone();
    let mut next_spec = spec.clone();
    next_spec.renew_time = Some(MicroTime(now));
    next_spec.lease_duration_seconds = Some(seconds);
    match holder {
        Some(holder) if holder == identity => {
            next.spec = Some(next_spec);
            LeaseAction::Renew(next)
        }
        Some(holder) if is_live(&spec, now) => LeaseAction::Follow { holder },
        _ => {
            next_spec.holder_identity = Some(identity.to_string());
            next_spec.acquire_time = Some(MicroTime(now));
            next_spec.lease_transitions =
                Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
            next.spec = Some(next_spec);
            LeaseAction::TakeOver(next)
        }
    }
}

fn is_live(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(MicroTime(renewed)) = spec.renew_time else {
        return false;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    renewed
        .checked_add(duration)
        .is_ok_and(|expiry| expiry > now)
}

/// Runs the election and publishes leadership on a watch channel that writers check before every write.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    namespace: String,
    identity: String,
    timings: Timings,
    leading: watch::Sender<bool>,
}

impl LeaderElector {
    /// An elector for Lease `namespace/name` as `identity` (unique per process, e.g. pod name + random suffix).
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: Timings,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            namespace: namespace.to_string(),
            identity: identity.to_string(),
            timings,
            leading: watch::Sender::new(false),
        }
    }

    /// A receiver that is `true` exactly while this process may write.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Campaigns and renews forever. Leadership is dropped (the channel flips to false) as soon as a renewal is
    /// refused, or when no renewal succeeded for `renew_deadline` — strictly before `lease_duration`, so nobody
    /// else can have taken over while we still believe we lead.
    pub async fn run(self) {
        let mut last_renewal: Option<tokio::time::Instant> = None;
        loop {
            match self.round().await {
                Ok(true) => {
                    last_renewal = Some(tokio::time::Instant::now());
                    self.set_leading(true);
                }
                Ok(false) => {
                    last_renewal = None;
                    self.set_leading(false);
                }
                Err(error) => {
                    tracing::warn!(%error, "lease round failed");
                    let expired =
                        last_renewal.is_none_or(|at| at.elapsed() >= self.timings.renew_deadline);
                    if expired {
                        last_renewal = None;
                        self.set_leading(false);
                    }
                }
            }
            tokio::time::sleep(self.timings.retry_period).await;
        }
    }

    fn set_leading(&self, leading: bool) {
        let changed = self
            .leading
            .send_if_modified(|current| std::mem::replace(current, leading) != leading);
        if changed {
            tracing::info!(identity = %self.identity, lease = %self.name, leading, "leadership changed");
        }
    }

    /// One round: returns whether we hold the lease afterwards. A conflict means another contender wrote first.
    async fn round(&self) -> Result<bool> {
        let read_error = |source| Error::ReadLease {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source: Box::new(source),
        };
        let observed = self.api.get_opt(&self.name).await.map_err(read_error)?;
        let action = decide(
            observed.as_ref(),
            &self.name,
            &self.namespace,
            &self.identity,
            self.timings.lease_duration,
            Timestamp::now(),
        );
        let params = PostParams::default();
        let written = match action {
            LeaseAction::Follow { holder } => {
                tracing::debug!(%holder, "following");
                return Ok(false);
            }
            LeaseAction::Create(lease) => self.api.create(&params, &lease).await,
            // `replace` sends the resourceVersion we read: a concurrent writer turns this into 409 Conflict.
            LeaseAction::Renew(lease) | LeaseAction::TakeOver(lease) => {
                self.api.replace(&self.name, &params, &lease).await
            }
        };
        match written {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(response)) if response.code == 409 => Ok(false),
            Err(source) => Err(Error::WriteLease {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source: Box::new(source),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DURATION: Duration = Duration::from_secs(15);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn lease(holder: Option<&str>, renewed: i64, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("berth".into()),
                namespace: Some("berth-system".into()),
                resource_version: Some("7".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(at(renewed))),
                acquire_time: Some(MicroTime(at(renewed))),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }

    fn spec(action: &LeaseAction) -> &LeaseSpec {
        match action {
            LeaseAction::Create(lease)
            | LeaseAction::Renew(lease)
            | LeaseAction::TakeOver(lease) => lease.spec.as_ref().unwrap(),
            LeaseAction::Follow { .. } => panic!("no lease in {action:?}"),
        }
    }

    #[test]
    fn missing_lease_is_created_held_by_us() {
        let action = decide(None, "berth", "berth-system", "me", DURATION, at(100));
        assert!(matches!(action, LeaseAction::Create(_)));
        assert_eq!(spec(&action).holder_identity.as_deref(), Some("me"));
        assert_eq!(spec(&action).lease_transitions, Some(0));
    }

    #[test]
    fn live_lease_of_another_is_followed() {
        let action = decide(
            Some(&lease(Some("other"), 100, 3)),
            "berth",
            "berth-system",
            "me",
            DURATION,
            at(114),
        );
        assert_eq!(
            action,
            LeaseAction::Follow {
                holder: "other".into()
            }
        );
    }

    #[test]
    fn expired_lease_is_taken_over_with_one_more_transition_and_same_resource_version() {
        let action = decide(
            Some(&lease(Some("other"), 100, 3)),
            "berth",
            "berth-system",
            "me",
            DURATION,
            at(115),
        );
        let LeaseAction::TakeOver(next) = &action else {
            panic!("{action:?}")
        };
        assert_eq!(next.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(spec(&action).holder_identity.as_deref(), Some("me"));
        assert_eq!(spec(&action).lease_transitions, Some(4));
        assert_eq!(spec(&action).renew_time, Some(MicroTime(at(115))));
    }

    #[test]
    fn our_own_lease_is_renewed_without_a_transition() {
        let action = decide(
            Some(&lease(Some("me"), 100, 3)),
            "berth",
            "berth-system",
            "me",
            DURATION,
            at(105),
        );
        assert!(matches!(action, LeaseAction::Renew(_)));
        assert_eq!(spec(&action).lease_transitions, Some(3));
        assert_eq!(spec(&action).acquire_time, Some(MicroTime(at(100))));
        assert_eq!(spec(&action).renew_time, Some(MicroTime(at(105))));
    }

    #[test]
    fn released_lease_without_holder_is_taken_at_once() {
        let action = decide(
            Some(&lease(None, 100, 1)),
            "berth",
            "berth-system",
            "me",
            DURATION,
            at(101),
        );
        assert!(matches!(action, LeaseAction::TakeOver(_)));
    }
}
