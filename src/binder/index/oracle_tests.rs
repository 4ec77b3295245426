//! Random worlds: the index must choose exactly what the linear oracle chooses, after any upserts/removals.
//!
//! Worlds are decoded from raw bytes so proptest generates and shrinks them cheaply: each PV and claim draws
//! from small sets of sizes (with ties in different spellings), classes (nil, "", beta annotation), mode sets,
//! phases, claimRefs (with and without uid, to claims that exist or not), volume modes, deletion,
//! VolumeAttributesClasses, labels and node affinity; claims add selectors, some of them invalid.
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use proptest::prelude::*;

use super::VolumeIndex;
use crate::binder::fixtures::{claim, pv};
use crate::binder::matching::test_objects::{
    claim_with_attributes_class, node, volume_with_attributes_class, with_affinity,
    with_expression, with_volume_beta_class,
};
use crate::binder::matching::{MatchOptions, Result, find_best_volume};

const SIZES: [Option<&str>; 12] = [
    None,
    Some("0"),
    Some("512Mi"),
    Some("1Gi"),
    Some("1024Mi"),
    Some("1073741824"),
    Some("1G"),
    Some("2Gi"),
    Some("5Gi"),
    Some("10Gi"),
    Some("1500m"),
    Some("bad"),
];
const REQUESTS: [Option<&str>; 15] = [
    None,
    Some("0"),
    Some("1Gi"),
    Some("1G"),
    Some("2Gi"),
    Some("512Mi"),
    Some("3Gi"),
    Some("1500m"),
    Some("1"),
    Some("1Gi"),
    Some("2Gi"),
    Some("1G"),
    Some("5Gi"),
    Some("700Mi"),
    Some("1 Gi"),
];
const MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];
const PHASES: [Option<&str>; 12] = [
    Some("Available"),
    Some("Available"),
    Some("Available"),
    Some("Available"),
    Some("Available"),
    Some("Available"),
    Some("Available"),
    Some("Pending"),
    Some("Released"),
    Some("Bound"),
    Some("Failed"),
    None,
];
const NAMESPACES: [&str; 2] = ["ns1", "ns2"];
const NAMES: [&str; 3] = ["c0", "c1", "c2"];
const UIDS: [Option<&str>; 3] = [None, Some("u0"), Some("u1")];
const VOLUME_MODES: [Option<&str>; 5] = [None, Some("Filesystem"), None, Some("Block"), None];

/// Mode sets, biased towards `common` so that claims often find PVs: most bytes give a common set, the
/// rest any of the sixteen sets, rarely with an unknown mode.
fn modes(byte: u8, common: &[u8]) -> Vec<&'static str> {
    let bits = match usize::from(byte) % (2 * common.len()) {
        pick if pick < common.len() => common[pick],
        _ => byte >> 4,
    };
    let mut modes: Vec<&str> = (0..4)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| MODES[i])
        .collect();
    if byte >= 252 {
        modes.push("Sometimes");
    }
    modes
}

fn decode_volume(index: usize, b: [u8; 12]) -> PersistentVolume {
    let pick = |byte: u8, len: usize| usize::from(byte) % len;
    let common = [0b0001, 0b0001, 0b0001, 0b0011, 0b0101, 0b0100];
    let mut builder = pv(&format!("pv-{index}")).modes(&modes(b[1], &common));
    // The last size is malformed: rare, like the malformed request.
    let size = match b[0] {
        255 => SIZES[SIZES.len() - 1],
        byte => SIZES[pick(byte, SIZES.len() - 1)],
    };
    if let Some(size) = size {
        builder = builder.capacity(size);
    }
    builder = match b[2] % 8 {
        1 => builder.class(""),
        3 => builder.class("slow"),
        0 | 2 => builder,
        _ => builder.class("fast"),
    };
    if let Some(phase) = PHASES[pick(b[3], PHASES.len())] {
        builder = builder.phase(phase);
    }
    if b[4].is_multiple_of(3) {
        let uid = UIDS[pick(b[7], UIDS.len())];
        builder = builder.claim_ref(NAMESPACES[pick(b[5], 2)], NAMES[pick(b[6], 3)], uid);
    }
    if let Some(mode) = VOLUME_MODES[pick(b[8], VOLUME_MODES.len())] {
        builder = builder.volume_mode(mode);
    }
    if b[9].is_multiple_of(10) {
        builder = builder.deleting();
    }
    match b[10] % 3 {
        1 => builder = builder.label("tier", "gold"),
        2 => builder = builder.label("tier", "silver"),
        _ => {}
    }
    if (b[10] / 3) % 2 == 1 {
        builder = builder.label("zone", "a");
    }
    let mut volume = builder.build();
    if b[2] % 8 == 4 {
        // The beta annotation overrides the field ("fast" → "slow").
        volume = with_volume_beta_class(volume, "slow");
    }
    if b[9] % 17 == 1 {
        volume = volume_with_attributes_class(volume, "gold");
    }
    match b[11] % 4 {
        2 => with_affinity(volume, "zone", &["a"]),
        3 => with_affinity(volume, "zone", &["b"]),
        _ => volume,
    }
}

fn decode_claim(c: [u8; 10]) -> PersistentVolumeClaim {
    let pick = |byte: u8, len: usize| usize::from(byte) % len;
    let common = [
        0b0001, 0b0001, 0b0001, 0b0001, 0b0001, 0b0001, 0b0011, 0b0100, 0b0010, 0b0000,
    ];
    let mut builder =
        claim(NAMESPACES[pick(c[0], 2)], NAMES[pick(c[1], 3)]).modes(&modes(c[4], &common));
    if let Some(uid) = UIDS[pick(c[2], UIDS.len())] {
        builder = builder.uid(uid);
    }
    // The last request is malformed: rare, so most claims get to the PVs.
    let request = match c[3] {
        255 => REQUESTS[REQUESTS.len() - 1],
        byte => REQUESTS[pick(byte, REQUESTS.len() - 1)],
    };
    if let Some(request) = request {
        builder = builder.request(request);
    }
    builder = match c[5] % 8 {
        0 => builder,
        1 => builder.class(""),
        3 => builder.class("slow"),
        4 => builder.class("fast").beta_class("slow"),
        _ => builder.class("fast"),
    };
    if let Some(mode) = VOLUME_MODES[pick(c[6], VOLUME_MODES.len())] {
        builder = builder.volume_mode(mode);
    }
    let claim = match c[7] % 16 {
        3 | 8 => builder.selector(&[("tier", "gold")]).build(),
        4 | 9 => with_expression(builder.build(), "tier", "NotIn", &["gold"]),
        5 | 10 => with_expression(builder.build(), "zone", "Exists", &[]),
        6 => builder.selector(&[]).build(),
        _ if c[7] >= 252 => with_expression(builder.build(), "zone", "Exists", &["a"]),
        _ => builder.build(),
    };
    match c[8] {
        250.. => claim_with_attributes_class(claim, "gold"),
        _ => claim,
    }
}

fn decode_node(byte: u8) -> Option<Node> {
    match byte % 8 {
        6 => Some(node("node-a", &[("zone", "a")])),
        7 => Some(node("node-b", &[("zone", "b")])),
        _ => None,
    }
}

fn chosen_name(found: Result<Option<&PersistentVolume>>) -> Result<Option<String>> {
    found.map(|volume| volume.map(|volume| volume.metadata.name.clone().unwrap_or_default()))
}

/// One world: initial PVs, then edits (remove or replace PV `n`), then claims with options.
type World = (
    Vec<[u8; 12]>,
    Vec<(u8, bool, [u8; 12])>,
    Vec<([u8; 10], u8, u8)>,
);

fn worlds() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(any::<[u8; 12]>(), 0..32),
        prop::collection::vec((any::<u8>(), any::<bool>(), any::<[u8; 12]>()), 0..6),
        prop::collection::vec((any::<[u8; 10]>(), any::<u8>(), any::<u8>()), 1..6),
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn index_chooses_exactly_what_the_linear_oracle_chooses((volumes, edits, claims) in worlds()) {
        let mut model: BTreeMap<String, PersistentVolume> = BTreeMap::new();
        let mut index = VolumeIndex::new();
        for (n, bytes) in volumes.iter().enumerate() {
            let volume = decode_volume(n, *bytes);
            model.insert(format!("pv-{n}"), volume.clone());
            index.upsert(Arc::new(volume));
        }
        for (target, remove, bytes) in edits {
            let n = usize::from(target) % (volumes.len() + 1);
            let name = format!("pv-{n}");
            if remove {
                let removed = index.remove(&name).map(|volume| volume.as_ref().clone());
                prop_assert_eq!(removed, model.remove(&name));
            } else {
                let volume = decode_volume(n, bytes);
                model.insert(name, volume.clone());
                index.upsert(Arc::new(volume));
            }
        }
        prop_assert_eq!(index.len(), model.len());
        for (bytes, delay, node_byte) in claims {
            let claim = decode_claim(bytes);
            let node = decode_node(node_byte);
            let opts = MatchOptions { delay_binding: delay.is_multiple_of(8), node: node.as_ref() };
            let oracle = chosen_name(find_best_volume(&claim, model.values(), &opts));
            // The oracle's answer must not depend on the order of its input.
            let reversed = chosen_name(find_best_volume(&claim, model.values().rev(), &opts));
            prop_assert_eq!(&reversed, &oracle);
            let indexed = chosen_name(index.find_best_volume(&claim, &opts));
            prop_assert_eq!(indexed, oracle, "claim {:?}", claim);
        }
    }
}
