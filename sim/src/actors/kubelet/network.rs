//! Fake pod and node addresses: each node gets its own /24 for pods, derived from its name, so pod IPs are
//! unique per node and stable for the life of a pod.

use std::collections::BTreeMap;

/// FNV-1a: a stable hash (unlike `std`'s randomised one), so a node's subnet is the same on every run.
fn stable_hash(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The address a node reports when its Node object has no `InternalIP`.
pub fn fallback_node_ip(node: &str) -> String {
    let [_, _, a, b] = stable_hash(node).to_be_bytes();
    format!("172.18.{a}.{}", b.clamp(2, 254))
}

/// Hands out pod IPs from the node's /24 (hosts .2 to .254).
#[derive(Clone, Debug)]
pub struct IpPool {
    prefix: [u8; 2],
    by_pod: BTreeMap<String, u8>,
}

impl IpPool {
    pub fn new(node: &str) -> Self {
        let [_, _, a, b] = stable_hash(node).to_be_bytes();
        Self {
            prefix: [a, b],
            by_pod: BTreeMap::new(),
        }
    }

    /// The pod's IP, allocating the lowest free one on first use; `None` when the /24 is exhausted.
    pub fn allocate(&mut self, pod_uid: &str) -> Option<String> {
        let host = match self.by_pod.get(pod_uid) {
            Some(host) => *host,
            None => {
                let host = (2..=254).find(|h| !self.by_pod.values().any(|used| used == h))?;
                self.by_pod.insert(pod_uid.to_string(), host);
                host
            }
        };
        let [a, b] = self.prefix;
        Some(format!("10.{a}.{b}.{host}"))
    }

    pub fn release(&mut self, pod_uid: &str) {
        self.by_pod.remove(pod_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_distinct_stable_addresses_in_the_node_subnet() {
        let mut pool = IpPool::new("node-1");
        let a = pool.allocate("a").unwrap();
        let b = pool.allocate("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(pool.allocate("a").unwrap(), a, "same pod, same address");
        let subnet = |ip: &str| ip.rsplit_once('.').unwrap().0.to_string();
        assert_eq!(subnet(&a), subnet(&b));
        assert!(a.ends_with(".2") && b.ends_with(".3"));
        pool.release("a");
        assert_eq!(
            pool.allocate("c").unwrap(),
            a,
            "released addresses are reused"
        );
        assert_ne!(
            subnet(&IpPool::new("node-2").allocate("a").unwrap()),
            subnet(&a)
        );
    }

    #[test]
    fn the_pool_runs_out_after_253_pods() {
        let mut pool = IpPool::new("n");
        for i in 0..253 {
            assert!(pool.allocate(&i.to_string()).is_some());
        }
        assert_eq!(pool.allocate("one-too-many"), None);
    }

    #[test]
    fn fallback_node_addresses_are_stable_per_node() {
        assert_eq!(fallback_node_ip("node-1"), fallback_node_ip("node-1"));
        assert_ne!(fallback_node_ip("node-1"), fallback_node_ip("node-2"));
        assert!(fallback_node_ip("node-1").starts_with("172.18."));
    }
}
