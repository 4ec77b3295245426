//! The `berth` command line. Subcommands appear here as the components behind them become real.
use clap::Parser;

/// Berth: a Kubernetes PersistentVolume binder and node-local dynamic provisioner.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
struct Args {}

fn main() {
    let _args = Args::parse();
}
