//! `berth-sim serve`: runs the simulated cluster until SIGTERM/SIGINT, writing a kubeconfig once ready.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use berth_sim::Sim;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-sim",
    version,
    about = "An in-memory Kubernetes API server and simulated cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API on loopback until SIGTERM or SIGINT.
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (written into the kubeconfig).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the kubeconfig once the server is ready.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Number of simulated nodes (node-1..node-N).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Directory holding one root directory per node (default: a new temporary directory).
    #[arg(long)]
    node_root: Option<PathBuf>,
    #[arg(long)]
    no_scheduler: bool,
    #[arg(long)]
    no_statefulset_controller: bool,
    #[arg(long)]
    no_kubelets: bool,
    /// Enable the built-in DefaultStorageClass admission plugin.
    #[arg(long)]
    builtin_default_class: bool,
    /// Serve HTTPS with a generated CA (written into the kubeconfig) instead of plain HTTP.
    #[arg(long)]
    tls: bool,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60)]
    bookmark_interval_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("start the simulated cluster")]
    Start(#[from] berth_sim::cluster::Error),
    #[error("write the kubeconfig {path}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("install the signal handlers")]
    Signals(#[source] std::io::Error),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("berth-sim: {text}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signals)?;
    let mut builder = Sim::builder()
        .listen(args.listen)
        .nodes(args.nodes)
        .scheduler(!args.no_scheduler)
        .statefulset_controller(!args.no_statefulset_controller)
        .kubelets(!args.no_kubelets)
        .builtin_default_class(args.builtin_default_class)
        .tls(args.tls)
        .bookmark_interval(Duration::from_secs(args.bookmark_interval_seconds.max(1)));
    if let Some(root) = args.node_root {
        builder = builder.node_root(root);
    }
    let sim = builder.start().await?;
    // Write then rename, so a script polling for the file never reads a half-written kubeconfig.
    let tmp = args.kubeconfig.with_extension("tmp");
    let write = std::fs::write(&tmp, sim.kubeconfig_yaml())
        .and_then(|()| std::fs::rename(&tmp, &args.kubeconfig));
    write.map_err(|source| Error::Kubeconfig {
        path: args.kubeconfig.clone(),
        source,
    })?;
    tracing::info!(url = sim.url(), kubeconfig = %args.kubeconfig.display(), nodes = ?sim.node_names(), "berth-sim ready");
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
    }
    sim.shutdown().await;
    Ok(())
}
