//! Tests of container planning: command lines, environment, mounts.

use serde_json::json;

use super::*;

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web-0", "namespace": "ns", "uid": "u1",
                     "labels": {"app": "web"}, "annotations": {"note": "n"}},
        "spec": {"nodeName": "node-1", "serviceAccountName": "sa", "containers": []}
    }))
    .unwrap()
}

fn container(value: serde_json::Value) -> Container {
    serde_json::from_value(value).unwrap()
}

fn facts(pod: &Pod) -> PodFacts<'_> {
    PodFacts {
        pod,
        pod_ip: "10.1.2.3",
        host_ip: "172.18.0.1",
    }
}

fn volumes() -> Vec<PreparedVolume> {
    vec![
        PreparedVolume {
            name: "data".into(),
            host_path: "/n/mnt/data".into(),
            block: false,
        },
        PreparedVolume {
            name: "raw".into(),
            host_path: "/n/dev/lv0".into(),
            block: true,
        },
    ]
}

#[test]
fn command_and_args_make_the_command_line() {
    let pod = pod();
    let c = container(
        json!({"name": "c", "command": ["sh", "-c"], "args": ["echo $(GREETING)"],
                             "env": [{"name": "GREETING", "value": "hi"}]}),
    );
    let plan = plan(facts(&pod), &c, &[]).unwrap();
    assert_eq!(plan.program, "sh");
    assert_eq!(plan.args, ["-c", "echo hi"]);
    assert_eq!(plan.workdir, "/");
    assert!(plan.mounts.is_empty());
}

#[test]
fn args_alone_are_the_command_line() {
    let pod = pod();
    let plan = plan(
        facts(&pod),
        &container(json!({"name": "c", "args": ["sleep", "5"]})),
        &[],
    )
    .unwrap();
    assert_eq!(
        (plan.program.as_str(), plan.args.as_slice()),
        ("sleep", &["5".to_string()][..])
    );
}

#[test]
fn no_command_idles() {
    let pod = pod();
    let plan = plan(
        facts(&pod),
        &container(json!({"name": "c", "image": "nginx", "workingDir": "/w"})),
        &[],
    )
    .unwrap();
    assert_eq!(plan.program, "/bin/sh");
    assert_eq!(plan.args, ["-c", IDLE_SCRIPT]);
    assert_eq!(plan.workdir, "/w");
}

#[test]
fn environment_has_defaults_values_and_field_refs() {
    let pod = pod();
    let field = |name: &str, path: &str| json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}});
    let c = container(json!({"name": "c", "env": [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "$(A)-$(MISSING)-$$(A)"},
        field("NAME", "metadata.name"), field("NS", "metadata.namespace"), field("UID", "metadata.uid"),
        field("NODE", "spec.nodeName"), field("SA", "spec.serviceAccountName"),
        field("IP", "status.podIP"), field("HOST", "status.hostIP"),
        field("APP", "metadata.labels['app']"), field("NOTE", "metadata.annotations['note']"),
        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "HOME", "value": "/home/app"}
    ]}));
    let env = environment(facts(&pod), &c);
    let expected: Vec<(String, String)> = [
        ("PATH", CONTAINER_PATH),
        ("HOSTNAME", "web-0"),
        ("A", "1"),
        ("B", "1-$(MISSING)-$(A)"),
        ("NAME", "web-0"),
        ("NS", "ns"),
        ("UID", "u1"),
        ("NODE", "node-1"),
        ("SA", "sa"),
        ("IP", "10.1.2.3"),
        ("HOST", "172.18.0.1"),
        ("APP", "web"),
        ("NOTE", "n"),
        ("HOME", "/home/app"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(env, expected);
}

#[test]
fn expansion_rules() {
    let env = vec![("X".to_string(), "x".to_string())];
    let cases = [
        ("$(X)", "x"),
        ("a$(X)b$(X)", "axbx"),
        ("$$(X)", "$(X)"),
        ("$$", "$"),
        ("$(Y)", "$(Y)"),
        ("$X", "$X"),
        ("$(X", "$(X"),
        ("cost: 5$", "cost: 5$"),
    ];
    for (input, output) in cases {
        assert_eq!(expand(input, &env), output, "{input}");
    }
}

#[test]
fn volume_mounts_devices_and_subpaths() {
    let pod = pod();
    let c = container(json!({"name": "c",
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "data", "mountPath": "/logs", "subPath": "logs/app", "readOnly": true}
        ],
        "volumeDevices": [{"name": "raw", "devicePath": "/dev/xvda"}]
    }));
    let plan = plan(facts(&pod), &c, &volumes()).unwrap();
    let bind = |path: &str| MountSource::Bind {
        path: path.into(),
        recursive: false,
    };
    assert_eq!(
        plan.mounts,
        [
            MountSpec {
                target: "/data".into(),
                source: bind("/n/mnt/data"),
                read_only: false
            },
            MountSpec {
                target: "/logs".into(),
                source: bind("/n/mnt/data/logs/app"),
                read_only: true
            },
            MountSpec {
                target: "/dev/xvda".into(),
                source: bind("/n/dev/lv0"),
                read_only: false
            },
        ]
    );
    assert_eq!(plan.subpaths, [PathBuf::from("/n/mnt/data/logs/app")]);
}

#[test]
fn invalid_mounts_are_refused() {
    let pod = pod();
    let refused = |c: serde_json::Value| plan(facts(&pod), &container(c), &volumes()).unwrap_err();
    assert!(
        refused(json!({"name": "c", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}))
            .contains("volume \"nope\" not found")
    );
    assert!(
        refused(json!({"name": "c", "volumeMounts": [{"name": "raw", "mountPath": "/x"}]}))
            .contains("use volumeDevices")
    );
    assert!(
        refused(json!({"name": "c", "volumeDevices": [{"name": "data", "devicePath": "/dev/x"}]}))
            .contains("use volumeMounts")
    );
    assert!(refused(json!({"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "../up"}]}))
        .contains("must be relative"));
    assert!(refused(json!({"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "/abs"}]}))
        .contains("must be relative"));
}

#[test]
fn hostname_is_the_spec_hostname_or_the_pod_name() {
    let mut pod = pod();
    assert_eq!(hostname(&pod), "web-0");
    pod.spec.as_mut().unwrap().hostname = Some("db".into());
    assert_eq!(hostname(&pod), "db");
    pod.spec.as_mut().unwrap().hostname = None;
    pod.metadata.name = Some("x".repeat(70));
    assert_eq!(hostname(&pod).len(), 63);
}
