//! Schema-guided walks over JSON objects: the field set a value spells out, and the diff between two values.

use std::collections::BTreeMap;

use serde_json::Value;

use super::PatchError;
use super::fieldset::{FieldSet, Path, PathElement, field_names, path_string};
use super::schema::{self, ListType};

/// Which nodes of a value count as members of its field set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Membership {
    /// What an apply configuration claims: leaves, atomic values, list items, empty objects.
    Applied,
    /// Like `Applied`, plus free-form maps (labels, data, ...) and merged lists that appear, which the
    /// upstream server marks with "." when an update creates them.
    Updated,
    /// Every node: used for what disappears, so that all its owners let go.
    Everything,
}

/// The object kind and the subresource written, which decide list semantics and what is never owned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walker<'a> {
    pub(crate) kind: &'a str,
    pub(crate) subresource: &'a str,
}

/// Fields that appeared, changed or disappeared between two versions of an object.
#[derive(Debug, Default)]
pub(crate) struct Diff {
    pub(crate) added: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) removed: FieldSet,
}

impl Diff {
    pub(crate) fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }
}

impl Walker<'_> {
    pub(crate) fn list_type(&self, path: &[PathElement]) -> ListType {
        schema::list_type(self.kind, &field_names(path))
    }

    pub(crate) fn is_atomic_struct(&self, path: &[PathElement]) -> bool {
        schema::is_atomic_struct(self.kind, &field_names(path))
    }

    /// Whether anyone may own `path` in a write to this subresource.
    fn ownable(&self, path: &[PathElement]) -> bool {
        let names = field_names(path);
        !path.is_empty()
            && !schema::is_stripped(&names)
            && !schema::is_reset(self.kind, self.subresource, &names)
    }

    fn own(&self, set: &mut FieldSet, path: &[PathElement]) {
        if self.ownable(path) {
            set.insert(path);
        }
    }

    /// The path element of a list item, or an Invalid error naming the list.
    pub(crate) fn item_element(
        &self,
        list_type: ListType,
        path: &[PathElement],
        index: usize,
        item: &Value,
    ) -> Result<PathElement, PatchError> {
        let invalid = |reason: String| PatchError::Invalid {
            path: path_string(path),
            reason: format!("{}: element {index}: {reason}", path_string(path)),
        };
        match list_type {
            ListType::Set => match item {
                Value::Object(_) | Value::Array(_) => {
                    Err(invalid("set lists may only hold scalar values".into()))
                }
                scalar => Ok(PathElement::value(scalar)),
            },
            ListType::Map(keys) => {
                let Value::Object(object) = item else {
                    return Err(invalid("associative list items must be objects".into()));
                };
                let mut fields = BTreeMap::new();
                for key in keys {
                    let value = match object.get(*key) {
                        Some(value) if !value.is_null() => value.clone(),
                        _ => schema::key_default(key).ok_or_else(|| {
                            invalid(format!(
                                "associative list with keys has an element that omits key field {key:?} \
                                 (and doesn't have default value)"
                            ))
                        })?,
                    };
                    fields.insert((*key).to_string(), value);
                }
                Ok(PathElement::key(&fields))
            }
            ListType::Atomic => Ok(PathElement::Index(index)),
        }
    }

    /// The field set `value` (found at `path`) spells out.
    pub(crate) fn field_set(
        &self,
        membership: Membership,
        path: &mut Path,
        value: &Value,
        out: &mut FieldSet,
    ) -> Result<(), PatchError> {
        let atomic_struct = !path.is_empty() && self.is_atomic_struct(path);
        match value {
            Value::Object(object) if !atomic_struct => {
                let is_map = matches!(path.last(), Some(PathElement::Field(name)) if schema::is_map_field(name));
                if object.is_empty()
                    || membership == Membership::Everything
                    || (membership == Membership::Updated && is_map)
                {
                    self.own(out, path);
                }
                for (name, child) in object {
                    if child.is_null() && membership != Membership::Everything {
                        continue;
                    }
                    path.push(PathElement::field(name));
                    self.field_set(membership, path, child, out)?;
                    path.pop();
                }
            }
            Value::Array(items) => {
                let list_type = self.list_type(path);
                if list_type == ListType::Atomic || membership != Membership::Applied {
                    self.own(out, path);
                }
                if list_type == ListType::Atomic {
                    return Ok(());
                }
                for (index, item) in items.iter().enumerate() {
                    let element = self.item_element(list_type, path, index, item)?;
                    path.push(element);
                    self.own(out, path);
                    if list_type != ListType::Set {
                        self.field_set(membership, path, item, out)?;
                    }
                    path.pop();
                }
            }
            _ => self.own(out, path),
        }
        Ok(())
    }

    /// A field set that never fails: nodes whose list keys are broken are owned as a whole.
    fn field_set_lenient(
        &self,
        membership: Membership,
        path: &mut Path,
        value: &Value,
    ) -> FieldSet {
        let mut out = FieldSet::default();
        if self.field_set(membership, path, value, &mut out).is_err() {
            out = FieldSet::default();
            self.own(&mut out, path);
        }
        out
    }

    /// What changed from `old` to `new` (both whole objects or both subtrees at `path`).
    pub(crate) fn diff(
        &self,
        path: &mut Path,
        old: Option<&Value>,
        new: Option<&Value>,
        diff: &mut Diff,
    ) {
        match (old, new) {
            (None, None) => {}
            (None, Some(new)) => {
                let added = self.field_set_lenient(Membership::Updated, path, new);
                diff.added = diff.added.union(&added);
            }
            (Some(old), None) => {
                let removed = self.field_set_lenient(Membership::Everything, path, old);
                diff.removed = diff.removed.union(&removed);
            }
            (Some(old), Some(new)) => self.diff_both(path, old, new, diff),
        }
    }

    fn diff_both(&self, path: &mut Path, old: &Value, new: &Value, diff: &mut Diff) {
        let atomic_struct = !path.is_empty() && self.is_atomic_struct(path);
        match (old, new) {
            (Value::Object(old_map), Value::Object(new_map)) if !atomic_struct => {
                let mut names: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
                names.sort_unstable();
                names.dedup();
                for name in names {
                    path.push(PathElement::field(name));
                    self.diff(path, old_map.get(name), new_map.get(name), diff);
                    path.pop();
                }
            }
            (Value::Array(old_items), Value::Array(new_items))
                if self.list_type(path) != ListType::Atomic =>
            {
                let list_type = self.list_type(path);
                let (Some(old_keyed), Some(new_keyed)) = (
                    self.keyed(list_type, path, old_items),
                    self.keyed(list_type, path, new_items),
                ) else {
                    if old != new {
                        self.own(&mut diff.modified, path);
                    }
                    return;
                };
                let mut elements: Vec<&PathElement> =
                    old_keyed.keys().chain(new_keyed.keys()).collect();
                elements.sort_unstable();
                elements.dedup();
                for element in elements {
                    path.push(element.clone());
                    let (before, after) = (old_keyed.get(element), new_keyed.get(element));
                    match (before, after, list_type) {
                        (Some(_), Some(_), ListType::Set) => {}
                        (None, Some(_), ListType::Set) => self.own(&mut diff.added, path),
                        (Some(_), None, ListType::Set) => self.own(&mut diff.removed, path),
                        (before, after, _) => {
                            if before.is_none() {
                                self.own(&mut diff.added, path);
                            }
                            self.diff(path, before.copied(), after.copied(), diff);
                        }
                    }
                    path.pop();
                }
            }
            _ => {
                if old != new {
                    self.own(&mut diff.modified, path);
                }
            }
        }
    }

    /// List items by path element, or None when some item has no valid key (then the list is compared whole).
    fn keyed<'v>(
        &self,
        list_type: ListType,
        path: &[PathElement],
        items: &'v [Value],
    ) -> Option<BTreeMap<PathElement, &'v Value>> {
        let mut keyed = BTreeMap::new();
        for (index, item) in items.iter().enumerate() {
            let element = self.item_element(list_type, path, index, item).ok()?;
            keyed.insert(element, item);
        }
        Some(keyed)
    }
}
