//! The parts of (Mutating|Validating)WebhookConfiguration objects the dispatcher reads, parsed leniently.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One webhook configuration object (only the fields dispatch needs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct WebhookConfiguration {
    pub metadata: ObjectName,
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ObjectName {
    pub name: String,
}

/// One webhook entry. Missing optional fields get the admissionregistration/v1 defaults via accessors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Webhook {
    pub name: String,
    pub client_config: ClientConfig,
    pub rules: Vec<Rule>,
    pub failure_policy: Option<String>,
    pub match_policy: Option<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub object_selector: Option<LabelSelector>,
    pub side_effects: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub reinvocation_policy: Option<String>,
}

/// Default (and maximum) webhook timeout of admissionregistration/v1.
const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
const MAX_TIMEOUT_SECONDS: u64 = 30;

impl Webhook {
    /// failurePolicy defaults to Fail in v1; only an explicit Ignore ignores failures.
    pub fn ignores_failures(&self) -> bool {
        self.failure_policy.as_deref() == Some("Ignore")
    }

    pub fn timeout(&self) -> std::time::Duration {
        let seconds = self
            .timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
            .clamp(1, MAX_TIMEOUT_SECONDS);
        std::time::Duration::from_secs(seconds)
    }

    pub fn reinvoke_if_needed(&self) -> bool {
        self.reinvocation_policy.as_deref() == Some("IfNeeded")
    }

    /// Dry-run requests may only reach webhooks declaring no side effects (None or NoneOnDryRun).
    pub fn safe_for_dry_run(&self) -> bool {
        matches!(self.side_effects.as_deref(), Some("None" | "NoneOnDryRun"))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ClientConfig {
    pub url: Option<String>,
    pub service: Option<ServiceReference>,
    /// PEM bundle, base64 in JSON (a Go `[]byte`).
    pub ca_bundle: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ServiceReference {
    pub namespace: String,
    pub name: String,
    pub path: Option<String>,
    pub port: Option<u16>,
}

/// One `rules[]` entry (RuleWithOperations).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Rule {
    pub operations: Vec<String>,
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub scope: Option<String>,
}

/// metav1.LabelSelector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// Parses configuration objects, sorted by name as upstream orders them; unparsable objects are skipped (the
/// store validated them on write, so this only guards against hand-crafted test fixtures).
pub(crate) fn parse_configurations(objects: Vec<Value>) -> Vec<WebhookConfiguration> {
    let mut configurations: Vec<WebhookConfiguration> = objects
        .into_iter()
        .map(|mut object| {
            drop_nulls(&mut object);
            object
        })
        .filter_map(
            |object| match serde_json::from_value::<WebhookConfiguration>(object) {
                Ok(configuration) => Some(configuration),
                Err(error) => {
                    tracing::warn!(%error, "skipping unparsable webhook configuration");
                    None
                }
            },
        )
        .collect();
    configurations.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    configurations
}

/// Removes `null` members so they read as absent (Go decodes null into the zero value too).
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|_, member| !member.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}
