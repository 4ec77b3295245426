//! The resource catalogue: what the server knows about every resource type it serves.
//!
//! Objects are stored as JSON; everything type-specific (URL layout, scope, subresources, selectable fields,
//! delete response shape, update rules) is looked up here.

mod table;

pub use table::ALL;

/// The subresources a resource type can expose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `/status`: writes change only `status` (and, for some types, metadata).
    Status,
    /// `/scale`: an `autoscaling/v1` `Scale` view of `spec.replicas`.
    Scale,
    /// `/binding` (pods): POST a `Binding` to set `spec.nodeName`.
    Binding,
    /// `/finalize` (namespaces): writes change only `spec.finalizers`.
    Finalize,
}

impl Subresource {
    /// The URL segment naming this subresource.
    pub fn segment(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Finalize => "finalize",
        }
    }

    /// Parses a URL segment into a subresource.
    pub fn from_segment(segment: &str) -> Option<Subresource> {
        match segment {
            "status" => Some(Subresource::Status),
            "scale" => Some(Subresource::Scale),
            "binding" => Some(Subresource::Binding),
            "finalize" => Some(Subresource::Finalize),
            _ => None,
        }
    }
}

/// How objects of a type are shown to clients relative to the way they are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Stored as served.
    Plain,
    /// `events.k8s.io/v1` Events: stored as core/v1 Events, converted on the way in and out.
    EventsV1,
}

/// Everything the server knows about one resource type.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for core.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural resource name used in URLs.
    pub resource: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Field-selector keys beyond `metadata.name` (and `metadata.namespace` for namespaced types).
    pub field_selectors: &'static [&'static str],
    /// DELETE answers with the object (pods, PVs, PVCs, namespaces) instead of a `Status`.
    pub delete_returns_object: bool,
    /// PUT without `metadata.resourceVersion` is accepted (false for Leases).
    pub allow_unconditional_update: bool,
    /// PUT of a missing object creates it (Leases, core Events).
    pub allow_create_on_update: bool,
    /// `metadata.generation` is tracked (bumped on spec changes).
    pub tracks_generation: bool,
    /// Name of the storage bucket; two types share one when they are views of the same objects.
    pub storage: &'static str,
    pub view: View,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The resource name qualified by its group, as used in error messages (`statefulsets.apps`).
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// The kind qualified by its group, as used in validation messages (`StatefulSet.apps`).
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn has_subresource(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// Whether `key` may be used in a field selector on this type.
    pub fn supports_field(&self, key: &str) -> bool {
        key == "metadata.name"
            || (self.namespaced && key == "metadata.namespace")
            || self.field_selectors.contains(&key)
    }

    /// Whether this type has a `status` stanza that the main resource may not write.
    pub fn has_status(&self) -> bool {
        self.has_subresource(Subresource::Status)
    }
}

/// Finds a type by group, version and plural resource name.
pub fn find(group: &str, version: &str, resource: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .find(|rt| rt.group == group && rt.version == version && rt.resource == resource)
}

/// Finds the canonical type of a storage bucket (the one with the plain view).
pub fn for_storage(storage: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .find(|rt| rt.storage == storage && rt.view == View::Plain)
}

/// Finds a type by group and plural resource name, whatever its version.
pub fn find_by_group_resource(group: &str, resource: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .find(|rt| rt.group == group && rt.resource == resource)
}

/// The API groups served under `/apis`, in discovery order, with their versions.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for rt in ALL.iter().filter(|rt| !rt.group.is_empty()) {
        if !out.iter().any(|(g, v)| *g == rt.group && *v == rt.version) {
            out.push((rt.group, rt.version));
        }
    }
    // `autoscaling/v1` carries the StatefulSet `Scale` kind; advertised with no resources of its own.
    out.push(("autoscaling", "v1"));
    out
}

/// The types served in one group/version.
pub fn in_group_version(
    group: &str,
    version: &str,
) -> impl Iterator<Item = &'static ResourceType> + use<> {
    let group = group.to_string();
    let version = version.to_string();
    ALL.iter()
        .filter(move |rt| rt.group == group && rt.version == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_bucket_has_a_plain_view() {
        for rt in ALL.iter() {
            assert!(
                for_storage(rt.storage).is_some(),
                "{} has no plain storage type",
                rt.resource
            );
        }
    }

    #[test]
    fn lookups_find_pvcs_and_statefulsets() {
        let pvc = find("", "v1", "persistentvolumeclaims").unwrap();
        assert_eq!(pvc.kind, "PersistentVolumeClaim");
        assert!(pvc.supports_field("metadata.namespace"));
        assert!(!pvc.supports_field("spec.volumeName"));
        let sts = find("apps", "v1", "statefulsets").unwrap();
        assert_eq!(sts.qualified_resource(), "statefulsets.apps");
        assert_eq!(sts.api_version(), "apps/v1");
        assert!(sts.has_subresource(Subresource::Scale));
    }
}
