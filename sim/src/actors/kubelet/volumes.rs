//! Pod volumes: which storage backs each of a pod's volumes on this node, decided from the API objects alone
//! (the kubelet's volume preconditions; the disk is looked at later, in `mounts`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume, PersistentVolumeClaim, Pod, Volume,
};

/// Read access to the claims and volumes the kubelet has observed.
pub trait VolumeLookup {
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>>;
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>>;
}

/// The claims and volumes one pod refers to, as read from the API for one decision.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    claims: HashMap<(String, String), Arc<PersistentVolumeClaim>>,
    volumes: HashMap<String, Arc<PersistentVolume>>,
}

impl Snapshot {
    pub fn add_claim(&mut self, claim: PersistentVolumeClaim) {
        let namespace = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        self.claims.insert((namespace, name), Arc::new(claim));
    }

    pub fn add_volume(&mut self, volume: PersistentVolume) {
        let name = volume.metadata.name.clone().unwrap_or_default();
        self.volumes.insert(name, Arc::new(volume));
    }
}

impl VolumeLookup for Snapshot {
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes.get(name).cloned()
    }
}

/// The names of the claims `pod` uses (direct, and generic ephemeral ones named `<pod>-<volume>`).
pub fn claim_names(pod: &Pod) -> Vec<String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    volumes
        .iter()
        .filter_map(
            |volume| match (&volume.persistent_volume_claim, &volume.ephemeral) {
                (Some(claim), _) => Some(claim.claim_name.clone()),
                (None, Some(_)) => Some(format!("{pod_name}-{}", volume.name)),
                (None, None) => None,
            },
        )
        .collect()
}

/// The node a kubelet serves, as PV node affinity sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeIdentity {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// What backs one pod volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A `local` PV: `path` (on the node) must already exist.
    Local {
        pv: String,
        path: String,
        block: bool,
    },
    /// A `hostPath` PV or inline volume, with its `type` check (`""` = none).
    HostPath { path: String, kind: String },
    /// A fresh directory that lives as long as the pod.
    EmptyDir,
    /// A configMap, secret, projected or downwardAPI volume: its content is not simulated, the container gets
    /// an empty directory.
    Placeholder { kind: &'static str },
}

/// One pod volume and its backing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodVolume {
    pub name: String,
    pub backing: Backing,
}

/// Why a pod's volumes cannot be set up yet; `message` reads like the kubelet's FailedMount event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumesBlocked {
    pub message: String,
}

impl VolumesBlocked {
    /// The kubelet's FailedMount wording for the `blocked` volume names and the first problem found.
    pub fn new(blocked: &[String], detail: &str) -> Self {
        Self {
            message: format!(
                "Unable to attach or mount volumes: unmounted volumes=[{}]: {detail}",
                blocked.join(" ")
            ),
        }
    }
}

/// Resolves every volume of `pod` for `node`; all must be usable for the pod to start.
///
/// # Errors
/// `VolumesBlocked` naming the unusable volumes and the first reason (unbound claim, claim being deleted,
/// PV bound elsewhere, PV for another node, unsupported volume type).
pub fn resolve(
    pod: &Pod,
    node: &NodeIdentity,
    lookup: &dyn VolumeLookup,
) -> Result<Vec<PodVolume>, VolumesBlocked> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    let mut resolved = Vec::new();
    let mut blocked = Vec::new();
    let mut first_problem = None;
    for volume in volumes {
        match resolve_volume(namespace, pod_name, volume, node, lookup) {
            Ok(backing) => resolved.push(PodVolume {
                name: volume.name.clone(),
                backing,
            }),
            Err(problem) => {
                blocked.push(volume.name.clone());
                first_problem.get_or_insert(problem);
            }
        }
    }
    match first_problem {
        None => Ok(resolved),
        Some(problem) => Err(VolumesBlocked::new(&blocked, &problem)),
    }
}

fn resolve_volume(
    namespace: &str,
    pod_name: &str,
    volume: &Volume,
    node: &NodeIdentity,
    lookup: &dyn VolumeLookup,
) -> Result<Backing, String> {
    if let Some(claim) = &volume.persistent_volume_claim {
        return resolve_claim(namespace, &claim.claim_name, node, lookup);
    }
    if volume.ephemeral.is_some() {
        // A generic ephemeral volume's claim is named after the pod and the volume.
        return resolve_claim(
            namespace,
            &format!("{pod_name}-{}", volume.name),
            node,
            lookup,
        );
    }
    if let Some(host_path) = &volume.host_path {
        return Ok(Backing::HostPath {
            path: host_path.path.clone(),
            kind: host_path.type_.clone().unwrap_or_default(),
        });
    }
    let placeholder = [
        (volume.config_map.is_some(), "configmap"),
        (volume.secret.is_some(), "secret"),
        (volume.projected.is_some(), "projected"),
        (volume.downward_api.is_some(), "downward-api"),
    ];
    match (
        volume.empty_dir.is_some(),
        placeholder.iter().find(|(set, _)| *set),
    ) {
        (true, _) => Ok(Backing::EmptyDir),
        (false, Some((_, kind))) => Ok(Backing::Placeholder { kind }),
        (false, None) => Err(format!(
            "volume {:?}: volume type not supported by the simulated kubelet",
            volume.name
        )),
    }
}

/// The kubelet's claim preconditions (desired-state populator), in its order and wording.
fn resolve_claim(
    namespace: &str,
    claim_name: &str,
    node: &NodeIdentity,
    lookup: &dyn VolumeLookup,
) -> Result<Backing, String> {
    let claim = lookup
        .claim(namespace, claim_name)
        .ok_or_else(|| format!("persistentvolumeclaim {claim_name:?} not found"))?;
    if claim.metadata.deletion_timestamp.is_some() {
        return Err(format!(
            "can't start pod because PVC {namespace}/{claim_name} is being deleted"
        ));
    }
    let phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default();
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default();
    if phase != "Bound" || volume_name.is_empty() {
        return Err(format!(
            "PVC {namespace}/{claim_name} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName \
             ({volume_name:?})"
        ));
    }
    let pv = lookup
        .volume(volume_name)
        .ok_or_else(|| format!("persistentvolume {volume_name:?} not found"))?;
    let spec = pv.spec.clone().unwrap_or_default();
    let claim_uid = claim.metadata.uid.as_deref().unwrap_or_default();
    let ref_uid = spec
        .claim_ref
        .as_ref()
        .and_then(|r| r.uid.as_deref())
        .unwrap_or_default();
    if ref_uid != claim_uid {
        return Err(format!(
            "found PV object {volume_name:?} but its pv.Spec.ClaimRef.UID ({ref_uid:?}) does not point to \
             claim.UID ({claim_uid:?})"
        ));
    }
    let terms = spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        .map(|r| r.node_selector_terms.as_slice());
    if let Some(terms) = terms
        && !terms.iter().any(|term| term_matches(term, node))
    {
        return Err(format!(
            "volume node affinity conflict: PV {volume_name:?} cannot be used on node {:?}",
            node.name
        ));
    }
    let block = spec.volume_mode.as_deref() == Some("Block");
    match (&spec.local, &spec.host_path) {
        (Some(local), _) => Ok(Backing::Local {
            pv: volume_name.to_string(),
            path: local.path.clone(),
            block,
        }),
        (None, Some(host_path)) => Ok(Backing::HostPath {
            path: host_path.path.clone(),
            kind: host_path.type_.clone().unwrap_or_default(),
        }),
        (None, None) => Err(format!(
            "PV {volume_name:?}: volume type not supported by the simulated kubelet (only local and hostPath)"
        )),
    }
}

/// A node selector term matches when all its expressions and fields match (terms are ORed by the caller).
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeIdentity) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    let field_value = |key: &str| (key == "metadata.name").then_some(node.name.as_str());
    let has_requirements = !expressions.is_empty() || !fields.is_empty();
    // An empty term matches nothing (upstream `MatchNodeSelectorTerms`).
    has_requirements
        && expressions
            .iter()
            .all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str)))
        && fields
            .iter()
            .all(|r| requirement_matches(r, field_value(&r.key)))
}

fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let number = |text: &str| text.parse::<i64>().ok();
    let compare = |ordering: std::cmp::Ordering| match (
        value.and_then(number),
        values.first().and_then(|v| number(v)),
    ) {
        (Some(have), Some(bound)) => have.cmp(&bound) == ordering,
        _ => false,
    };
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => compare(std::cmp::Ordering::Greater),
        "Lt" => compare(std::cmp::Ordering::Less),
        _ => false,
    }
}

#[cfg(test)]
#[path = "volumes_tests.rs"]
mod tests;
