//! `berth webhook` called by berth-sim's admission chain over TLS, and `berth why` run as the real binary
//! against berth-sim.
#[path = "../common/mod.rs"]
mod common;

mod admission;
mod why;
