//! `berth controller`: runs the binder against the API — caches, work queues, the action executor and
//! leader election.
pub mod cache;
pub mod executor;
pub mod lease;
pub mod queue;
pub mod run;
pub mod watch;
