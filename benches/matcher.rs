//! Best-match latency: the linear oracle against the index, at 1k, 10k and 100k PVs.
//!
//! The world is a realistic mix: three classes, three access-mode sets, sizes from 1Gi to 1Ti, about 10%
//! of PVs bound to other claims, a few Released. Claims rotate through classes, modes and sizes.
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use berth::binder::index::VolumeIndex;
use berth::binder::matching::{MatchOptions, find_best_volume};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeSpec, PersistentVolumeStatus, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

const CLASSES: [&str; 3] = ["fast", "standard", "archive"];
const MODE_SETS: [&[&str]; 3] = [
    &["ReadWriteOnce"],
    &["ReadWriteOnce", "ReadOnlyMany"],
    &["ReadWriteMany"],
];
const SIZES: [&str; 8] = ["1Gi", "2Gi", "5Gi", "10Gi", "50Gi", "100Gi", "500Gi", "1Ti"];

/// A deterministic pseudo-random sequence (xorshift), so every run benches the same world.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

fn storage(size: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([("storage".to_owned(), Quantity(size.to_owned()))])
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn volume(n: usize, sequence: &mut Sequence) -> PersistentVolume {
    let bound = sequence.next(10) == 0;
    let phase = match (bound, sequence.next(50)) {
        (true, _) => "Bound",
        (false, 0) => "Released",
        (false, _) => "Available",
    };
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(format!("pv-{n:06}")),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(storage(SIZES[sequence.next(SIZES.len())])),
            access_modes: Some(strings(MODE_SETS[sequence.next(MODE_SETS.len())])),
            storage_class_name: Some(CLASSES[sequence.next(CLASSES.len())].to_owned()),
            claim_ref: bound.then(|| ObjectReference {
                namespace: Some("apps".to_owned()),
                name: Some(format!("bound-{n}")),
                uid: Some(format!("uid-{n}")),
                ..ObjectReference::default()
            }),
            ..PersistentVolumeSpec::default()
        }),
        status: Some(PersistentVolumeStatus {
            phase: Some(phase.to_owned()),
            ..PersistentVolumeStatus::default()
        }),
    }
}

fn claims() -> Vec<PersistentVolumeClaim> {
    let requests = ["3Gi", "20Gi", "200Gi"];
    let mut claims = Vec::new();
    for (n, class) in CLASSES.iter().enumerate() {
        for (m, modes) in [&["ReadWriteOnce"][..], &["ReadWriteMany"][..]]
            .iter()
            .enumerate()
        {
            claims.push(PersistentVolumeClaim {
                metadata: ObjectMeta {
                    namespace: Some("apps".to_owned()),
                    name: Some(format!("data-{n}-{m}")),
                    uid: Some(format!("claim-uid-{n}-{m}")),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(strings(modes)),
                    storage_class_name: Some((*class).to_owned()),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(storage(requests[(n + m) % requests.len()])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                status: None,
            });
        }
    }
    claims
}

fn best_match(c: &mut Criterion) {
    let claims = claims();
    let options = MatchOptions::default();
    let mut group = c.benchmark_group("best_match");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for size in [1_000, 10_000, 100_000] {
        let mut sequence = Sequence(0x9e37_79b9_7f4a_7c15);
        let volumes: Vec<PersistentVolume> = (0..size).map(|n| volume(n, &mut sequence)).collect();
        let mut index = VolumeIndex::new();
        for volume in &volumes {
            index.upsert(Arc::new(volume.clone()));
        }
        // Both must agree, or the comparison means nothing.
        for claim in &claims {
            let linear = find_best_volume(claim, &volumes, &options)
                .map(|v| v.and_then(|v| v.metadata.name.clone()));
            let indexed = index
                .find_best_volume(claim, &options)
                .map(|v| v.and_then(|v| v.metadata.name.clone()));
            assert_eq!(linear, indexed, "index and oracle disagree at {size} PVs");
        }
        let mut next = 0;
        group.bench_with_input(BenchmarkId::new("linear", size), &volumes, |b, volumes| {
            b.iter(|| {
                next = (next + 1) % claims.len();
                black_box(find_best_volume(&claims[next], volumes, &options))
            })
        });
        group.bench_with_input(BenchmarkId::new("indexed", size), &index, |b, index| {
            b.iter(|| {
                next = (next + 1) % claims.len();
                black_box(index.find_best_volume(&claims[next], &options))
            })
        });
    }
    group.finish();
}

fn index_upsert(c: &mut Criterion) {
    let mut sequence = Sequence(0x2545_f491_4f6c_dd1d);
    let mut index = VolumeIndex::new();
    for n in 0..100_000 {
        index.upsert(Arc::new(volume(n, &mut sequence)));
    }
    let replacements: Vec<Arc<PersistentVolume>> = (0..1_000)
        .map(|n| Arc::new(volume(n, &mut sequence)))
        .collect();
    let mut next = 0;
    c.bench_function("index_upsert_replace_at_100k", |b| {
        b.iter(|| {
            next = (next + 1) % replacements.len();
            index.upsert(Arc::clone(&replacements[next]));
        })
    });
}

criterion_group!(benches, best_match, index_upsert);
criterion_main!(benches);
