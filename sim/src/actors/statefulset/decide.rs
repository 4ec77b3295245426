//! One sync of one StatefulSet as a pure function (upstream `UpdateStatefulSet`): observed pods, claims
//! and revisions → the ordered writes to make and the status to report.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;

use super::identity::{
    self, claims_for, controller_ref, is_member_of, new_pod, ordinal_of, set_name,
};
use super::retention;
use super::revision::{
    self, RevisionWrite, plan_revisions, pod_revision, sort_revisions, template_of,
};
use super::status::{
    is_created, is_finished, is_healthy, is_pending, is_running_and_available,
    is_running_and_ready, is_terminating, replica_status, status_update,
};
use crate::actors::scheduler::selectors::label_selector_matches;

/// What the controller observed for one set: objects of the set's namespace.
#[derive(Clone, Debug)]
pub(super) struct SetView<'a> {
    pub set: &'a StatefulSet,
    pub pods: Vec<Arc<Pod>>,
    pub claims: BTreeMap<String, Arc<PersistentVolumeClaim>>,
    pub revisions: Vec<Arc<ControllerRevision>>,
    pub now: Timestamp,
}

/// A write of the sync, in execution order. The executor stops at the first failure, as upstream's sync
/// returns on the first error.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Action {
    /// Set the ownerReferences of an orphaned ControllerRevision to adopt it.
    AdoptRevision {
        name: String,
        owner_references: Vec<OwnerReference>,
    },
    CreateRevision(Box<ControllerRevision>),
    RenumberRevision {
        name: String,
        revision: i64,
    },
    /// Replace a pod's ownerReferences (adopting an orphan or releasing a pod that left the selector).
    SetPodOwners {
        name: String,
        owner_references: Vec<OwnerReference>,
        resource_version: Option<String>,
    },
    CreateClaim {
        claim: Box<PersistentVolumeClaim>,
        pod: String,
    },
    CreatePod(Box<Pod>),
    SetClaimOwners {
        claim: String,
        pod: String,
        owner_references: Vec<OwnerReference>,
    },
    /// Restore the identity labels of a member pod.
    LabelPod {
        name: String,
        labels: BTreeMap<String, String>,
    },
    DeletePod {
        name: String,
    },
    /// Emit a Warning event and go on.
    Warn {
        reason: &'static str,
        message: String,
    },
    /// Emit a Warning event; the sync ends here.
    Fail {
        reason: &'static str,
        message: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Sync {
    pub actions: Vec<Action>,
    /// ControllerRevisions beyond the history limit (deleted even when an action failed).
    pub prune: Vec<String>,
    pub status: Option<StatefulSetStatus>,
}

/// How processing one pod ended (upstream `(shouldExit, err)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Next,
    /// Wait for this pod before touching later ones (only honoured by OrderedReady).
    Block,
    /// The sync fails here, whatever the policy.
    Error,
}

/// A slot of the ordinal range: an existing pod, or the pod this sync would create.
#[derive(Clone, Debug)]
enum Member {
    Existing(Arc<Pod>),
    New(Box<Pod>),
}

impl Member {
    fn pod(&self) -> &Pod {
        match self {
            Member::Existing(pod) => pod,
            Member::New(pod) => pod,
        }
    }
}

/// The normalised spec fields the sync uses (API defaults for anything unset).
struct Spec {
    replicas: i32,
    start: i32,
    monotonic: bool,
    on_delete: bool,
    partition: i32,
    min_ready_seconds: i32,
}

impl Spec {
    fn of(set: &StatefulSet) -> Self {
        let spec = set.spec.clone().unwrap_or_default();
        let strategy = spec.update_strategy.unwrap_or_default();
        Spec {
            replicas: spec.replicas.unwrap_or(1).max(0),
            start: spec.ordinals.and_then(|o| o.start).unwrap_or(0).max(0),
            monotonic: spec.pod_management_policy.as_deref() != Some("Parallel"),
            on_delete: strategy.type_.as_deref() == Some("OnDelete"),
            partition: strategy
                .rolling_update
                .and_then(|r| r.partition)
                .unwrap_or(0),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        }
    }

    fn in_range(&self, ordinal: i32) -> bool {
        ordinal >= self.start && ordinal < self.start + self.replicas
    }
}

pub(super) fn sync(view: &SetView) -> Sync {
    let set = view.set;
    let spec = Spec::of(set);
    let deleting = set.metadata.deletion_timestamp.is_some();
    let mut actions = Vec::new();

    let (mut revisions, adoptions) = own_revisions(set, &view.revisions, deleting);
    actions.extend(adoptions);
    sort_revisions(&mut revisions);
    let plan = plan_revisions(set, &revisions, |name| {
        view.revisions
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
    });
    match &plan.write {
        Some(RevisionWrite::Create(created)) => {
            actions.push(Action::CreateRevision(created.clone()))
        }
        Some(RevisionWrite::Renumber { name, revision }) => {
            actions.push(Action::RenumberRevision {
                name: name.clone(),
                revision: *revision,
            });
        }
        None => {}
    }
    let current_name = plan.current.metadata.name.clone().unwrap_or_default();
    let update_name = plan.update.metadata.name.clone().unwrap_or_default();

    let (pods, pod_actions) = own_pods(set, &view.pods, deleting);
    actions.extend(pod_actions);
    let members: Vec<&Arc<Pod>> = pods.iter().filter(|p| ordinal_of(p).is_some()).collect();
    let counts = replica_status(
        members.iter().map(|p| p.as_ref()),
        spec.min_ready_seconds,
        &current_name,
        &update_name,
        view.now,
    );
    let status = status_update(
        set,
        counts,
        &current_name,
        &update_name,
        plan.collision_count,
    );
    let prune =
        revision::revisions_to_delete(set, &revisions, &plan, pods.iter().map(|p| pod_revision(p)));
    if deleting {
        return Sync {
            actions,
            prune,
            status,
        };
    }

    let mut work = Work {
        set,
        spec: &spec,
        claims: view.claims.clone(),
        now: view.now,
        actions,
        current_template: template_of(&plan.current),
        update_template: template_of(&plan.update),
        current_name,
        update_name,
    };
    work.run(&members);
    Sync {
        actions: work.actions,
        prune,
        status,
    }
}

/// Revisions of the namespace that belong to the set: selected by its selector and controlled by it or
/// by nobody (orphans get adopted, upstream `adoptOrphanRevisions`).
fn own_revisions(
    set: &StatefulSet,
    revisions: &[Arc<ControllerRevision>],
    deleting: bool,
) -> (Vec<Arc<ControllerRevision>>, Vec<Action>) {
    let selector = set
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let mut ours = Vec::new();
    let mut actions = Vec::new();
    for revision in revisions {
        let labels = revision.metadata.labels.clone().unwrap_or_default();
        if !label_selector_matches(&selector, &labels) {
            continue;
        }
        match controller_uid(revision.metadata.owner_references.as_deref()) {
            Some(owner) if owner == uid => ours.push(revision.clone()),
            Some(_) => {}
            None => {
                ours.push(revision.clone());
                if !deleting {
                    let mut owner_references = revision
                        .metadata
                        .owner_references
                        .clone()
                        .unwrap_or_default();
                    owner_references.push(controller_ref(set));
                    let name = revision.metadata.name.clone().unwrap_or_default();
                    actions.push(Action::AdoptRevision {
                        name,
                        owner_references,
                    });
                }
            }
        }
    }
    (ours, actions)
}

fn controller_uid(references: Option<&[OwnerReference]>) -> Option<&str> {
    references?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// Upstream `getPodsForStatefulSet` (`ClaimPods`): pods controlled by the set, orphans it adopts, and
/// pods it releases because they left its selector.
fn own_pods(set: &StatefulSet, pods: &[Arc<Pod>], deleting: bool) -> (Vec<Arc<Pod>>, Vec<Action>) {
    let selector = set
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let mut ours = Vec::new();
    let mut actions = Vec::new();
    for pod in pods {
        let selected =
            label_selector_matches(&selector, &pod.metadata.labels.clone().unwrap_or_default());
        let owners = pod.metadata.owner_references.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let resource_version = pod.metadata.resource_version.clone();
        match (controller_uid(Some(&owners)), selected) {
            (Some(owner), true) if owner == uid => ours.push(pod.clone()),
            (Some(owner), false) if owner == uid && !deleting => {
                let owner_references = owners.into_iter().filter(|r| r.uid != uid).collect();
                actions.push(Action::SetPodOwners {
                    name,
                    owner_references,
                    resource_version,
                });
            }
            (None, true) if !deleting && !is_terminating(pod) && is_member_of(set, pod) => {
                let mut owner_references = owners;
                owner_references.push(controller_ref(set));
                actions.push(Action::SetPodOwners {
                    name,
                    owner_references,
                    resource_version,
                });
                ours.push(pod.clone());
            }
            _ => {}
        }
    }
    (ours, actions)
}

/// The mutable state of a sync: actions so far, and claims as they will be after them.
struct Work<'a> {
    set: &'a StatefulSet,
    spec: &'a Spec,
    claims: BTreeMap<String, Arc<PersistentVolumeClaim>>,
    now: Timestamp,
    actions: Vec<Action>,
    current_template: PodTemplateSpec,
    update_template: PodTemplateSpec,
    current_name: String,
    update_name: String,
}

impl Work<'_> {
    /// Upstream `updateStatefulSet` after the status computation.
    fn run(&mut self, members: &[&Arc<Pod>]) {
        let spec = self.spec;
        let mut replicas: Vec<Member> = (spec.start..spec.start + spec.replicas)
            .map(|o| Member::New(Box::new(self.versioned_pod(o))))
            .collect();
        let mut condemned: Vec<Arc<Pod>> = Vec::new();
        for pod in members {
            let Some(ordinal) = ordinal_of(pod) else {
                continue;
            };
            if spec.in_range(ordinal) {
                replicas[(ordinal - spec.start) as usize] = Member::Existing(Arc::clone(pod));
            } else {
                condemned.push(Arc::clone(pod));
            }
        }
        condemned.sort_by_key(|p| std::cmp::Reverse(ordinal_of(p)));
        // the first unhealthy pod: lowest replica, else lowest condemned
        let first_unhealthy = replicas
            .iter()
            .map(Member::pod)
            .chain(condemned.iter().rev().map(|p| p.as_ref()))
            .find(|p| !is_healthy(p))
            .and_then(|p| p.metadata.name.clone());

        if self.run_for_all(replicas.len(), |work, i| work.process_replica(&replicas[i])) {
            return;
        }
        if self.run_for_all(condemned.len(), |work, i| {
            work.update_claim_owners(&condemned[i], true);
            Step::Next
        }) {
            return;
        }
        if self.run_for_all(condemned.len(), |work, i| {
            work.process_condemned(&condemned[i], first_unhealthy.as_deref())
        }) {
            return;
        }
        if spec.on_delete {
            return;
        }
        // rolling update: replace the highest ordinal not at the update revision, one at a time
        for member in replicas.iter().skip(spec.partition.max(0) as usize).rev() {
            let pod = member.pod();
            if pod_revision(pod) != Some(&self.update_name) && !is_terminating(pod) {
                self.actions.push(Action::DeletePod {
                    name: pod.metadata.name.clone().unwrap_or_default(),
                });
                return;
            }
            if !is_healthy(pod) {
                return;
            }
        }
    }

    /// Upstream `runForAll`: OrderedReady stops at the first blocked pod; Parallel processes all and stops
    /// only on errors. Returns whether the sync ends here.
    fn run_for_all(
        &mut self,
        count: usize,
        mut process: impl FnMut(&mut Self, usize) -> Step,
    ) -> bool {
        let mut failed = false;
        for i in 0..count {
            match (process(self, i), self.spec.monotonic) {
                (Step::Next, _) | (Step::Block, false) => {}
                (Step::Block, true) | (Step::Error, true) => return true,
                (Step::Error, false) => failed = true,
            }
        }
        failed
    }

    /// Upstream `newVersionedStatefulSetPod`: ordinals below the partition keep the current revision.
    fn versioned_pod(&self, ordinal: i32) -> Pod {
        if !self.spec.on_delete && ordinal < self.spec.start + self.spec.partition {
            new_pod(
                self.set,
                &self.current_template,
                ordinal,
                &self.current_name,
            )
        } else {
            new_pod(self.set, &self.update_template, ordinal, &self.update_name)
        }
    }

    fn process_replica(&mut self, member: &Member) -> Step {
        let spec = self.spec;
        let pod = match member {
            Member::New(pod) => return self.create(pod),
            Member::Existing(pod) => pod,
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        if is_finished(pod) {
            // the replacement comes once this one is gone
            if !is_terminating(pod) {
                self.actions.push(Action::DeletePod { name });
            }
            return Step::Block;
        }
        if is_pending(pod) {
            if self.create_missing_claims(pod) == Step::Error {
                return Step::Error;
            }
            self.update_claim_owners(pod, false);
        }
        let blocked = is_terminating(pod)
            || !is_running_and_ready(pod)
            || !is_running_and_available(pod, spec.min_ready_seconds, self.now);
        if blocked && spec.monotonic {
            return Step::Block;
        }
        if let Some(labels) = identity::identity_labels_to_fix(self.set, pod) {
            self.actions.push(Action::LabelPod { name, labels });
        }
        if !self.claims_up_to_date(pod, false) {
            self.update_claim_owners(pod, false);
        }
        Step::Next
    }

    /// Upstream `CreateStatefulPod`: claims first, then the pod, then the claims' ownerReferences.
    fn create(&mut self, pod: &Pod) -> Step {
        let stale = claims_for(self.set, ordinal_of(pod).unwrap_or(-1))
            .iter()
            .filter_map(|c| {
                self.claims
                    .get(c.metadata.name.as_deref().unwrap_or_default())
            })
            .any(|claim| retention::claim_is_stale(self.set, pod, claim));
        if stale {
            // the garbage collector removes the claim of the previous pod first
            return Step::Block;
        }
        if self.create_missing_claims(pod) == Step::Error {
            return Step::Error;
        }
        self.actions.push(Action::CreatePod(Box::new(pod.clone())));
        self.update_claim_owners(pod, false);
        if self.spec.monotonic {
            Step::Block
        } else {
            Step::Next
        }
    }

    /// Upstream `createPersistentVolumeClaims`: missing claims are created, existing ones reused as
    /// they are; a claim being deleted fails the pod.
    fn create_missing_claims(&mut self, pod: &Pod) -> Step {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let mut deleting = Vec::new();
        for claim in claims_for(self.set, ordinal_of(pod).unwrap_or(-1)) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            match self.claims.get(&name) {
                Some(existing) if existing.metadata.deletion_timestamp.is_some() => {
                    deleting.push(format!("pvc {name} is being deleted"))
                }
                Some(_) => {}
                None => {
                    self.claims.insert(name, Arc::new(claim.clone()));
                    self.actions.push(Action::CreateClaim {
                        claim: Box::new(claim),
                        pod: pod_name.clone(),
                    });
                }
            }
        }
        if deleting.is_empty() {
            return Step::Next;
        }
        let error = if deleting.len() == 1 {
            deleting.remove(0)
        } else {
            format!("[{}]", deleting.join(", "))
        };
        if !is_created(pod) {
            let message = format!(
                "create Pod {pod_name} in StatefulSet {} failed error: {error}",
                set_name(self.set)
            );
            self.actions.push(Action::Fail {
                reason: "FailedCreate",
                message,
            });
        }
        Step::Error
    }

    fn claims_up_to_date(&self, pod: &Pod, scaled_down: bool) -> bool {
        claims_for(self.set, ordinal_of(pod).unwrap_or(-1))
            .iter()
            .filter_map(|c| {
                self.claims
                    .get(c.metadata.name.as_deref().unwrap_or_default())
            })
            .all(|claim| retention::claim_owner_up_to_date(self.set, pod, claim, scaled_down))
    }

    /// Upstream `UpdatePodClaimForRetentionPolicy`.
    fn update_claim_owners(&mut self, pod: &Pod, scaled_down: bool) {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        for template in claims_for(self.set, ordinal_of(pod).unwrap_or(-1)) {
            let name = template.metadata.name.clone().unwrap_or_default();
            let Some(claim) = self.claims.get(&name).cloned() else {
                continue;
            };
            if retention::has_unexpected_controller(self.set, pod, &claim) {
                let message = format!(
                    "PersistentVolumeClaim {name} has a conflicting OwnerReference that acts as a manging controller, \
                     the retention policy is ignored for this claim"
                );
                self.actions.push(Action::Warn {
                    reason: "ConflictingController",
                    message,
                });
            }
            if retention::claim_owner_up_to_date(self.set, pod, &claim, scaled_down) {
                continue;
            }
            let owner_references =
                retention::updated_owner_refs(self.set, pod, &claim, scaled_down);
            let mut updated = PersistentVolumeClaim::clone(&claim);
            updated.metadata.owner_references =
                Some(owner_references.clone()).filter(|r| !r.is_empty());
            self.claims.insert(name.clone(), Arc::new(updated));
            self.actions.push(Action::SetClaimOwners {
                claim: name,
                pod: pod_name.clone(),
                owner_references,
            });
        }
    }

    /// Upstream `processCondemned`: OrderedReady deletes one pod at a time, highest ordinal first, only when
    /// it is healthy or the first unhealthy pod.
    fn process_condemned(&mut self, pod: &Pod, first_unhealthy: Option<&str>) -> Step {
        let monotonic = self.spec.monotonic;
        if is_terminating(pod) {
            return if monotonic { Step::Block } else { Step::Next };
        }
        let is_first_unhealthy = pod.metadata.name.as_deref() == first_unhealthy;
        let unavailable = !is_running_and_ready(pod)
            || !is_running_and_available(pod, self.spec.min_ready_seconds, self.now);
        if monotonic && unavailable && !is_first_unhealthy {
            return Step::Block;
        }
        self.actions.push(Action::DeletePod {
            name: pod.metadata.name.clone().unwrap_or_default(),
        });
        if monotonic { Step::Block } else { Step::Next }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
