//! An incremental index of PVs answering "best volume for this claim" exactly like the linear oracle, faster.
//!
//! Layout of the index, and why it returns what [`matching::find_best_volume`] returns:
//! * Every PV is counted under its access-mode set (sixteen possible sets), so the groups upstream would try
//!   for a claim are known without a scan.
//! * Pools: PVs that no claim-specific filter can exclude except size, selector and node affinity (no
//!   claimRef, phase Available, not being deleted, no VolumeAttributesClass, readable capacity), keyed by
//!   class, then volumeMode, then mode set, each an ordered map by (capacity, name). The smallest fitting PV
//!   of a pool is the first entry at or above the request: O(log n). A claim with a selector (or the
//!   scheduler path, which checks node affinity) walks the pool upwards from there until a PV fits, which is
//!   O(k) in the number of PVs it skips.
//! * PVs with a claimRef are kept by the claim namespace/name they name, so "a PV pre-bound to the claim wins
//!   inside its group" is decided from the few PVs naming that claim, with the full filter chain.
//! * Everything else (Released, Bound to others, being deleted...) is only counted: no claim can choose it.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};

use super::matching::filters::{
    ClaimQuery, Judgement, VolumeFacts, judge, node_affinity_allows, volume_attributes_class,
    volume_storage,
};
use super::matching::{
    AccessMode, AccessModeSet, MatchOptions, Result, claim_modes, volume_modes, volume_volume_mode,
};
use crate::k8s::class::volume_class;
use crate::k8s::quantity::{Quantity, QuantityError};
use crate::k8s::selector::NO_LABELS;

/// PVs of one class, volumeMode and mode set, smallest first, ties by name.
type Pool = BTreeMap<(Quantity, String), Arc<PersistentVolume>>;
/// One pool per access-mode set, indexed by [`AccessModeSet::ordinal`].
type PoolsBySet = [Pool; 16];

/// All known PVs, indexed for matching. Holds `Arc`s so the caller's cache and the index share objects.
#[derive(Debug, Default)]
pub struct VolumeIndex {
    slots: HashMap<String, Slot>,
    /// How many PVs, in any state, offer each access-mode set.
    set_counts: [usize; 16],
    /// class → volumeMode → mode set → pool.
    pools: HashMap<String, HashMap<String, Box<PoolsBySet>>>,
    /// claimRef namespace → claimRef name → names of the PVs whose claimRef names that claim.
    pre_bound: HashMap<String, HashMap<String, BTreeSet<String>>>,
}

/// One PV with what the index derived from it at upsert.
#[derive(Debug)]
struct Slot {
    volume: Arc<PersistentVolume>,
    modes: AccessModeSet,
    capacity: std::result::Result<Quantity, QuantityError>,
    placement: Placement,
}

/// Where a PV sits in the index besides `slots`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    Pool {
        class: String,
        volume_mode: String,
        capacity: Quantity,
    },
    PreBound {
        namespace: String,
        name: String,
    },
    /// No claim can choose it: not Available, being deleted, a VolumeAttributesClass, unreadable capacity.
    Unmatchable,
}

impl VolumeIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a PV, or replaces the PV with the same name.
    pub fn upsert(&mut self, volume: Arc<PersistentVolume>) {
        let name = volume.metadata.name.clone().unwrap_or_default();
        self.remove(&name);
        let capacity = volume_storage(&volume);
        let slot = Slot {
            modes: volume_modes(&volume),
            placement: placement(&volume, &capacity),
            capacity,
            volume,
        };
        self.set_counts[slot.modes.ordinal()] += 1;
        match &slot.placement {
            Placement::Pool {
                class,
                volume_mode,
                capacity,
            } => {
                let pools = self
                    .pools
                    .entry(class.clone())
                    .or_default()
                    .entry(volume_mode.clone())
                    .or_default();
                pools[slot.modes.ordinal()]
                    .insert((*capacity, name.clone()), Arc::clone(&slot.volume));
            }
            Placement::PreBound {
                namespace,
                name: claim,
            } => {
                let by_name = self.pre_bound.entry(namespace.clone()).or_default();
                by_name
                    .entry(claim.clone())
                    .or_default()
                    .insert(name.clone());
            }
            Placement::Unmatchable => {}
        }
        self.slots.insert(name, slot);
    }

    /// Removes the PV with this name, returning it.
    pub fn remove(&mut self, name: &str) -> Option<Arc<PersistentVolume>> {
        let slot = self.slots.remove(name)?;
        self.set_counts[slot.modes.ordinal()] -= 1;
        match &slot.placement {
            Placement::Pool {
                class,
                volume_mode,
                capacity,
            } => {
                if let Some(by_mode) = self.pools.get_mut(class) {
                    if let Some(pools) = by_mode.get_mut(volume_mode) {
                        pools[slot.modes.ordinal()].remove(&(*capacity, name.to_owned()));
                        if pools.iter().all(BTreeMap::is_empty) {
                            by_mode.remove(volume_mode);
                        }
                    }
                    if by_mode.is_empty() {
                        self.pools.remove(class);
                    }
                }
            }
            Placement::PreBound {
                namespace,
                name: claim,
            } => {
                if let Some(by_name) = self.pre_bound.get_mut(namespace) {
                    if let Some(volumes) = by_name.get_mut(claim) {
                        volumes.remove(name);
                        if volumes.is_empty() {
                            by_name.remove(claim);
                        }
                    }
                    if by_name.is_empty() {
                        self.pre_bound.remove(namespace);
                    }
                }
            }
            Placement::Unmatchable => {}
        }
        Some(slot.volume)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<PersistentVolume>> {
        self.slots.get(name).map(|slot| &slot.volume)
    }

    /// Every PV, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<PersistentVolume>> {
        self.slots.values().map(|slot| &slot.volume)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Exactly what [`matching::find_best_volume`](super::matching::find_best_volume) returns for this
    /// claim over the PVs in the index (see its guarantees and errors), in O(log n) for a claim without a
    /// selector in the controller path.
    pub fn find_best_volume(
        &self,
        claim: &PersistentVolumeClaim,
        opts: &MatchOptions,
    ) -> Result<Option<&PersistentVolume>> {
        let wanted = claim_modes(claim);
        let present: Vec<AccessModeSet> = AccessModeSet::all_known()
            .filter(|set| self.set_counts[set.ordinal()] > 0 && set.contains_all(&wanted))
            .collect();
        let Some(node) = opts.node else {
            // Upstream only validates the claim while scanning a mode set that exists.
            if present.is_empty() {
                return Ok(None);
            }
            let query = ClaimQuery::new(claim)?;
            let pre_bound = self.pre_bound_facts(&query);
            for tier in 0..=AccessMode::ALL.len() {
                let in_tier =
                    |modes: &AccessModeSet| modes.len() == tier && modes.contains_all(&wanted);
                let claimed = pre_bound
                    .iter()
                    .filter(|facts| in_tier(&facts.modes))
                    .filter(|facts| {
                        matches!(
                            judge(&query, facts, None, false),
                            Judgement::PreBound { .. }
                        )
                    })
                    .min_by(|a, b| a.cmp_size_then_name(b));
                if let Some(facts) = claimed {
                    return Ok(Some(facts.volume));
                }
                if !opts.delay_binding {
                    let sets = present.iter().filter(|set| in_tier(set));
                    if let Some(volume) = self.smallest_in_pools(&query, sets, None) {
                        return Ok(Some(volume));
                    }
                }
            }
            return Ok(None);
        };
        let query = ClaimQuery::new(claim)?;
        let first_pre_bound = self
            .pre_bound_facts(&query)
            .into_iter()
            .filter_map(|facts| match judge(&query, &facts, Some(node), false) {
                Judgement::PreBound { fits_node } => Some((facts, fits_node)),
                Judgement::Rejected(_) | Judgement::Candidate => None,
            })
            .min_by(|(a, _), (b, _)| a.cmp_size_then_name(b));
        // In the scheduler path the first pre-bound PV ends the search, whether it fits the node or not.
        if let Some((facts, fits_node)) = first_pre_bound {
            return Ok(fits_node.then_some(facts.volume));
        }
        Ok(self.smallest_in_pools(&query, present.iter(), Some(node)))
    }

    /// The PVs whose claimRef names the claim's namespace and name (any uid: `judge` checks it).
    fn pre_bound_facts(&self, query: &ClaimQuery<'_>) -> Vec<VolumeFacts<'_>> {
        let names = self
            .pre_bound
            .get(query.namespace)
            .and_then(|by_name| by_name.get(query.name))
            .into_iter()
            .flatten();
        names
            .filter_map(|name| self.slots.get(name))
            .map(|slot| VolumeFacts::with_capacity(&slot.volume, slot.capacity.clone()))
            .collect()
    }

    /// The smallest (then first by name) pooled PV that fits the claim in any of `sets`.
    fn smallest_in_pools<'s>(
        &self,
        query: &ClaimQuery<'_>,
        sets: impl Iterator<Item = &'s AccessModeSet>,
        node: Option<&Node>,
    ) -> Option<&PersistentVolume> {
        let pools = self.pools.get(query.class)?.get(query.volume_mode)?;
        let fits = |volume: &PersistentVolume| {
            let labels = volume.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
            query
                .selector
                .as_ref()
                .is_none_or(|selector| selector.matches(labels))
                && node.is_none_or(|node| node_affinity_allows(volume, node))
        };
        sets.filter_map(|set| {
            // Ranges start at (request, ""): every PV at least as large as the request, smallest first.
            pools[set.ordinal()]
                .range((query.request, String::new())..)
                .find(|(_, volume)| fits(volume))
        })
        .min_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, volume)| volume.as_ref())
    }
}

/// Where a PV belongs: by claimRef if it has one, in a pool if only size, selector and node can exclude it.
fn placement(
    volume: &PersistentVolume,
    capacity: &std::result::Result<Quantity, QuantityError>,
) -> Placement {
    if let Some(claim_ref) = volume
        .spec
        .as_ref()
        .and_then(|spec| spec.claim_ref.as_ref())
    {
        return Placement::PreBound {
            namespace: claim_ref.namespace.clone().unwrap_or_default(),
            name: claim_ref.name.clone().unwrap_or_default(),
        };
    }
    let available = volume
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        == Some("Available");
    match capacity {
        Ok(capacity)
            if available
                && volume.metadata.deletion_timestamp.is_none()
                && volume_attributes_class(volume).is_empty() =>
        {
            Placement::Pool {
                class: volume_class(volume).to_owned(),
                volume_mode: volume_volume_mode(volume).to_owned(),
                capacity: *capacity,
            }
        }
        _ => Placement::Unmatchable,
    }
}

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod tests;
