//! Building a Kubernetes client the way every Berth command does: an explicit kubeconfig, else $KUBECONFIG or
//! ~/.kube/config, else the in-cluster service account.
use std::path::{Path, PathBuf};

/// Errors of building a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read kubeconfig {path}")]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("load client configuration from kubeconfig {path}")]
    LoadKubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("infer client configuration (KUBECONFIG, ~/.kube/config or in-cluster)")]
    Infer(#[source] kube::config::InferConfigError),
    #[error("build Kubernetes client")]
    Build(#[source] kube::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A client for the cluster named by `kubeconfig`, or by the usual inference when None. `user_agent` names the
/// component and replica in the API server's logs (and lets tests tell replicas apart).
pub async fn client(kubeconfig: Option<&Path>, user_agent: &str) -> Result<kube::Client> {
    let mut config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path).map_err(|source| {
                Error::ReadKubeconfig {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|source| Error::LoadKubeconfig {
                    path: path.to_path_buf(),
                    source,
                })?
        }
        None => kube::Config::infer().await.map_err(Error::Infer)?,
    };
    match http::HeaderValue::from_str(user_agent) {
        Ok(value) => config.headers.push((http::header::USER_AGENT, value)),
        Err(_) => {
            tracing::warn!(%user_agent, "user agent is not a valid header value; using the default")
        }
    }
    kube::Client::try_from(config).map_err(Error::Build)
}
