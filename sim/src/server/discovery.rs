//! Discovery documents (`/version`, `/api`, `/apis`, resource lists) and OpenAPI v3 documents sufficient
//! for kubectl (PATCH operations carrying the GVK extension and the `fieldValidation` parameter make it
//! defer validation to the server).

use serde_json::{Value, json};

use crate::catalog::{self, ResourceType, Subresource};

/// The Kubernetes version the sim reports (kubectl's dispatcher picks its binary by the minor).
pub const GIT_VERSION: &str = "v1.33.1";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T08:19:08Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn groups() -> Value {
    let groups: Vec<Value> = catalog::groups()
        .iter()
        .map(|(g, v)| group_entry(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(name: &str) -> Option<Value> {
    let (g, v) = catalog::groups().into_iter().find(|(g, _)| *g == name)?;
    let mut entry = group_entry(g, v);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_entry(rt: &ResourceType) -> Value {
    let mut entry = json!({
        "name": rt.resource,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": ALL_VERBS,
    });
    if !rt.short_names.is_empty() {
        entry["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        entry["categories"] = json!(rt.categories);
    }
    entry
}

fn subresource_entry(rt: &ResourceType, sub: Subresource) -> Value {
    let name = format!("{}/{}", rt.resource, sub.segment());
    match sub {
        Subresource::Status => {
            json!({"name": name, "singularName": "", "namespaced": rt.namespaced,
            "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        }
        Subresource::Scale => json!({"name": name, "singularName": "", "namespaced": rt.namespaced,
            "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}),
        Subresource::Binding => {
            json!({"name": name, "singularName": "", "namespaced": rt.namespaced,
            "kind": "Binding", "verbs": ["create"]})
        }
        Subresource::Finalize => {
            json!({"name": name, "singularName": "", "namespaced": rt.namespaced,
            "kind": rt.kind, "verbs": ["update"]})
        }
    }
}

/// The `APIResourceList` of one group/version.
pub fn resources(group: &str, version: &str) -> Value {
    let mut entries = Vec::new();
    for rt in catalog::in_group_version(group, version) {
        entries.push(resource_entry(rt));
        for sub in rt.subresources {
            entries.push(subresource_entry(rt, *sub));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries})
}

fn openapi_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable hash of a document name, so kubectl's cache keys stay valid across restarts.
fn hash_of(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!("{GIT_VERSION}/{text}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}{h:016X}")
}

pub fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs = vec![(String::new(), "v1".to_string())];
    gvs.extend(
        catalog::groups()
            .into_iter()
            .map(|(g, v)| (g.to_string(), v.to_string())),
    );
    for (g, v) in gvs {
        let key = openapi_key(&g, &v);
        let url = format!("/openapi/v3/{key}?hash={}", hash_of(&key));
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

fn schema_name(rt: &ResourceType) -> String {
    let group = match rt.group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{group}.{}.{}", rt.version, rt.kind)
}

fn operation(rt: &ResourceType, action: &str, with_gvk: bool) -> Value {
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(rt))});
    let mut op = json!({
        "x-kubernetes-action": action,
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
    });
    if with_gvk {
        op["x-kubernetes-group-version-kind"] = gvk;
    }
    if action == "patch"
        && let Some(params) = op["parameters"].as_array_mut()
    {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    op
}

/// The OpenAPI v3 document of one group/version (permissive schemas, complete paths).
pub fn openapi_document(group: &str, version: &str) -> Option<Value> {
    let served = (group.is_empty() && version == "v1")
        || catalog::groups()
            .iter()
            .any(|(g, v)| *g == group && *v == version);
    if !served {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for rt in catalog::in_group_version(group, version) {
        let base = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.resource)
        } else {
            format!("{prefix}/{}", rt.resource)
        };
        paths.insert(
            base.clone(),
            json!({"get": operation(rt, "list", true), "post": operation(rt, "post", true)}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": operation(rt, "get", true),
                "put": operation(rt, "put", true),
                "patch": operation(rt, "patch", true),
                "delete": operation(rt, "delete", true),
            }),
        );
        for sub in rt
            .subresources
            .iter()
            .filter(|s| matches!(s, Subresource::Status))
        {
            paths.insert(
                format!("{base}/{{name}}/{}", sub.segment()),
                json!({
                    "get": operation(rt, "get", false),
                    "put": operation(rt, "put", false),
                    "patch": operation(rt, "patch", false),
                }),
            );
        }
        schemas.insert(schema_name(rt), json!({
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": rt.group, "version": rt.version, "kind": rt.kind}],
            "x-kubernetes-preserve-unknown-fields": true,
        }));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_pvcs_and_status() {
        let doc = resources("", "v1");
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"persistentvolumeclaims"));
        assert!(names.contains(&"persistentvolumeclaims/status"));
        assert!(names.contains(&"pods/binding"));
    }

    #[test]
    fn openapi_patch_operations_carry_field_validation() {
        let doc = openapi_document("apps", "v1").unwrap();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "StatefulSet"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(
            openapi_index()["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/apps/v1?hash=")
        );
    }
}
