//! URL layout: maps a request path to what it addresses.

use crate::catalog::{self, ResourceType, Subresource};

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`
    Resources {
        group: String,
        version: String,
    },
    /// `/openapi/v3`
    OpenApiIndex,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`
    OpenApiDocument {
        group: String,
        version: String,
    },
    Health,
    /// `/_sim/...`
    Admin(Vec<String>),
    Collection {
        rt: &'static ResourceType,
        namespace: Option<String>,
    },
    Item {
        rt: &'static ResourceType,
        namespace: String,
        name: String,
        sub: Option<Subresource>,
    },
    NotFound,
}

/// Parses a percent-decoded path.
pub fn parse(path: &str) -> Target {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["version"] => Target::Version,
        ["healthz" | "livez" | "readyz", ..] => Target::Health,
        ["_sim", rest @ ..] => Target::Admin(rest.iter().map(|s| s.to_string()).collect()),
        ["openapi", "v3"] => Target::OpenApiIndex,
        ["openapi", "v3", "api", version] => Target::OpenApiDocument {
            group: String::new(),
            version: version.to_string(),
        },
        ["openapi", "v3", "apis", group, version] => Target::OpenApiDocument {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api"] => Target::CoreVersions,
        ["apis"] => Target::Groups,
        ["apis", group] if catalog::groups().iter().any(|(g, _)| g == group) => {
            Target::Group(group.to_string())
        }
        ["api", version, rest @ ..] => resource_path("", version, rest),
        ["apis", group, version, rest @ ..] => resource_path(group, version, rest),
        _ => Target::NotFound,
    }
}

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Target {
    let served = catalog::groups()
        .iter()
        .any(|(g, v)| *g == group && *v == version)
        || (group.is_empty() && version == "v1");
    if !served {
        return Target::NotFound;
    }
    if rest.is_empty() {
        return Target::Resources {
            group: group.to_string(),
            version: version.to_string(),
        };
    }
    // `namespaces/{ns}/{resource}…` addresses a namespaced resource; otherwise `namespaces` is itself the
    // resource (`namespaces/{name}[/status|/finalize]`).
    if let ["namespaces", ns, resource, tail @ ..] = rest
        && let Some(rt) = catalog::find(group, version, resource).filter(|rt| rt.namespaced)
    {
        return item_or_collection(rt, Some(ns.to_string()), tail);
    }
    let [resource, tail @ ..] = rest else {
        return Target::NotFound;
    };
    match catalog::find(group, version, resource) {
        Some(rt) if rt.namespaced && !tail.is_empty() => Target::NotFound,
        Some(rt) => item_or_collection(rt, None, tail),
        None => Target::NotFound,
    }
}

fn item_or_collection(
    rt: &'static ResourceType,
    namespace: Option<String>,
    tail: &[&str],
) -> Target {
    match tail {
        [] => Target::Collection { rt, namespace },
        [name] => Target::Item {
            rt,
            namespace: namespace.unwrap_or_default(),
            name: name.to_string(),
            sub: None,
        },
        [name, sub] => match Subresource::from_segment(sub).filter(|s| rt.has_subresource(*s)) {
            Some(s) => Target::Item {
                rt,
                namespace: namespace.unwrap_or_default(),
                name: name.to_string(),
                sub: Some(s),
            },
            None => Target::NotFound,
        },
        _ => Target::NotFound,
    }
}

fn decode(segment: &str) -> String {
    percent_decode(segment)
}

/// Minimal percent-decoding of a path segment.
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(t: &Target) -> &'static str {
        match t {
            Target::Collection { rt, .. } | Target::Item { rt, .. } => rt.resource,
            _ => "",
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let t = parse("/api/v1/namespaces/ns/persistentvolumeclaims/p/status");
        assert_eq!(rt(&t), "persistentvolumeclaims");
        assert!(
            matches!(t, Target::Item { ref namespace, ref name, sub: Some(Subresource::Status), .. } if namespace == "ns" && name == "p")
        );
        assert!(
            matches!(parse("/api/v1/namespaces/ns"), Target::Item { ref name, .. } if name == "ns")
        );
        assert!(matches!(
            parse("/api/v1/namespaces/ns/status"),
            Target::Item {
                sub: Some(Subresource::Status),
                ..
            }
        ));
        assert!(matches!(
            parse("/api/v1/namespaces"),
            Target::Collection {
                namespace: None,
                ..
            }
        ));
        assert!(matches!(
            parse("/api/v1/persistentvolumeclaims"),
            Target::Collection {
                namespace: None,
                ..
            }
        ));
        assert_eq!(parse("/api/v1/persistentvolumeclaims/x"), Target::NotFound);
        assert_eq!(
            parse("/api/v1/namespaces/ns/persistentvolumes"),
            Target::NotFound
        );
        assert_eq!(
            parse("/apis/apps/v1/namespaces/ns/statefulsets/web/bogus"),
            Target::NotFound
        );
        assert!(matches!(
            parse("/apis/apps/v1/namespaces/ns/statefulsets/web/scale"),
            Target::Item {
                sub: Some(Subresource::Scale),
                ..
            }
        ));
        assert_eq!(parse("/apis/nope/v1/things"), Target::NotFound);
        assert!(matches!(
            parse("/apis/storage.k8s.io/v1"),
            Target::Resources { .. }
        ));
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Target::OpenApiDocument {
                group: "apps".into(),
                version: "v1".into()
            }
        );
    }
}
