//! Pod health predicates and the StatefulSet status computed from the observed pods (upstream
//! `computeReplicaStatus`, `completeRollingUpdate`, `inconsistentStatus`).

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::revision::pod_revision;

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// The API server gave it a phase, i.e. it exists.
pub(super) fn is_created(pod: &Pod) -> bool {
    !phase(pod).is_empty()
}

pub(super) fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

pub(super) fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Failed" | "Succeeded")
}

pub(super) fn is_pending(pod: &Pod) -> bool {
    phase(pod) == "Pending"
}

fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(ready.last_transition_time.as_ref().map(|t| t.0))
}

pub(super) fn is_running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && ready_since(pod).is_some()
}

/// Upstream `IsPodAvailable`: Ready for longer than `minReadySeconds`.
pub(super) fn is_running_and_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => {
            since.is_some_and(|t| t + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now)
        }
    }
}

pub(super) fn is_healthy(pod: &Pod) -> bool {
    is_running_and_ready(pod) && !is_terminating(pod)
}

/// Upstream `updateStatus` over the set's pods (placeholders for pods not created yet do not count).
pub(super) fn replica_status<'p>(
    pods: impl Iterator<Item = &'p Pod>,
    min_ready_seconds: i32,
    current_revision: &str,
    update_revision: &str,
    now: Timestamp,
) -> Counts {
    let mut counts = Counts::default();
    for pod in pods.filter(|p| is_created(p)) {
        counts.replicas += 1;
        if is_running_and_ready(pod) {
            counts.ready += 1;
            if is_running_and_available(pod, min_ready_seconds, now) {
                counts.available += 1;
            }
        }
        if !is_terminating(pod) {
            let revision = pod_revision(pod).map(String::as_str);
            counts.current += i32::from(revision == Some(current_revision));
            counts.updated += i32::from(revision == Some(update_revision));
        }
    }
    counts
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    pub current: i32,
    pub updated: i32,
}

/// The status to write, or `None` when the stored one already says the same (upstream writes only
/// on `inconsistentStatus`). A finished rolling update promotes the update revision to current.
pub(super) fn status_update(
    set: &StatefulSet,
    counts: Counts,
    current_revision: &str,
    update_revision: &str,
    collision_count: i32,
) -> Option<StatefulSetStatus> {
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    let complete = rolling && counts.updated == counts.replicas && counts.ready == counts.replicas;
    let (current_replicas, current_revision) = if complete {
        (counts.updated, update_revision)
    } else {
        (counts.current, current_revision)
    };
    let old = set.status.clone().unwrap_or_default();
    // omitempty fields of the Go type stay absent when zero
    let non_zero = |n: i32| (n != 0).then_some(n);
    let new = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        replicas: counts.replicas,
        ready_replicas: non_zero(counts.ready),
        available_replicas: Some(counts.available),
        current_replicas: non_zero(current_replicas),
        updated_replicas: non_zero(counts.updated),
        current_revision: Some(current_revision.to_owned()).filter(|r| !r.is_empty()),
        update_revision: Some(update_revision.to_owned()).filter(|r| !r.is_empty()),
        collision_count: Some(collision_count),
        conditions: old.conditions.clone(),
    };
    let zero = |n: Option<i32>| n.unwrap_or(0);
    let inconsistent = new.observed_generation.unwrap_or(0) > old.observed_generation.unwrap_or(0)
        || new.replicas != old.replicas
        || zero(new.current_replicas) != zero(old.current_replicas)
        || zero(new.ready_replicas) != zero(old.ready_replicas)
        || zero(new.updated_replicas) != zero(old.updated_replicas)
        || new.current_revision != old.current_revision
        || zero(new.available_replicas) != zero(old.available_replicas)
        || new.update_revision != old.update_revision;
    inconsistent.then_some(new)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn availability_respects_min_ready_seconds() {
        let now = Timestamp::from_second(1_000).unwrap();
        let pod = ready_pod("web-0", "r1", 990);
        assert!(is_running_and_available(&pod, 0, now));
        assert!(is_running_and_available(&pod, 5, now));
        assert!(!is_running_and_available(&pod, 10, now));
        assert!(!is_running_and_available(
            &pending_pod("web-1", "r1"),
            0,
            now
        ));
    }

    #[test]
    fn counts_table() {
        let now = Timestamp::from_second(1_000).unwrap();
        let pods = [
            ready_pod("web-0", "r1", 0),
            ready_pod("web-1", "r2", 0),
            terminating(ready_pod("web-2", "r2", 0)),
            pending_pod("web-3", "r2"),
            placeholder("web-4", "r2"),
        ];
        assert_eq!(
            replica_status(pods.iter(), 0, "r1", "r2", now),
            Counts {
                replicas: 4,
                ready: 3,
                available: 3,
                current: 1,
                updated: 2
            }
        );
    }

    #[test]
    fn status_written_only_when_inconsistent_and_rollout_completes() {
        let mut set = set_with_claims("web", 2, &[]);
        set.metadata.generation = Some(3);
        let counts = Counts {
            replicas: 2,
            ready: 2,
            available: 2,
            current: 0,
            updated: 2,
        };
        let status = status_update(&set, counts, "r1", "r2", 0).unwrap();
        assert_eq!(status.current_revision.as_deref(), Some("r2"));
        assert_eq!(status.current_replicas, Some(2));
        assert_eq!(status.observed_generation, Some(3));
        set.status = Some(status);
        assert_eq!(status_update(&set, counts, "r1", "r2", 0), None);

        let partial = Counts {
            replicas: 2,
            ready: 1,
            available: 1,
            current: 1,
            updated: 1,
        };
        let status = status_update(&set, partial, "r1", "r2", 0).unwrap();
        assert_eq!(status.current_revision.as_deref(), Some("r1"));
        assert_eq!(status.ready_replicas, Some(1));
        let empty = status_update(
            &set_with_claims("web", 0, &[]),
            Counts::default(),
            "r1",
            "r1",
            0,
        )
        .unwrap();
        assert_eq!(
            (
                empty.ready_replicas,
                empty.current_replicas,
                empty.available_replicas
            ),
            (None, None, Some(0))
        );
    }
}
