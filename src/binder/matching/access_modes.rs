//! Access modes and sets of them, with upstream's canonical order RWO, ROX, RWX, RWOP.
use std::fmt;

/// One access mode of a PV or claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessMode {
    ReadWriteOnce,
    ReadOnlyMany,
    ReadWriteMany,
    ReadWriteOncePod,
}

impl AccessMode {
    /// Every mode, in upstream's canonical order.
    pub const ALL: [AccessMode; 4] = [
        AccessMode::ReadWriteOnce,
        AccessMode::ReadOnlyMany,
        AccessMode::ReadWriteMany,
        AccessMode::ReadWriteOncePod,
    ];

    /// Reads the API spelling ("ReadWriteOnce"); None for anything else.
    pub fn parse(mode: &str) -> Option<AccessMode> {
        Self::ALL.into_iter().find(|known| known.as_str() == mode)
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::ReadWriteOnce => "ReadWriteOnce",
            AccessMode::ReadOnlyMany => "ReadOnlyMany",
            AccessMode::ReadWriteMany => "ReadWriteMany",
            AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
        }
    }

    /// The abbreviation upstream uses in index keys and `kubectl get pv`.
    pub fn abbreviation(self) -> &'static str {
        match self {
            AccessMode::ReadWriteOnce => "RWO",
            AccessMode::ReadOnlyMany => "ROX",
            AccessMode::ReadWriteMany => "RWX",
            AccessMode::ReadWriteOncePod => "RWOP",
        }
    }

    fn bit(self) -> u8 {
        match self {
            AccessMode::ReadWriteOnce => 1,
            AccessMode::ReadOnlyMany => 2,
            AccessMode::ReadWriteMany => 4,
            AccessMode::ReadWriteOncePod => 8,
        }
    }
}

/// A set of access modes (duplicates are irrelevant, as upstream removes them).
///
/// A set read from strings remembers whether it saw a mode that is not one of the four: no PV can provide
/// such a mode, so a claim asking for one matches nothing, as upstream's superset test has it. The
/// canonical string and `len` only count the four known modes, like upstream's index key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AccessModeSet(u8);

/// Marks a set read from a string that names no known mode.
const UNKNOWN: u8 = 16;

impl AccessModeSet {
    /// The empty set (a PV with no modes; a claim asking for none).
    pub const EMPTY: AccessModeSet = AccessModeSet(0);

    /// Reads API spellings; unknown spellings are remembered (see the type's doc).
    pub fn from_strs<I, S>(modes: I) -> AccessModeSet
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        modes.into_iter().fold(Self::EMPTY, |set, mode| {
            match AccessMode::parse(mode.as_ref()) {
                Some(mode) => set.with(mode),
                None => AccessModeSet(set.0 | UNKNOWN),
            }
        })
    }

    /// The set plus one mode.
    pub fn with(self, mode: AccessMode) -> AccessModeSet {
        AccessModeSet(self.0 | mode.bit())
    }

    /// The same set without the memory of unknown modes: what a PV offers, as upstream's index key drops them.
    pub fn known_only(self) -> AccessModeSet {
        AccessModeSet(self.0 & !UNKNOWN)
    }

    pub fn contains(&self, mode: AccessMode) -> bool {
        self.0 & mode.bit() != 0
    }

    /// Whether every mode of `other` is in `self` (a set with unknown modes is contained in none but itself).
    pub fn contains_all(&self, other: &AccessModeSet) -> bool {
        other.0 & !self.0 == 0
    }

    /// Number of known modes.
    pub fn len(&self) -> usize {
        self.known_only().0.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The known modes, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = AccessMode> + '_ {
        AccessMode::ALL
            .into_iter()
            .filter(|mode| self.contains(*mode))
    }

    /// Every set of known modes, each once: there are only sixteen.
    pub fn all_known() -> impl Iterator<Item = AccessModeSet> {
        (0..16u8).map(AccessModeSet)
    }

    /// A dense number in 0..16 for the known modes, to index arrays of per-set data.
    pub fn ordinal(&self) -> usize {
        usize::from(self.known_only().0)
    }
}

impl fmt::Display for AccessModeSet {
    /// Upstream's canonical key: present modes in the order RWO, ROX, RWX, RWOP, joined by ",".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        for mode in self.iter() {
            write!(f, "{separator}{}", mode.abbreviation())?;
            separator = ",";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_string_orders_and_dedups_like_upstream() {
        let set = AccessModeSet::from_strs([
            "ReadWriteMany",
            "ReadWriteOnce",
            "ReadWriteOnce",
            "ReadWriteOncePod",
        ]);
        assert_eq!(set.to_string(), "RWO,RWX,RWOP");
        assert_eq!(set.len(), 3);
        assert_eq!(
            AccessModeSet::from_strs(Vec::<String>::new()).to_string(),
            ""
        );
    }

    #[test]
    fn superset_test_treats_unknown_modes_as_unprovidable() {
        let pv = AccessModeSet::from_strs(["ReadWriteOnce", "ReadOnlyMany", "Bogus"]).known_only();
        assert!(pv.contains_all(&AccessModeSet::from_strs(["ReadOnlyMany"])));
        assert!(pv.contains_all(&AccessModeSet::EMPTY));
        assert!(!pv.contains_all(&AccessModeSet::from_strs(["ReadWriteMany"])));
        assert!(!pv.contains_all(&AccessModeSet::from_strs(["ReadWriteOnce", "Bogus"])));
        assert_eq!(pv.to_string(), "RWO,ROX");
    }
}
