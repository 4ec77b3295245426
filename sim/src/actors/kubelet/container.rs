//! From a container spec to what is executed: program and arguments (images are not run: the host's own
//! binaries are used), environment, working directory and the volume mounts of its root.

use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod};

use super::mounts::PreparedVolume;
use super::sandbox::{MountSource, MountSpec};

/// Script run by a container without command and args (images are not run): it idles until terminated, like a
/// pause container.
pub const IDLE_SCRIPT: &str = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

/// PATH inside every container.
pub const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the pod contributes to a container's environment besides its spec.
#[derive(Clone, Copy, Debug)]
pub struct PodFacts<'a> {
    pub pod: &'a Pod,
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
}

/// Everything needed to run one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPlan {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: String,
    /// Volume and device mounts (system directories are added by the sandbox).
    pub mounts: Vec<MountSpec>,
    /// `subPath` directories that must exist before mounting (the kubelet creates them).
    pub subpaths: Vec<PathBuf>,
}

/// Plans a container's process and mounts.
///
/// Command resolution: `command` + `args` when `command` is set; `args` alone are taken as the command line
/// (there is no image entrypoint); neither runs [`IDLE_SCRIPT`] under `/bin/sh`. `$(VAR)` references are expanded
/// as Kubernetes does. `valueFrom` supports `fieldRef` (name, namespace, uid, labels/annotations, nodeName,
/// serviceAccountName, podIP, hostIP); other sources (secrets, configMaps, resources) leave the variable unset.
///
/// # Errors
/// A message for a mount naming an unknown volume, a block volume in `volumeMounts` (or a filesystem one in
/// `volumeDevices`), or an invalid `subPath`.
pub fn plan(
    facts: PodFacts<'_>,
    container: &Container,
    volumes: &[PreparedVolume],
) -> Result<ContainerPlan, String> {
    let env = environment(facts, container);
    let expand_all = |items: &[String]| items.iter().map(|s| expand(s, &env)).collect::<Vec<_>>();
    let command = expand_all(container.command.as_deref().unwrap_or_default());
    let args = expand_all(container.args.as_deref().unwrap_or_default());
    let mut line = command.into_iter().chain(args);
    let (program, args) = match line.next() {
        Some(program) => (program, line.collect()),
        None => (
            "/bin/sh".to_string(),
            vec!["-c".to_string(), IDLE_SCRIPT.to_string()],
        ),
    };
    let (mounts, subpaths) = mounts(container, volumes)?;
    Ok(ContainerPlan {
        program,
        args,
        env,
        workdir: container
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_string()),
        mounts,
        subpaths,
    })
}

/// A pod's hostname: `spec.hostname`, else the pod name, cut to the 63 characters a hostname may have.
pub fn hostname(pod: &Pod) -> String {
    let from_spec = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    let name = from_spec
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    name.chars().take(63).collect()
}

/// The container's environment: defaults, then its `env` entries in order (each may reference earlier ones).
pub fn environment(facts: PodFacts<'_>, container: &Container) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), CONTAINER_PATH.to_string()),
        ("HOSTNAME".to_string(), hostname(facts.pod)),
        ("HOME".to_string(), "/root".to_string()),
    ];
    for var in container.env.as_deref().unwrap_or_default() {
        if let Some(value) = env_value(facts, var, &env) {
            env.retain(|(name, _)| name != &var.name);
            env.push((var.name.clone(), value));
        }
    }
    env
}

fn env_value(facts: PodFacts<'_>, var: &EnvVar, earlier: &[(String, String)]) -> Option<String> {
    let Some(source) = &var.value_from else {
        return Some(expand(var.value.as_deref().unwrap_or_default(), earlier));
    };
    let field = source.field_ref.as_ref()?.field_path.as_str();
    let meta = &facts.pod.metadata;
    let spec = facts.pod.spec.as_ref();
    let keyed = |prefix: &str| {
        field
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("']"))
    };
    let value = match field {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
        "status.podIP" => Some(facts.pod_ip.to_string()),
        "status.hostIP" => Some(facts.host_ip.to_string()),
        _ => match (keyed("metadata.labels['"), keyed("metadata.annotations['")) {
            (Some(key), _) => meta.labels.as_ref().and_then(|l| l.get(key).cloned()),
            (None, Some(key)) => meta.annotations.as_ref().and_then(|a| a.get(key).cloned()),
            (None, None) => None,
        },
    };
    Some(value.unwrap_or_default())
}

/// Kubernetes `$(VAR)` expansion: defined variables are substituted, `$$` escapes a `$`, and references to
/// undefined variables are left as written.
pub fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|r| r.split_once(')')) {
            match env.iter().rev().find(|(n, _)| n == name) {
                Some((_, value)) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn mounts(
    container: &Container,
    volumes: &[PreparedVolume],
) -> Result<(Vec<MountSpec>, Vec<PathBuf>), String> {
    let find = |name: &str| {
        volumes
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| format!("volume {name:?} not found in the pod"))
    };
    let mut specs = Vec::new();
    let mut subpaths = Vec::new();
    for mount in container.volume_mounts.as_deref().unwrap_or_default() {
        let volume = find(&mount.name)?;
        if volume.block {
            return Err(format!(
                "volume {:?} is a block volume: use volumeDevices",
                mount.name
            ));
        }
        let sub_path = mount.sub_path.as_deref().unwrap_or_default();
        let source = if sub_path.is_empty() {
            volume.host_path.clone()
        } else {
            let source = volume.host_path.join(relative_sub_path(sub_path)?);
            subpaths.push(source.clone());
            source
        };
        specs.push(MountSpec {
            target: mount.mount_path.clone(),
            source: MountSource::Bind {
                path: source,
                recursive: false,
            },
            read_only: mount.read_only.unwrap_or(false),
        });
    }
    for device in container.volume_devices.as_deref().unwrap_or_default() {
        let volume = find(&device.name)?;
        if !volume.block {
            return Err(format!(
                "volume {:?} is not a block volume: use volumeMounts",
                device.name
            ));
        }
        specs.push(MountSpec {
            target: device.device_path.clone(),
            source: MountSource::Bind {
                path: volume.host_path.clone(),
                recursive: false,
            },
            read_only: false,
        });
    }
    Ok((specs, subpaths))
}

fn relative_sub_path(sub_path: &str) -> Result<&Path, String> {
    let path = Path::new(sub_path);
    let valid = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if valid {
        Ok(path)
    } else {
        Err(format!(
            "subPath {sub_path:?} must be relative and must not contain '..'"
        ))
    }
}

#[cfg(test)]
#[path = "container_tests.rs"]
mod tests;
