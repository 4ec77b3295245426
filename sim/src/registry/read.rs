//! GET and LIST: resourceVersion semantics, selectors, paging with consistent snapshots.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Registry, scoped};
use crate::catalog::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{FieldError, Result, StatusError};

/// How long a read asking for a future resourceVersion waits before answering 504.
const FUTURE_RV_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvMatch {
    NotOlderThan,
    Exact,
}

/// Parsed list query parameters.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<RvMatch>,
}

/// One page of a list, items in storage form.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub rv: u64,
    pub items: Vec<Arc<Value>>,
    pub continue_token: Option<String>,
    pub remaining_item_count: Option<usize>,
}

#[derive(Serialize, Deserialize)]
struct ContinueToken {
    /// Snapshot id in the store.
    id: u64,
    /// Offset of the next item in the snapshot.
    offset: usize,
}

impl Registry {
    /// GET of one object (storage form).
    pub async fn get(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        resource_version: Option<&str>,
    ) -> Result<Arc<Value>> {
        if let Some(rv) = resource_version.filter(|rv| !rv.is_empty() && *rv != "0") {
            self.wait_for_rv(parse_rv(rv)?).await?;
        }
        self.store
            .get(rt.storage, scoped(rt, namespace), name)
            .ok_or_else(|| StatusError::not_found(rt, name))
    }

    /// LIST of a collection (`namespace` None for the all-namespaces form).
    pub async fn list(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListPage> {
        validate_list_options(opts)?;
        if let Some(token) = &opts.continue_token {
            return self.continue_list(token, opts.limit);
        }
        let rv_param = opts.resource_version.as_deref().filter(|rv| !rv.is_empty());
        let limit = match rv_param {
            // "any" reads are served from the cache, which historically ignores the limit
            Some("0") => None,
            _ => opts.limit.filter(|l| *l > 0),
        };
        let exact = opts.resource_version_match == Some(RvMatch::Exact)
            || (opts.resource_version_match.is_none() && limit.is_some());
        let requested = match rv_param {
            None | Some("0") => None,
            Some(rv) => Some(parse_rv(rv)?),
        };
        if let Some(rv) = requested {
            self.wait_for_rv(rv).await?;
        }
        let namespace = namespace.filter(|_| rt.namespaced);
        let (current_rv, items) = self.store.list(rt.storage, namespace);
        let list_rv = match (requested, exact) {
            (Some(rv), true) if rv < current_rv => {
                if !self.store.unchanged_since(rt.storage, rv) {
                    return Err(StatusError::too_old_resource_version(rv, current_rv));
                }
                rv
            }
            _ => current_rv,
        };
        let filtered: Vec<Arc<Value>> =
            if opts.label_selector.is_empty() && opts.field_selector.is_empty() {
                items
            } else {
                items
                    .into_iter()
                    .filter(|o| opts.label_selector.matches(o) && opts.field_selector.matches(o))
                    .collect()
            };
        let selectors_used = !opts.label_selector.is_empty() || !opts.field_selector.is_empty();
        Ok(self.page(list_rv, Arc::new(filtered), 0, limit, None, selectors_used))
    }

    fn continue_list(&self, token: &str, limit: Option<usize>) -> Result<ListPage> {
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| serde_json::from_slice::<ContinueToken>(&b).ok())
            .ok_or_else(|| StatusError::bad_request("continue key is not valid: invalid token"))?;
        let (rv, items) = self.store.snapshot(decoded.id).ok_or_else(|| {
            StatusError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new \
                 list without the continue parameter, or use the continue token in this response to retrieve the \
                 remainder of the results. Continuing with the provided token results in an inconsistent list - \
                 objects that were created, modified, or deleted between the time the first chunk was returned and \
                 now may show up in the list.",
            )
        })?;
        Ok(self.page(
            rv,
            items,
            decoded.offset,
            limit.filter(|l| *l > 0),
            Some(decoded.id),
            false,
        ))
    }

    /// Cuts one page out of a snapshot, saving the snapshot for a continue token when more remain.
    fn page(
        &self,
        rv: u64,
        items: Arc<Vec<Arc<Value>>>,
        offset: usize,
        limit: Option<usize>,
        snapshot_id: Option<u64>,
        selectors_used: bool,
    ) -> ListPage {
        let start = offset.min(items.len());
        let end = limit
            .map(|l| (start + l).min(items.len()))
            .unwrap_or(items.len());
        let page: Vec<Arc<Value>> = items[start..end].to_vec();
        if end >= items.len() {
            return ListPage {
                rv,
                items: page,
                continue_token: None,
                remaining_item_count: None,
            };
        }
        let remaining = items.len() - end;
        let id = snapshot_id.unwrap_or_else(|| self.store.save_snapshot(rv, items));
        let token = ContinueToken { id, offset: end };
        let encoded = serde_json::to_vec(&token).unwrap_or_default();
        ListPage {
            rv,
            items: page,
            continue_token: Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(encoded)),
            remaining_item_count: if selectors_used {
                None
            } else {
                Some(remaining)
            },
        }
    }

    /// Waits for a future resourceVersion like the real server (≈3 s, then 504).
    async fn wait_for_rv(&self, rv: u64) -> Result<()> {
        let current = self.store.current_rv();
        if rv <= current || self.store.wait_for_rv(rv, FUTURE_RV_WAIT).await {
            return Ok(());
        }
        Err(StatusError::timeout(format!(
            "Too large resource version: {rv}, current: {}",
            self.store.current_rv()
        ))
        .with_retry_after(1))
    }
}

fn parse_rv(rv: &str) -> Result<u64> {
    rv.parse()
        .map_err(|_| StatusError::bad_request(format!("invalid resource version: {rv}")))
}

/// `ValidateListOptions`: resourceVersionMatch needs a resourceVersion and excludes continue.
fn validate_list_options(opts: &ListOptions) -> Result<()> {
    let rv = opts.resource_version.as_deref().unwrap_or_default();
    if opts.continue_token.is_some() && !rv.is_empty() && rv != "0" {
        return Err(StatusError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    let forbidden = |detail: &str| {
        Err(StatusError::invalid_options(
            "ListOptions",
            &[FieldError::forbidden("resourceVersionMatch", detail)],
        ))
    };
    match (
        opts.resource_version_match,
        rv,
        opts.continue_token.is_some(),
    ) {
        (None, _, _) => Ok(()),
        (Some(_), _, true) => {
            forbidden("resourceVersionMatch is forbidden when continue is provided")
        }
        (Some(_), "", false) => {
            forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided")
        }
        (Some(RvMatch::Exact), "0", false) => {
            forbidden("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
        }
        (Some(_), _, false) => Ok(()),
    }
}
