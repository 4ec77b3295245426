//! The binder controller against berth-sim: every behaviour of binder-spec sections 2 and 3, observed through
//! the API (objects, annotations, events).
#[path = "../common/mod.rs"]
mod common;

mod binding;
mod harness;
mod lifecycle;
mod processes;
