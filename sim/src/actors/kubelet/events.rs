//! Pod events the kubelet reports (core/v1 Events with `source.component: kubelet`), as `kubectl describe` shows.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

/// What happened, to which pod (and container).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodEvent {
    pub severity: Severity,
    /// CamelCase reason: `FailedMount`, `Pulled`, `Created`, `Started`, `Killing`, `BackOff`, `Failed`.
    pub reason: &'static str,
    pub message: String,
    /// The container the event is about, if any (becomes `involvedObject.fieldPath`).
    pub container: Option<String>,
}

/// The Event object for `event` about `pod`, reported by the kubelet of `node` at `now`.
pub fn build(pod: &Pod, node: &str, event: &PodEvent, now: Timestamp) -> Event {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let seconds = Timestamp::from_second(now.as_second()).unwrap_or(now);
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{pod_name}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Pod".to_string()),
            name: Some(pod_name),
            namespace: Some(namespace),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            field_path: event
                .container
                .as_ref()
                .map(|c| format!("spec.containers{{{c}}}")),
        },
        reason: Some(event.reason.to_string()),
        message: Some(event.message.clone()),
        type_: Some(
            match event.severity {
                Severity::Normal => "Normal",
                Severity::Warning => "Warning",
            }
            .to_string(),
        ),
        source: Some(EventSource {
            component: Some("kubelet".to_string()),
            host: Some(node.to_string()),
        }),
        first_timestamp: Some(Time(seconds)),
        last_timestamp: Some(Time(seconds)),
        count: Some(1),
        reporting_component: Some("kubelet".to_string()),
        reporting_instance: Some(node.to_string()),
        ..Event::default()
    }
}

/// Posts `event`; failures are logged only (events are best effort, as in a real kubelet).
pub async fn publish(client: &kube::Client, pod: &Pod, node: &str, event: &PodEvent) {
    let object = build(pod, node, event, Timestamp::now());
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some("kubelet".to_string()),
        ..PostParams::default()
    };
    if let Err(error) = api.create(&params, &object).await {
        tracing::debug!(%error, reason = event.reason, "posting a pod event failed");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn container_events_point_at_the_container() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "u1", "resourceVersion": "7"},
            "spec": {"containers": []}
        }))
        .unwrap();
        let event = PodEvent {
            severity: Severity::Normal,
            reason: "Started",
            message: "Started container app".into(),
            container: Some("app".into()),
        };
        let now = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        let built = build(&pod, "node-1", &event, now);
        assert_eq!(
            built.metadata.name.as_deref(),
            Some("web-0.17979cfe3d85cd15")
        );
        assert_eq!(built.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(
            built.involved_object.field_path.as_deref(),
            Some("spec.containers{app}")
        );
        assert_eq!(built.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(built.type_.as_deref(), Some("Normal"));
        assert_eq!(
            built.source.as_ref().unwrap().component.as_deref(),
            Some("kubelet")
        );
        assert_eq!(
            built.source.as_ref().unwrap().host.as_deref(),
            Some("node-1")
        );
        assert_eq!(
            built.first_timestamp,
            Some(Time(Timestamp::from_second(1_700_000_000).unwrap()))
        );
        assert_eq!(built.reporting_instance.as_deref(), Some("node-1"));
    }
}
