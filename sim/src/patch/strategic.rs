//! Strategic merge patch: JSON merge patch plus merge keys per list and the `$patch`-style directives.
//!
//! Follows the server-side behaviour of apimachinery's strategicpatch (parallel lists merged, unmatched
//! nulls ignored): patch items land in patch order, items only on the server keep their relative place.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::schema::{self, ListType};
use super::{PatchError, Result};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Strategic merge patch of `current` with `patch`; `kind` selects merge keys and list strategies.
/// Unknown kinds merge maps like a JSON merge patch and replace lists, except the ObjectMeta lists
/// (`finalizers`, `ownerReferences`) which every kind shares; directives are honoured everywhere.
pub fn strategic_merge(kind: &str, current: &Value, patch: &Value) -> Result<Value> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed {
            reason: "strategic merge patch must be a JSON object".into(),
        });
    };
    let original = current.as_object();
    let merger = Merger { kind };
    Ok(Value::Object(merger.map(
        &mut Vec::new(),
        original,
        patch,
    )?))
}

struct Merger<'a> {
    kind: &'a str,
}

fn invalid(path: &[String], reason: impl Into<String>) -> PatchError {
    PatchError::Invalid {
        path: path.join("."),
        reason: reason.into(),
    }
}

fn malformed(reason: &str) -> PatchError {
    PatchError::Malformed {
        reason: reason.to_string(),
    }
}

/// How one list is patched.
#[derive(Debug, Clone, Copy)]
enum Strategy<'k> {
    Replace,
    /// Merge, by this key when the items are objects.
    Merge(Option<&'k str>),
}

/// Whether list items are objects (keyed) or scalars; lists of lists cannot be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Items {
    Maps,
    Scalars,
}

impl Merger<'_> {
    fn list_type(&self, path: &[String]) -> ListType {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        schema::list_type(self.kind, &names)
    }

    /// Merges `patch` into `original` (None when the field is new) at `path`.
    fn map(
        &self,
        path: &mut Vec<String>,
        original: Option<&Map<String, Value>>,
        patch: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        if let Some(directive) = patch.get(PATCH) {
            return match directive.as_str() {
                Some("replace") => {
                    let mut replaced = patch.clone();
                    replaced.remove(PATCH);
                    self.map(path, None, &replaced)
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(invalid(
                    path,
                    format!("unknown patch type: {directive} in map"),
                )),
            };
        }
        let mut out = original.cloned().unwrap_or_default();
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            retain_keys(&mut out, patch, retain)?;
        }
        let ordered = self.set_element_orders(path, &mut out, patch)?;

        let (deletions, fields): (Vec<_>, Vec<_>) = patch
            .iter()
            .filter(|(name, _)| {
                !name.starts_with(SET_ELEMENT_ORDER)
                    && name.as_str() != RETAIN_KEYS
                    && !ordered.contains(name)
            })
            .partition(|(name, _)| name.starts_with(DELETE_FROM_PRIMITIVE_LIST));
        for (name, value) in fields {
            if name.starts_with('$') {
                // Unknown directives are dropped like unknown fields of a typed object.
                continue;
            }
            path.push(name.clone());
            let merged = match (out.get(name), value) {
                (_, Value::Null) => None,
                (Some(Value::Object(before)), Value::Object(patch)) => {
                    Some(Value::Object(self.map(path, Some(before), patch)?))
                }
                (Some(Value::Array(before)), Value::Array(patch)) => {
                    Some(Value::Array(self.list(path, before, patch)?))
                }
                (_, value) => Some(self.fresh(path, value)?),
            };
            path.pop();
            match merged {
                Some(merged) => out.insert(name.clone(), merged),
                None => out.remove(name),
            };
        }
        for (name, value) in deletions {
            let field = &name[DELETE_FROM_PRIMITIVE_LIST.len()..];
            let Value::Array(unwanted) = value else {
                return Err(malformed(
                    "invalid patch: $deleteFromPrimitiveList must be a list of primitives",
                ));
            };
            if let Some(Value::Array(items)) = out.get_mut(field) {
                items.retain(|item| !unwanted.contains(item));
            }
        }
        Ok(out)
    }

    /// A patch value for a field the original lacks (or holds with another type): directives are
    /// resolved against nothing and nulls dropped.
    fn fresh(&self, path: &mut Vec<String>, value: &Value) -> Result<Value> {
        match value {
            Value::Object(patch) => Ok(Value::Object(self.map(path, None, patch)?)),
            Value::Array(patch) => Ok(Value::Array(self.list(path, &[], patch)?)),
            scalar => Ok(scalar.clone()),
        }
    }

    /// Merges a patch list into an original list according to the list's strategy.
    fn list(
        &self,
        path: &mut Vec<String>,
        original: &[Value],
        patch: &[Value],
    ) -> Result<Vec<Value>> {
        let strategy = match self.list_type(path) {
            ListType::Atomic => Strategy::Replace,
            list_type => Strategy::Merge(list_type.merge_key()),
        };
        self.list_with(path, strategy, original, patch)
    }

    fn list_with(
        &self,
        path: &mut Vec<String>,
        strategy: Strategy<'_>,
        original: &[Value],
        patch: &[Value],
    ) -> Result<Vec<Value>> {
        let key = match strategy {
            Strategy::Replace => return patch.iter().map(|item| self.fresh(path, item)).collect(),
            Strategy::Merge(key) => key,
        };
        if original.is_empty() && patch.is_empty() {
            return Ok(Vec::new());
        }
        match item_kind(path, original, patch)? {
            Items::Scalars => {
                let mut merged: Vec<Value> = Vec::new();
                for item in original.iter().chain(patch) {
                    if !merged.contains(item) {
                        merged.push(item.clone());
                    }
                }
                Ok(order(merged, patch, original, None))
            }
            Items::Maps => {
                let key = key.ok_or_else(|| {
                    invalid(
                        path,
                        format!(
                            "cannot merge lists without merge key for {}",
                            path.join(".")
                        ),
                    )
                })?;
                self.keyed_list(path, key, original, patch)
            }
        }
    }

    fn keyed_list(
        &self,
        path: &mut Vec<String>,
        key: &str,
        original: &[Value],
        patch: &[Value],
    ) -> Result<Vec<Value>> {
        let mut base: Vec<Value> = original.to_vec();
        let mut plain: Vec<&Map<String, Value>> = Vec::new();
        let mut replace = false;
        for item in patch {
            let Value::Object(item) = item else {
                return Err(invalid(path, "list items must all be objects"));
            };
            match item.get(PATCH).map(|d| d.as_str()) {
                None => plain.push(item),
                Some(Some("delete")) => {
                    let wanted = item.get(key).ok_or_else(|| no_merge_key(path, item, key))?;
                    base.retain(|candidate| candidate.get(key) != Some(wanted));
                }
                Some(Some("replace")) => replace = true,
                Some(Some("merge")) => {
                    return Err(invalid(
                        path,
                        "merging lists cannot yet be specified in the patch",
                    ));
                }
                Some(_) => {
                    return Err(invalid(
                        path,
                        format!("unknown patch type: {} in map", item[PATCH]),
                    ));
                }
            }
        }
        let (mut merged, order_by): (Vec<Value>, Vec<Value>) = if replace {
            let replaced = plain
                .iter()
                .map(|item| self.map(path, None, item).map(Value::Object))
                .collect::<Result<Vec<_>>>()?;
            (replaced, Vec::new())
        } else {
            (
                base.clone(),
                plain
                    .iter()
                    .map(|item| Value::Object((*item).clone()))
                    .collect(),
            )
        };
        if !replace {
            for item in &plain {
                let wanted = item.get(key).ok_or_else(|| no_merge_key(path, item, key))?;
                match merged.iter().position(|m| m.get(key) == Some(wanted)) {
                    Some(at) => {
                        let merged_item = self.map(path, merged[at].as_object(), item)?;
                        merged[at] = Value::Object(merged_item);
                    }
                    None => merged.push(Value::Object(self.map(path, None, item)?)),
                }
            }
        }
        let server_order = if replace { merged.clone() } else { base };
        Ok(order(merged, &order_by, &server_order, Some(key)))
    }

    /// Handles every `$setElementOrder/<field>` of `patch`, merging and ordering those lists into `out`.
    /// Returns the fields it fully handled.
    fn set_element_orders(
        &self,
        path: &mut Vec<String>,
        out: &mut Map<String, Value>,
        patch: &Map<String, Value>,
    ) -> Result<Vec<String>> {
        let mut handled = Vec::new();
        for (name, order_value) in patch {
            let Some(field) = name.strip_prefix(SET_ELEMENT_ORDER) else {
                continue;
            };
            let Value::Array(wanted) = order_value else {
                return Err(malformed(
                    "invalid patch: $setElementOrder list must be a list",
                ));
            };
            path.push(field.to_string());
            // kubectl only sends an order for lists the server merges; for a list this table does not
            // know, the order's items name the merge key.
            let key = match self.list_type(path) {
                ListType::Atomic => inferred_merge_key(wanted),
                list_type => list_type.merge_key().map(str::to_string),
            };
            let key = key.as_deref();
            let as_list = |value: Option<&Value>| match value {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items.clone())),
                Some(_) => Err(invalid(path, format!("{field} is not a list"))),
            };
            let original = as_list(out.get(field))?;
            let patch_list = as_list(patch.get(field))?;
            check_order(path, patch_list.as_deref().unwrap_or_default(), wanted, key)?;
            let merged = match (&original, &patch_list) {
                (Some(original), None) => original.clone(),
                (None, Some(patch_list)) => {
                    self.list_with(path, Strategy::Merge(key), &[], patch_list)?
                }
                (Some(original), Some(patch_list)) => {
                    self.list_with(path, Strategy::Merge(key), original, patch_list)?
                }
                (None, None) => {
                    path.pop();
                    continue;
                }
            };
            path.pop();
            let ordered = order(merged, wanted, original.as_deref().unwrap_or_default(), key);
            out.insert(field.to_string(), Value::Array(ordered));
            handled.push(field.to_string());
        }
        Ok(handled)
    }
}

/// The merge key a `$setElementOrder` list spells out: every item an object with the same single member.
fn inferred_merge_key(wanted: &[Value]) -> Option<String> {
    let mut key: Option<&String> = None;
    for item in wanted {
        let object = item.as_object()?;
        let (name, _) = object.iter().next().filter(|_| object.len() == 1)?;
        if key.is_some_and(|seen| seen != name) {
            return None;
        }
        key = Some(name);
    }
    key.cloned()
}

/// Applies `$retainKeys`: every patched field must be listed, and unlisted fields of the original go away.
fn retain_keys(
    out: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
) -> Result<()> {
    let bad = || {
        malformed("invalid patch: $retainKeys must be a list of the fields present in the patch")
    };
    let Value::Array(retain) = retain else {
        return Err(bad());
    };
    let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
    let unlisted = patch.iter().any(|(name, value)| {
        !value.is_null() && !name.starts_with('$') && !keep.contains(&name.as_str())
    });
    if unlisted || keep.len() != retain.len() {
        return Err(bad());
    }
    out.retain(|name, _| keep.contains(&name.as_str()));
    Ok(())
}

fn no_merge_key(path: &[String], item: &Map<String, Value>, key: &str) -> PatchError {
    invalid(
        path,
        format!(
            "map: {} does not contain declared merge key: {key}",
            Value::Object(item.clone())
        ),
    )
}

/// Classifies the items of both lists; mixing objects and scalars, or nesting lists, is an error.
fn item_kind(path: &[String], original: &[Value], patch: &[Value]) -> Result<Items> {
    let mut kind = None;
    for item in original.iter().chain(patch) {
        let this = match item {
            Value::Array(_) => return Err(invalid(path, "lists of lists are not supported")),
            Value::Object(_) => Items::Maps,
            _ => Items::Scalars,
        };
        match kind {
            None => kind = Some(this),
            Some(seen) if seen != this => {
                return Err(invalid(path, "list items must all have the same type"));
            }
            Some(_) => {}
        }
    }
    Ok(kind.unwrap_or(Items::Scalars))
}

/// Position of `item` in `list`, comparing by merge key for objects and by value for scalars.
fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        Some(key) => {
            let wanted = item.get(key)?;
            list.iter()
                .position(|candidate| candidate.get(key) == Some(wanted))
        }
        None => list.iter().position(|candidate| candidate == item),
    }
}

/// Orders a merged list: items named in `patch_order` follow it; the others keep their relative order from
/// `server_order` and are interleaved where the server had them.
fn order(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let (mut from_patch, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(patch_order, item, key).is_some());
    let rank = |list: &[Value], item: &Value| position(list, item, key).unwrap_or(usize::MAX);
    from_patch.sort_by_key(|item| rank(patch_order, item));
    server_only.sort_by_key(|item| rank(server_order, item));

    let mut out = Vec::with_capacity(from_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = from_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    position(server_order, l, key),
                    position(server_order, r, key),
                ) {
                    (Some(li), Some(ri)) => li.cmp(&ri) == Ordering::Less,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// The patch list must list its (non-deleted) items in the same relative order as `$setElementOrder`.
fn check_order(
    path: &[String],
    patch: &[Value],
    wanted: &[Value],
    key: Option<&str>,
) -> Result<()> {
    if key.is_none() && patch.iter().any(Value::is_object) {
        // Objects without a merge key cannot be matched against the order; nothing to check.
        return Ok(());
    }
    let items: Vec<&Value> = patch
        .iter()
        .filter(|item| item.get(PATCH).is_none())
        .collect();
    let mut next = 0;
    for item in &items {
        match wanted[next..]
            .iter()
            .position(|candidate| position(std::slice::from_ref(candidate), item, key).is_some())
        {
            Some(offset) => next += offset + 1,
            None => {
                return Err(invalid(
                    path,
                    format!(
                        "the order in patch list {} doesn't match $setElementOrder list {}",
                        Value::Array(patch.to_vec()),
                        Value::Array(wanted.to_vec())
                    ),
                ));
            }
        }
    }
    Ok(())
}
