//! The binder core: which PersistentVolume a claim gets, and what the binder does next. Pure: no I/O, no async.
//!
//! Layout: [`matching`] applies upstream's filters to one claim and a list of PVs (the linear oracle);
//! [`index`] answers the same question in O(log n) per claim; [`explain`] says why each PV does not fit;
//! [`world`] is the read-only snapshot of the cached objects a decision looks at;
//! [`actions`] is what the controller executes; [`claim_sync`] and [`volume_sync`] decide those actions,
//! using the write builders of [`binding`] (bind, unbind, phase and status updates).
//! `fixtures` (tests only) holds the object builders every test module shares; `test_support` (tests only) holds
//! expected-action helpers and a fake API server executing actions per the executor contract; `edge_cases`
//! (tests only) pins binder-spec section 8 and write-then-resync idempotence.
pub mod actions;
pub mod binding;
pub mod claim_sync;
#[cfg(test)]
mod edge_cases;
pub mod explain;
#[cfg(test)]
pub mod fixtures;
pub mod index;
pub mod matching;
#[cfg(test)]
mod test_support;
pub mod volume_sync;
pub mod world;
