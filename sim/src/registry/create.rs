//! Create: decode, mutating admission, system metadata, validation, validating admission, store.

use rand::Rng;
use serde_json::{Value, json};

use super::{Attributes, Registry, WriteOptions, Written, scoped, store_error};
use crate::admission::Operation;
use crate::catalog::ResourceType;
use crate::meta;
use crate::patch;
use crate::status::{Result, StatusError};
use crate::store;
use crate::strategy::{defaults, prepare, validate, views};

/// Characters of generated name suffixes (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const GENERATE_ATTEMPTS: usize = 8;

impl Registry {
    /// POST to a collection. `namespace` is the URL's namespace (empty for cluster-scoped types).
    pub async fn create(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Written> {
        let object = decode_for_create(rt, namespace, body)?;
        self.create_decoded(rt, namespace, object, opts, false)
            .await
    }

    /// Creates an already decoded object; `managed_fields_set` is true for server-side-apply creates.
    pub(super) async fn create_decoded(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        object: Value,
        opts: &WriteOptions,
        managed_fields_set: bool,
    ) -> Result<Written> {
        let name = meta::name(&object).to_string();
        let attrs = Attributes {
            rt,
            sub: None,
            namespace,
            name: &name,
            opts,
        };
        let admitted = self.admit(&attrs, Operation::Create, object, None).await?;
        let mut object = admitted.object;
        defaults::apply(rt, &mut object);
        let generate_name = meta::str_at(&object, "/metadata/generateName")
            .unwrap_or_default()
            .to_string();
        let explicit_name = !meta::name(&object).is_empty();
        let now = meta::now_rfc3339();
        meta::set_meta(&mut object, "uid", json!(uuid::Uuid::new_v4().to_string()));
        meta::set_meta(&mut object, "creationTimestamp", json!(now));
        prepare::prepare_create(rt, &mut object, &now);
        meta::normalize(&mut object);

        let attempts = if explicit_name || generate_name.is_empty() {
            1
        } else {
            GENERATE_ATTEMPTS
        };
        let mut last_name = name.clone();
        for _ in 0..attempts {
            let mut candidate = object.clone();
            if !explicit_name && !generate_name.is_empty() {
                last_name = generated_name(&generate_name);
                meta::set_meta(&mut candidate, "name", json!(last_name));
            }
            let errs = validate::validate_create(rt, &candidate);
            if !errs.is_empty() {
                return Err(StatusError::invalid_object(
                    rt,
                    meta::name(&candidate),
                    &errs,
                ));
            }
            let attrs = Attributes {
                rt,
                sub: None,
                namespace,
                name: meta::name(&candidate),
                opts,
            };
            let view = views::to_view(rt, &candidate);
            let mut warnings = admitted.warnings.clone();
            warnings.extend(
                self.validate_admission(&attrs, Operation::Create, &view, None)
                    .await?,
            );
            if !managed_fields_set {
                patch::record_update(rt.kind, None, &mut candidate, &opts.manager(), "", &now);
            }
            if opts.dry_run {
                if self.stored(rt, namespace, meta::name(&candidate)).is_some() {
                    return Err(StatusError::already_exists(rt, meta::name(&candidate)));
                }
                return Ok(Written {
                    object: views::to_view(rt, &candidate),
                    created: true,
                    warnings,
                });
            }
            match self.store.create(rt.storage, candidate) {
                Ok(stored) => {
                    return Ok(Written {
                        object: views::to_view(rt, &stored),
                        created: true,
                        warnings,
                    });
                }
                Err(store::Error::AlreadyExists { name, .. })
                    if !explicit_name && !generate_name.is_empty() =>
                {
                    last_name = name;
                }
                Err(e) => return Err(store_error(rt, &last_name, e)),
            }
        }
        Err(StatusError::generate_name_conflict(rt, &last_name))
    }
}

/// Checks and normalises a create body: no resourceVersion, namespace from the URL, storage form, defaults.
pub(super) fn decode_for_create(rt: &ResourceType, namespace: &str, body: Value) -> Result<Value> {
    if !body.is_object() {
        return Err(StatusError::bad_request(
            "the object provided is not a JSON object",
        ));
    }
    check_kind(rt, &body)?;
    if !meta::resource_version(&body).is_empty() {
        return Err(StatusError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let mut object = views::from_view(rt, body);
    apply_namespace(rt, namespace, &mut object)?;
    meta::normalize(&mut object);
    defaults::apply(rt, &mut object);
    Ok(object)
}

/// The body's kind (when given) must be the resource's kind.
pub(super) fn check_kind(rt: &ResourceType, body: &Value) -> Result<()> {
    match body.get("kind").and_then(Value::as_str) {
        Some(kind) if !kind.is_empty() && kind != rt.kind => {
            Err(StatusError::bad_request(format!(
                "the kind \"{kind}\" of the object does not match the expected kind \"{}\"",
                rt.kind
            )))
        }
        _ => Ok(()),
    }
}

/// Takes the namespace from the URL; a different one in the body is a 400.
pub(super) fn apply_namespace(
    rt: &ResourceType,
    namespace: &str,
    object: &mut Value,
) -> Result<()> {
    if !rt.namespaced {
        meta::remove_meta(object, "namespace");
        return Ok(());
    }
    let body_ns = meta::namespace(object).to_string();
    if !body_ns.is_empty() && body_ns != namespace {
        return Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    meta::set_meta(object, "namespace", json!(scoped(rt, namespace)));
    Ok(())
}

/// `prefix` + 5 random characters, the prefix truncated so the name fits 63 characters.
fn generated_name(prefix: &str) -> String {
    let prefix: String = prefix.chars().take(58).collect();
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_use_the_alphabet() {
        let n = generated_name("data-");
        assert_eq!(n.len(), 10);
        assert!(n.starts_with("data-"));
        assert!(n[5..].bytes().all(|b| NAME_ALPHABET.contains(&b)));
        assert_eq!(generated_name(&"x".repeat(80)).len(), 63);
    }
}
