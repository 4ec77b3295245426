//! Tests of agent config parsing and validation.
use super::*;

const FULL: &str = r#"
stateDir: /var/lib/berth
classes:
  local-fast:
    hostPath:
      basePaths: [/mnt/disk1, /mnt/disk2]
      reserve: 10Gi
      fsType: xfs
      onNoQuota: warn
      dirMode: "0770"
      projectIds: {first: 100, last: 200}
  local-lvm:
    lvm:
      volumeGroup: vg0
      thinPool: pool0
      fsType: xfs
      lvmConfig: "global{activation=0}"
      mountRoot: /var/lib/berth-mounts
      reserve: 1048576
      zeroNewVolumes: false
      overprovisionRatio: 2.5
      commandTimeoutSeconds: 30
"#;

fn path(p: &str) -> BasePath {
    p.parse().unwrap()
}

fn error_of(text: &str) -> String {
    AgentConfig::parse_yaml(text).unwrap_err().to_string()
}

fn error_chain(text: &str) -> String {
    let err = AgentConfig::parse_yaml(text).unwrap_err();
    let mut out = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[test]
fn full_config_parses_into_validated_pools() {
    let config = AgentConfig::parse_yaml(FULL).unwrap();
    assert_eq!(config.state_dir, path("/var/lib/berth"));
    let fast: ClassName = "local-fast".parse().unwrap();
    let lvm: ClassName = "local-lvm".parse().unwrap();
    assert_eq!(
        config.pools[&fast],
        PoolConfig::HostPath(HostPathPoolConfig {
            base_paths: vec![path("/mnt/disk1"), path("/mnt/disk2")],
            reserve_bytes: 10 << 30,
            mount_check: MountCheck {
                mount_point: true,
                fs_type: Some(FsType::Xfs),
            },
            on_no_quota: OnNoQuota::Warn,
            dir_mode: 0o770,
            project_ids: ProjectRange {
                first: 100,
                last: 200
            },
        })
    );
    assert_eq!(
        config.pools[&lvm],
        PoolConfig::Lvm(LvmPoolConfig {
            volume_group: "vg0".parse().unwrap(),
            thin_pool: Some("pool0".parse().unwrap()),
            fs_type: FsType::Xfs,
            lvm_config: Some("global{activation=0}".to_owned()),
            mount_root: path("/var/lib/berth-mounts"),
            reserve_bytes: 1 << 20,
            zero_new_volumes: false,
            overprovision_ratio: 2.5,
            command_timeout: Duration::from_secs(30),
        })
    );
}

#[test]
fn defaults_are_safe() {
    let config = AgentConfig::parse_yaml(
        "stateDir: /var/lib/berth\nclasses:\n  a:\n    hostPath:\n      basePaths: [/mnt/a]\n  b:\n    lvm:\n      volumeGroup: vg0\n      mountRoot: /mnt/lvm\n",
    )
    .unwrap();
    let PoolConfig::HostPath(a) = &config.pools[&"a".parse().unwrap()] else {
        panic!("a is not a hostPath pool");
    };
    assert_eq!(
        (
            a.reserve_bytes,
            a.mount_check,
            a.on_no_quota,
            a.dir_mode,
            a.project_ids
        ),
        (
            0,
            MountCheck {
                mount_point: true,
                fs_type: None
            },
            OnNoQuota::Refuse,
            0o777,
            ProjectRange::default()
        )
    );
    let PoolConfig::Lvm(b) = &config.pools[&"b".parse().unwrap()] else {
        panic!("b is not an lvm pool");
    };
    assert_eq!(
        (
            b.fs_type,
            b.zero_new_volumes,
            b.overprovision_ratio,
            b.command_timeout,
            &b.lvm_config
        ),
        (FsType::Ext4, true, 1.0, Duration::from_secs(120), &None)
    );
}

#[test]
fn traversal_and_relative_paths_are_rejected_at_parse_time() {
    let chain = error_chain(
        "stateDir: /var/lib/berth\nclasses:\n  a:\n    hostPath:\n      basePaths: [/mnt/../etc]\n",
    );
    assert!(
        chain.contains("must not contain \"..\" components"),
        "{chain}"
    );
    let chain = error_chain("stateDir: var/lib\nclasses: {}\n");
    assert!(chain.contains("must be absolute"), "{chain}");
}

#[test]
fn unknown_fields_are_rejected() {
    let chain = error_chain(
        "stateDir: /var/lib/berth\nclasses:\n  a:\n    hostPath:\n      basePaths: [/mnt/a]\n      pathPattern: x\n",
    );
    assert!(chain.contains("unknown field `pathPattern`"), "{chain}");
    let chain = error_chain("stateDir: /var/lib/berth\nclasses:\n  a:\n    nfs: {}\n");
    assert!(chain.contains("unknown field `nfs`"), "{chain}");
    assert_eq!(
        error_of("stateDir: /s\nclasses:\n  a: {}\n"),
        "invalid agent config: classes.a: set exactly one of hostPath or lvm"
    );
}

#[test]
fn semantic_errors_name_the_field() {
    let cases = [
        (
            "stateDir: /s\nclasses: {}\n",
            "invalid agent config: classes: at least one class must be configured",
        ),
        (
            "stateDir: /s\nclasses:\n  a:\n    hostPath:\n      basePaths: []\n",
            "invalid agent config: classes.a.hostPath.basePaths: at least one base path is required",
        ),
        (
            "stateDir: /s\nclasses:\n  a:\n    hostPath:\n      basePaths: [/m]\n      dirMode: \"999\"\n",
            "invalid agent config: classes.a.hostPath.dirMode: \"999\" is not an octal mode like \"0777\"",
        ),
        (
            "stateDir: /s\nclasses:\n  a:\n    hostPath:\n      basePaths: [/m]\n      projectIds: {first: 5, last: 4}\n",
            "invalid agent config: classes.a.hostPath.projectIds: need 1 <= first <= last, got 5..=4",
        ),
        (
            "stateDir: /s\nclasses:\n  a:\n    hostPath:\n      basePaths: [/m]\n      reserve: 1Qi\n",
            "invalid agent config: classes.a.hostPath.reserve: invalid quantity \"1Qi\": unexpected character 'Q' at byte 1",
        ),
        (
            "stateDir: /s\nclasses:\n  a:\n    lvm:\n      volumeGroup: vg\n      mountRoot: /m\n      overprovisionRatio: 2\n",
            "invalid agent config: classes.a.lvm.overprovisionRatio: only meaningful with thinPool",
        ),
        (
            "stateDir: /s\nclasses:\n  a:\n    lvm:\n      volumeGroup: vg\n      thinPool: tp\n      mountRoot: /m\n      overprovisionRatio: 0.5\n",
            "invalid agent config: classes.a.lvm.overprovisionRatio: must be a number >= 1.0, got 0.5",
        ),
        (
            "stateDir: /s\nclasses:\n  a:\n    lvm:\n      volumeGroup: vg\n      mountRoot: /m\n      commandTimeoutSeconds: 0\n",
            "invalid agent config: classes.a.lvm.commandTimeoutSeconds: must be between 1 and 3600, got 0",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error_of(text), expected, "{text}");
    }
}

#[test]
fn overlapping_paths_are_rejected() {
    let nested = "stateDir: /s\nclasses:\n  a:\n    hostPath:\n      basePaths: [/mnt/disk]\n  b:\n    hostPath:\n      basePaths: [/mnt/disk/sub]\n";
    assert_eq!(
        error_of(nested),
        "invalid agent config: classes.b.hostPath.basePaths[0]: /mnt/disk/sub overlaps /mnt/disk \
         (classes.a.hostPath.basePaths[0]); base paths must be disjoint"
    );
    let repeated =
        "stateDir: /s\nclasses:\n  a:\n    hostPath:\n      basePaths: [/mnt/disk, /mnt/disk]\n";
    assert!(error_of(repeated).contains("basePaths[1]: /mnt/disk overlaps /mnt/disk"));
    let state =
        "stateDir: /mnt/disk/state\nclasses:\n  a:\n    hostPath:\n      basePaths: [/mnt/disk]\n";
    assert!(error_of(state).contains("overlaps /mnt/disk/state (stateDir)"));
    // Two LVM pools may share a mount root: volume names are unique.
    let shared = "stateDir: /s\nclasses:\n  a:\n    lvm: {volumeGroup: vg, mountRoot: /m}\n  b:\n    lvm: {volumeGroup: vg, mountRoot: /m}\n";
    assert!(AgentConfig::parse_yaml(shared).is_ok());
}
