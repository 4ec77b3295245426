//! MutatingAdmissionWebhook and ValidatingAdmissionWebhook: select webhooks, call them over HTTPS, apply patches.

mod client;
mod config;
mod matching;
mod review;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use serde_json::Value;

use self::config::{Webhook, parse_configurations};
use self::review::Reply;
use super::{
    AdmissionConfig, AdmissionError, AdmissionLookup, AdmissionRequest, Operation, Result, error,
};

const GROUP: &str = "admissionregistration.k8s.io";

/// Which kind of webhook configuration is dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Mutating,
    Validating,
}

impl Phase {
    fn resource(self) -> &'static str {
        match self {
            Phase::Mutating => "mutatingwebhookconfigurations",
            Phase::Validating => "validatingwebhookconfigurations",
        }
    }
}

/// The webhooks of one phase in call order: configurations by name, webhooks in list order.
fn load_webhooks(lookup: &dyn AdmissionLookup, phase: Phase) -> Vec<Webhook> {
    parse_configurations(lookup.list(GROUP, phase.resource()))
        .into_iter()
        .flat_map(|c| c.webhooks)
        .collect()
}

/// The object a webhook sees: none for DELETE/CONNECT (upstream sends `object: null` there).
fn reviewed(req: &AdmissionRequest<'_>, object: &Value) -> Option<Value> {
    match req.operation {
        Operation::Create | Operation::Update => Some(object.clone()),
        Operation::Delete | Operation::Connect => None,
    }
}

/// What every call of one dispatch shares.
#[derive(Clone, Copy)]
struct Dispatch<'a> {
    cfg: &'a AdmissionConfig,
    lookup: &'a dyn AdmissionLookup,
    req: &'a AdmissionRequest<'a>,
    phase: Phase,
}

/// What one webhook invocation did.
enum Invocation {
    /// Selectors or rules did not match: the webhook was not called.
    NotCalled,
    /// Called (or its failure ignored); `Some` holds the patched object when the patch changed it.
    Called(Option<Value>),
}

/// Runs every matching mutating webhook, then (reinvocationPolicy IfNeeded) once more each webhook whose input
/// was changed after its call by a later webhook, after re-running the idempotent built-in mutators.
pub(crate) async fn mutate(
    cfg: &AdmissionConfig,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    mut object: Value,
    old_object: Option<&Value>,
    rerun_builtins: &(dyn Fn(&mut Value) + Sync),
) -> Result<(Value, Vec<String>)> {
    let mut warnings = Vec::new();
    if matching::is_exempt(req) {
        return Ok((object, warnings));
    }
    let dispatch = Dispatch {
        cfg,
        lookup,
        req,
        phase: Phase::Mutating,
    };
    let webhooks = load_webhooks(lookup, Phase::Mutating);
    // mutations counts object changes; called_at[i] is its value right after webhook i ran.
    let mut mutations: u64 = 0;
    let mut called_at: Vec<Option<u64>> = vec![None; webhooks.len()];
    for (index, webhook) in webhooks.iter().enumerate() {
        let input = reviewed(req, &object);
        match invoke(dispatch, webhook, input.as_ref(), old_object, &mut warnings).await? {
            Invocation::NotCalled => {}
            Invocation::Called(patched) => {
                if let Some(patched) = patched {
                    object = patched;
                    mutations += 1;
                }
                called_at[index] = Some(mutations);
            }
        }
    }
    let reinvoke: Vec<&Webhook> = webhooks
        .iter()
        .zip(&called_at)
        .filter(|(webhook, at)| webhook.reinvoke_if_needed() && at.is_some_and(|at| at < mutations))
        .map(|(webhook, _)| webhook)
        .collect();
    if reinvoke.is_empty() {
        return Ok((object, warnings));
    }
    rerun_builtins(&mut object);
    for webhook in reinvoke {
        let input = reviewed(req, &object);
        let invocation =
            invoke(dispatch, webhook, input.as_ref(), old_object, &mut warnings).await?;
        if let Invocation::Called(Some(patched)) = invocation {
            object = patched;
        }
    }
    Ok((object, warnings))
}

/// Runs every matching validating webhook (sequentially; upstream calls them in parallel, which only changes
/// which denial wins when several deny).
pub(crate) async fn validate(
    cfg: &AdmissionConfig,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    object: &Value,
    old_object: Option<&Value>,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if matching::is_exempt(req) {
        return Ok(warnings);
    }
    let dispatch = Dispatch {
        cfg,
        lookup,
        req,
        phase: Phase::Validating,
    };
    let input = reviewed(req, object);
    for webhook in load_webhooks(lookup, Phase::Validating) {
        invoke(
            dispatch,
            &webhook,
            input.as_ref(),
            old_object,
            &mut warnings,
        )
        .await?;
    }
    Ok(warnings)
}

/// Calls one webhook if it matches, applying its patch (mutating phase) and its failurePolicy.
async fn invoke(
    dispatch: Dispatch<'_>,
    webhook: &Webhook,
    object: Option<&Value>,
    old_object: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<Invocation> {
    let req = dispatch.req;
    if !matching::should_call(webhook, dispatch.lookup, req, object, old_object)? {
        return Ok(Invocation::NotCalled);
    }
    if req.dry_run && !webhook.safe_for_dry_run() {
        return match webhook.side_effects {
            None => call_failed(webhook, "Webhook SideEffects is nil".to_string()),
            Some(_) => Err(AdmissionError::DryRunWebhook {
                webhook: webhook.name.clone(),
            }),
        };
    }
    let reply = match call(dispatch, webhook, object, old_object).await {
        Ok(reply) => reply,
        Err(cause) => return call_failed(webhook, cause),
    };
    let patch = match reply {
        Reply::Denied {
            code,
            reason,
            explanation,
            warnings: sent,
        } => {
            warnings.extend(sent);
            return Err(AdmissionError::WebhookDenied {
                webhook: webhook.name.clone(),
                code,
                reason: error::known_reason(&reason),
                explanation,
            });
        }
        Reply::Allowed {
            patch,
            warnings: sent,
        } => {
            warnings.extend(sent);
            patch
        }
    };
    let Some(patch) = patch else {
        return Ok(Invocation::Called(None));
    };
    if patch.patch_type != "JSONPatch" {
        return call_failed(
            webhook,
            format!("unsupported patch type {:?}", patch.patch_type),
        );
    }
    let patch_failed = |cause: String| AdmissionError::ApplyWebhookPatch {
        webhook: webhook.name.clone(),
        cause,
    };
    let Some(object) = object else {
        return Err(patch_failed(format!(
            "admission webhook {:?} attempted to modify the object, which is not supported for this operation",
            webhook.name
        )));
    };
    let patched = review::apply_json_patch(object, &patch.bytes).map_err(patch_failed)?;
    Ok(Invocation::Called((patched != *object).then_some(patched)))
}

/// A failed call: ignored under failurePolicy Ignore (as if the webhook did not exist), else a 500.
fn call_failed(webhook: &Webhook, cause: String) -> Result<Invocation> {
    if webhook.ignores_failures() {
        tracing::warn!(webhook = %webhook.name, %cause, "webhook call failed, ignored by failurePolicy");
        return Ok(Invocation::Called(None));
    }
    Err(AdmissionError::CallWebhook {
        webhook: webhook.name.clone(),
        cause,
    })
}

/// Builds the review, POSTs it and checks the answer; Err is the cause of a failed call.
async fn call(
    dispatch: Dispatch<'_>,
    webhook: &Webhook,
    object: Option<&Value>,
    old_object: Option<&Value>,
) -> std::result::Result<Reply, String> {
    let (req, timeout) = (dispatch.req, webhook.timeout());
    let endpoint = client::endpoint(
        &webhook.client_config,
        &dispatch.cfg.service_routes,
        timeout,
    )?;
    let uid = uuid::Uuid::new_v4().to_string();
    let body = review::review_request(req, &uid, object, old_object).to_string();
    tracing::debug!(webhook = %webhook.name, request = %req.uid, review = %uid, "calling admission webhook");
    let response = client::post(
        &endpoint,
        webhook.client_config.ca_bundle.as_deref(),
        body,
        timeout,
    )
    .await?;
    review::parse_reply(&response, &uid, dispatch.phase == Phase::Mutating)
}
