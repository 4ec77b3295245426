//! Server-side apply: merge the applier's configuration, prune what it stopped applying, detect conflicts.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement, path_string};
use super::managed::{self, Entry, Operation, Recorded};
use super::schema::{self, ListType};
use super::walk::{Diff, Membership, Walker};
use super::{ApplyOptions, ConflictCause, PatchError, Result};

/// The annotation client-side `kubectl apply` keeps; server-side apply by "kubectl" keeps it in sync.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Manager that owns everything of an object that predates field tracking when it is first applied to.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Server-side apply on the main resource at the current wall-clock time.
/// `current` is None when the object does not exist yet (apply creates it).
pub fn server_side_apply(
    kind: &str,
    current: Option<&Value>,
    applied: &Value,
    opts: &ApplyOptions,
) -> Result<Value> {
    let now = super::update::now_rfc3339();
    server_side_apply_at(kind, current, applied, opts, "", &now)
}

/// Server-side apply to `subresource` ("" for the main resource, or "status") stamping managedFields with
/// `now` (RFC 3339). Returns the new object with `metadata.managedFields` updated; fields reset by the
/// subresource (status on the main resource, spec on status) are ignored in `applied`.
pub fn server_side_apply_at(
    kind: &str,
    current: Option<&Value>,
    applied: &Value,
    opts: &ApplyOptions,
    subresource: &str,
    now: &str,
) -> Result<Value> {
    let walker = Walker { kind, subresource };
    let api_version = check_config(kind, current, applied)?;
    let mut config = applied.clone();
    strip_reset(kind, subresource, &mut config);

    let mut live = current
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    managed::strip(&mut live);
    let mut applied_set = FieldSet::default();
    walker.field_set(
        Membership::Applied,
        &mut Vec::new(),
        &config,
        &mut applied_set,
    )?;
    let mut entries = recorded_entries(&walker, current, &live, &applied_set);
    let mut merged = merge(&walker, &mut Vec::new(), Some(&live), &config)?;

    let mut applier = Entry {
        manager: opts.field_manager.to_string(),
        operation: Operation::Apply,
        api_version: api_version.clone(),
        time: Some(now.to_string()),
        subresource: subresource.to_string(),
        set: applied_set.clone(),
    };
    let previous = entries
        .iter()
        .position(|entry| entry.same_manager(&applier))
        .map(|index| entries.remove(index));

    if let Some(previous) = &previous {
        let kept = entries
            .iter()
            .fold(applied_set.clone(), |kept, entry| kept.union(&entry.set));
        let stale = previous.set.difference(&applied_set);
        prune(&walker, &mut merged, &stale, &kept);
    }

    let mut diff = Diff::default();
    walker.diff(&mut Vec::new(), Some(&live), Some(&merged), &mut diff);
    let changed = diff.changed();

    let conflicts: Vec<(usize, FieldSet)> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (index, entry.set.intersection(&changed)))
        .filter(|(_, set)| !set.is_empty())
        .collect();
    if !opts.force && !conflicts.is_empty() {
        let allowed = allowed_by_last_applied(&walker, opts.field_manager, &live);
        let causes = conflict_causes(&entries, &conflicts, &allowed);
        if !causes.is_empty() {
            return Err(PatchError::Conflict { causes });
        }
    }
    for (index, taken) in &conflicts {
        entries[*index].set = entries[*index].set.difference(taken);
    }
    for entry in &mut entries {
        entry.set = entry.set.difference(&diff.removed);
    }

    if let Some(previous) = previous
        && previous.set == applier.set
        && merged == live
    {
        applier.time = previous.time;
    }
    entries.push(applier);

    if opts.field_manager == "kubectl" {
        sync_last_applied(&mut merged, &live, applied);
    }
    managed::write(&mut merged, entries);
    Ok(merged)
}

/// Checks the shape of an apply body and returns its apiVersion.
fn check_config(kind: &str, current: Option<&Value>, applied: &Value) -> Result<String> {
    let malformed = |reason: String| PatchError::Malformed { reason };
    let Value::Object(config) = applied else {
        return Err(malformed(
            "apply patch must be a YAML or JSON object".into(),
        ));
    };
    let api_version = config.get("apiVersion").and_then(Value::as_str);
    let applied_kind = config.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(applied_kind)) = (api_version, applied_kind) else {
        return Err(malformed(format!(
            "Object 'Kind' is missing in '{}'",
            Value::Object(config.clone())
        )));
    };
    if applied_kind != kind {
        return Err(malformed(format!(
            "apply patch kind {applied_kind:?} does not match the resource kind {kind:?}"
        )));
    }
    if let Some(expected) = current
        .and_then(|c| c.get("apiVersion"))
        .and_then(Value::as_str)
        && expected != api_version
    {
        return Err(malformed(format!(
            "Incorrect version specified in apply patch. Specified patch version: {api_version}, expected: {expected}"
        )));
    }
    if applied.pointer("/metadata/managedFields").is_some() {
        return Err(malformed("metadata.managedFields must be nil".into()));
    }
    Ok(api_version.to_string())
}

/// Removes from an apply configuration what the target subresource resets anyway.
fn strip_reset(kind: &str, subresource: &str, config: &mut Value) {
    let Some(object) = config.as_object_mut() else {
        return;
    };
    object.retain(|name, _| !schema::is_reset(kind, subresource, &[name.as_str()]));
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.retain(|name, _| !schema::is_reset(kind, subresource, &["metadata", name]));
    }
}

/// The managedFields of the live object. An object that never had any is adopted without conflicts: the
/// applier gets what it applies and "before-first-apply" everything else (so a later change conflicts).
fn recorded_entries(
    walker: &Walker,
    current: Option<&Value>,
    live: &Value,
    applied_set: &FieldSet,
) -> Vec<Entry> {
    match current.map(managed::read) {
        Some(Recorded::Entries(entries)) => entries,
        Some(Recorded::Absent | Recorded::ResetRequested | Recorded::Malformed) => {
            let mut set = FieldSet::default();
            let owned = Walker {
                kind: walker.kind,
                subresource: "",
            };
            if owned
                .field_set(Membership::Updated, &mut Vec::new(), live, &mut set)
                .is_err()
            {
                return Vec::new();
            }
            vec![Entry {
                manager: BEFORE_FIRST_APPLY.to_string(),
                operation: Operation::Update,
                api_version: live
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                time: None,
                subresource: String::new(),
                set: set.difference(applied_set),
            }]
        }
        None => Vec::new(),
    }
}

/// Merges an apply configuration into the live value: objects member by member, keyed lists item by item,
/// sets by value, everything else replaced.
fn merge(walker: &Walker, path: &mut Path, live: Option<&Value>, config: &Value) -> Result<Value> {
    let atomic_struct = !path.is_empty() && walker.is_atomic_struct(path);
    match config {
        Value::Object(config_map) if !atomic_struct => {
            let mut out = match live {
                Some(Value::Object(live_map)) => live_map.clone(),
                _ => Map::new(),
            };
            for (name, value) in config_map {
                if value.is_null() {
                    out.remove(name);
                    continue;
                }
                path.push(PathElement::field(name));
                let merged = merge(walker, path, out.get(name), value)?;
                path.pop();
                out.insert(name.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        Value::Array(config_items) => {
            let list_type = walker.list_type(path);
            if list_type == ListType::Atomic {
                return Ok(config.clone());
            }
            let live_items: &[Value] = match live {
                Some(Value::Array(items)) => items,
                _ => &[],
            };
            merge_list(walker, path, list_type, live_items, config_items)
        }
        _ => Ok(config.clone()),
    }
}

/// Merges a keyed or set list. Items only the live list has keep their place; applied items come in the
/// applied order, new ones just before the next item both lists share.
fn merge_list(
    walker: &Walker,
    path: &mut Path,
    list_type: ListType,
    live: &[Value],
    config: &[Value],
) -> Result<Value> {
    let live_keys: Vec<Option<PathElement>> = live
        .iter()
        .enumerate()
        .map(|(i, item)| walker.item_element(list_type, path, i, item).ok())
        .collect();
    let config_keys = config
        .iter()
        .enumerate()
        .map(|(i, item)| walker.item_element(list_type, path, i, item))
        .collect::<Result<Vec<_>>>()?;
    let in_config =
        |key: &Option<PathElement>| key.as_ref().is_some_and(|k| config_keys.contains(k));
    let live_item = |key: &PathElement| {
        live_keys
            .iter()
            .position(|k| k.as_ref() == Some(key))
            .map(|at| &live[at])
    };
    let mut shared = config_keys
        .iter()
        .filter(|key| live_keys.iter().any(|k| k.as_ref() == Some(*key)))
        .peekable();
    let mut merged_keys: Vec<&PathElement> = Vec::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut l, mut r) = (0, 0);
    while l < live.len() || r < config.len() {
        if l < live.len() && r < config.len() {
            if live_keys[l].as_ref() == Some(&config_keys[r]) {
                path.push(config_keys[r].clone());
                out.push(merge(walker, path, Some(&live[l]), &config[r])?);
                path.pop();
                merged_keys.push(&config_keys[r]);
                shared.next();
                l += 1;
                r += 1;
                continue;
            }
            // A shared item that the applied order puts later: it is emitted when its turn comes.
            if in_config(&live_keys[l])
                && shared
                    .peek()
                    .is_some_and(|next| Some(*next) != live_keys[l].as_ref())
            {
                l += 1;
                continue;
            }
        }
        if l < live.len() {
            if !in_config(&live_keys[l]) {
                out.push(live[l].clone());
                l += 1;
                continue;
            }
            if live_keys[l]
                .as_ref()
                .is_some_and(|k| merged_keys.contains(&k))
            {
                l += 1;
                continue;
            }
        }
        if r < config.len() {
            let key = &config_keys[r];
            path.push(key.clone());
            out.push(merge(walker, path, live_item(key), &config[r])?);
            path.pop();
            merged_keys.push(key);
            if shared.peek() == Some(&key) {
                shared.next();
            }
            r += 1;
        }
    }
    Ok(Value::Array(out))
}

/// Removes the `stale` fields nobody in `kept` owns (not even partly), then drops objects and lists that
/// became empty because of it.
fn prune(walker: &Walker, object: &mut Value, stale: &FieldSet, kept: &FieldSet) {
    for path in stale.paths() {
        if !kept.covers(&path) {
            remove_path(walker, object, &path, kept, 0);
        }
    }
}

/// Removes the node at `path[depth..]` below `value`. Returns true when something was removed and `value`
/// is empty as a result (so the caller may drop it too).
fn remove_path(
    walker: &Walker,
    value: &mut Value,
    path: &[PathElement],
    kept: &FieldSet,
    depth: usize,
) -> bool {
    let Some(step) = path.get(depth) else {
        return false;
    };
    let here = &path[..=depth];
    let last = depth + 1 == path.len();
    match (value, step) {
        (Value::Object(object), PathElement::Field(name)) => {
            let drop_child = match object.get_mut(name) {
                None => return false,
                Some(_) if last => true,
                Some(child) => {
                    let emptied = remove_path(walker, child, path, kept, depth + 1);
                    if !emptied {
                        return false;
                    }
                    !kept.covers(here)
                }
            };
            if drop_child {
                object.remove(name);
            }
            depth > 0 && object.is_empty()
        }
        (Value::Array(items), step) => {
            let list_type = walker.list_type(&path[..depth]);
            let position = items.iter().enumerate().position(|(index, item)| {
                walker
                    .item_element(list_type, &path[..depth], index, item)
                    .is_ok_and(|element| &element == step)
            });
            let Some(position) = position else {
                return false;
            };
            if !last {
                let emptied = remove_path(walker, &mut items[position], path, kept, depth + 1);
                if !emptied || kept.covers(here) {
                    return false;
                }
            }
            items.remove(position);
            depth > 0 && items.is_empty()
        }
        _ => false,
    }
}

/// Fields a "kubectl" server-side apply may take over from client-side apply without conflict: those whose
/// live value still equals the last-applied-configuration annotation.
fn allowed_by_last_applied(walker: &Walker, manager: &str, live: &Value) -> FieldSet {
    let mut allowed = FieldSet::default();
    if manager != "kubectl" {
        return allowed;
    }
    let Some(last_applied) = live
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
    else {
        return allowed;
    };
    if walker
        .field_set(
            Membership::Applied,
            &mut Vec::new(),
            &last_applied,
            &mut allowed,
        )
        .is_err()
    {
        return FieldSet::default();
    }
    let mut drift = Diff::default();
    walker.diff(&mut Vec::new(), Some(&last_applied), Some(live), &mut drift);
    allowed
        .difference(&drift.modified)
        .difference(&drift.removed)
}

/// Conflict causes sorted by manager then path, minus the allowed ones.
fn conflict_causes(
    entries: &[Entry],
    conflicts: &[(usize, FieldSet)],
    allowed: &FieldSet,
) -> Vec<ConflictCause> {
    let mut causes: Vec<ConflictCause> = conflicts
        .iter()
        .flat_map(|(index, set)| {
            let manager = entries[*index].display_name();
            set.difference(allowed)
                .paths()
                .into_iter()
                .map(move |path| ConflictCause {
                    manager: manager.clone(),
                    field: path_string(&path),
                })
        })
        .collect();
    causes.sort_by(|a, b| (&a.manager, &a.field).cmp(&(&b.manager, &b.field)));
    causes
}

/// Rewrites the last-applied annotation to the applied configuration, when the live object carries one.
fn sync_last_applied(merged: &mut Value, live: &Value, applied: &Value) {
    let had_annotation = live
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(LAST_APPLIED))
        .is_some();
    if !had_annotation {
        return;
    }
    let mut config = applied.clone();
    if let Some(annotations) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty()
            && let Some(metadata) = config
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
        {
            metadata.remove("annotations");
        }
    }
    if let Some(annotations) = merged
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.insert(
            LAST_APPLIED.to_string(),
            Value::String(format!("{config}\n")),
        );
    }
}
