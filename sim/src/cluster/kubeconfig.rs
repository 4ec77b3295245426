//! kubeconfig documents pointing at a running sim.

use base64::Engine;
use serde_json::json;

/// A kubeconfig with one cluster/user/context named `berth-sim`; `ca_pem` is set for HTTPS servers.
pub fn render(server_url: &str, ca_pem: Option<&str>) -> String {
    let mut cluster = json!({"server": server_url});
    if let Some(ca) = ca_pem {
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "berth-sim", "cluster": cluster}],
        "users": [{"name": "berth-sim", "user": {"token": "berth-sim"}}],
        "contexts": [{"name": "berth-sim", "context": {"cluster": "berth-sim", "user": "berth-sim", "namespace": "default"}}],
        "current-context": "berth-sim",
        "preferences": {},
    });
    serde_yaml::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_parses_with_kube_rs() {
        let yaml = render("http://127.0.0.1:1234", None);
        let kc: kube::config::Kubeconfig = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("berth-sim"));
        assert_eq!(
            kc.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
            Some("http://127.0.0.1:1234")
        );
    }
}
