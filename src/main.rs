//! The `berth` command line: parses arguments and starts one component. Subcommands appear here as the
//! components behind them become real.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use berth::admission::{server, tls::ServingCert};
use clap::{Args, Parser, Subcommand};

/// Berth: a Kubernetes PersistentVolume binder and node-local dynamic provisioner.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the PersistentVolume binder (replaces kube-controller-manager's persistentvolume-binder).
    Controller(ControllerArgs),
    /// Explain why a claim is (or is not) Pending: every PV's verdict and what happens next. Exits 1 when the
    /// claim cannot progress without a change.
    Why(WhyArgs),
    /// Serve the mutating admission webhook that gives new class-less claims the default StorageClass.
    Webhook(WebhookArgs),
}

#[derive(Debug, Args)]
struct ControllerArgs {
    /// Elect a leader on a Lease so only one replica writes. Turn off only for a single replica.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, default_value = "berth-system", env = "POD_NAMESPACE")]
    leader_elect_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "berth-controller")]
    leader_elect_name: String,
    /// This replica's identity in the Lease and in events (defaults to $POD_NAME or the hostname plus a suffix).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Sync every claim and volume again this often, in seconds (upstream --pvclaimbinder-sync-period).
    #[arg(long, default_value_t = 15)]
    resync_seconds: u64,
    /// Hand claims with a class to their provisioner (upstream --enable-dynamic-provisioning).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    enable_dynamic_provisioning: bool,
    /// Give pending class-less claims the default class once one exists (upstream since 1.28).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    retroactive_default_class: bool,
    /// Kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the in-cluster account.
    #[arg(long, env = "BERTH_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct WhyArgs {
    /// The claim: <namespace>/<name>, or <name> in --namespace.
    claim: String,
    /// Namespace for a claim given without one.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the in-cluster account.
    #[arg(long, env = "BERTH_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct WebhookArgs {
    /// Address to serve HTTPS on.
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// PEM certificate chain (e.g. from a cert-manager Secret). Without it, a certificate is generated at start.
    #[arg(long, requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key for --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// DNS names or IPs the generated certificate is valid for (repeatable).
    #[arg(long = "cert-name", default_value = "berth-webhook.berth-system.svc")]
    cert_names: Vec<String>,
    /// MutatingWebhookConfiguration to publish the generated CA into (as caBundle).
    #[arg(long)]
    webhook_configuration: Option<String>,
    /// Kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the in-cluster account.
    #[arg(long, env = "BERTH_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return report(&error),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Controller(args) => controller(args).await,
            Command::Webhook(args) => webhook(args).await,
            Command::Why(args) => why(args).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => report(error.as_ref()),
    }
}

/// Prints the report; `Ok(false)` when the claim cannot progress.
async fn why(args: WhyArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let (namespace, name) = berth::why::parse_target(&args.claim, &args.namespace)?;
    let user_agent = format!("berth-why/{}", env!("CARGO_PKG_VERSION"));
    let client = berth::k8s::client::client(args.kubeconfig.as_deref(), &user_agent).await?;
    let (claim, world, events) = berth::why::fetch(&client, &namespace, &name).await?;
    let report = berth::why::analyze(&claim, &world, &Default::default(), events);
    print!("{report}");
    Ok(report.next.can_progress())
}

async fn controller(args: ControllerArgs) -> Result<bool, Box<dyn std::error::Error>> {
    use berth::controller::run::{LeaderElection, Options, start};
    let identity = args.identity.unwrap_or_else(default_identity);
    let user_agent = format!(
        "berth-controller/{} ({identity})",
        env!("CARGO_PKG_VERSION")
    );
    let client = berth::k8s::client::client(args.kubeconfig.as_deref(), &user_agent).await?;
    let options = Options {
        sync: berth::binder::claim_sync::SyncOptions {
            enable_dynamic_provisioning: args.enable_dynamic_provisioning,
            retroactive_default_class: args.retroactive_default_class,
            ..Default::default()
        },
        resync: std::time::Duration::from_secs(args.resync_seconds.max(1)),
        leader_election: args.leader_elect.then(|| LeaderElection {
            namespace: args.leader_elect_namespace,
            name: args.leader_elect_name,
            timings: Default::default(),
        }),
        identity,
    };
    tracing::info!(identity = %options.identity, leader_elect = args.leader_elect, "starting the binder");
    let (_handle, _tasks) = start(client, options);
    shutdown_signal().await;
    tracing::info!("shutting down");
    Ok(true)
}

/// Hostname plus the process id: unique enough among replicas, stable for the life of the process.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn webhook(args: WebhookArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let cert = match (&args.tls_cert_file, &args.tls_key_file) {
        (Some(cert), Some(key)) => ServingCert::from_files(cert, key)?,
        _ => ServingCert::generate(&args.cert_names)?,
    };
    let user_agent = format!("berth-webhook/{}", env!("CARGO_PKG_VERSION"));
    let client = berth::k8s::client::client(args.kubeconfig.as_deref(), &user_agent).await?;
    let options = server::Options {
        listen: args.listen,
        cert,
        webhook_configuration: args.webhook_configuration,
    };
    server::run(client, options, |address| {
        // Scripts and tests read this line to learn the port when listening on :0.
        println!("listening on {address}");
    })
    .await?;
    Ok(true)
}

/// Prints an error with its chain of causes, the way an operator wants to read it.
fn report(error: &dyn std::error::Error) -> ExitCode {
    eprint!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprint!(": {cause}");
        source = cause.source();
    }
    eprintln!();
    ExitCode::FAILURE
}
