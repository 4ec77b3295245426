//! Tests of the node-disk side of volumes: node paths, type checks, pod directories.

use super::*;

fn volume(name: &str, backing: Backing) -> PodVolume {
    PodVolume {
        name: name.into(),
        backing,
    }
}

fn host_path(path: &str, kind: &str) -> Backing {
    Backing::HostPath {
        path: path.into(),
        kind: kind.into(),
    }
}

fn prepare_one_volume(root: &Path, backing: Backing) -> Result<PreparedVolume, String> {
    prepare(root, &root.join("pod"), &[volume("v", backing)]).map(|mut v| v.remove(0))
}

#[test]
fn node_paths_resolve_under_the_node_root() {
    let root = Path::new("/sim/node-1");
    assert_eq!(
        node_path(root, "/mnt/disks/a").unwrap(),
        PathBuf::from("/sim/node-1/mnt/disks/a")
    );
    assert_eq!(node_path(root, "/").unwrap(), PathBuf::from("/sim/node-1"));
    assert_eq!(
        node_path(Path::new("/"), "/mnt/x").unwrap(),
        PathBuf::from("/mnt/x")
    );
    assert!(
        node_path(root, "/mnt/../../etc")
            .unwrap_err()
            .contains("'..'")
    );
    assert!(node_path(root, "mnt/x").unwrap_err().contains("absolute"));
}

#[test]
fn local_volume_needs_an_existing_directory() {
    let root = tempfile::tempdir().unwrap();
    let local = || Backing::Local {
        pv: "pv1".into(),
        path: "/mnt/disks/a".into(),
        block: false,
    };
    assert_eq!(
        prepare_one_volume(root.path(), local()).unwrap_err(),
        "MountVolume.NewMounter initialization failed for volume \"pv1\" : path \"/mnt/disks/a\" does not exist"
    );
    std::fs::create_dir_all(root.path().join("mnt/disks/a")).unwrap();
    let prepared = prepare_one_volume(root.path(), local()).unwrap();
    assert_eq!(prepared.host_path, root.path().join("mnt/disks/a"));
    assert!(!prepared.block);
}

#[test]
fn local_block_volume_needs_a_file_or_device() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("dev")).unwrap();
    std::fs::write(root.path().join("dev/lv0"), "").unwrap();
    let block = |path: &str| Backing::Local {
        pv: "pv1".into(),
        path: path.into(),
        block: true,
    };
    assert!(
        prepare_one_volume(root.path(), block("/dev/lv0"))
            .unwrap()
            .block
    );
    assert!(
        prepare_one_volume(root.path(), block("/dev"))
            .unwrap_err()
            .contains("is not a block device or file")
    );
}

#[test]
fn host_path_types() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("d")).unwrap();
    std::fs::write(r.join("f"), "").unwrap();
    let ok = |path: &str, kind: &str| prepare_one_volume(r, host_path(path, kind)).is_ok();
    let err = |path: &str, kind: &str| prepare_one_volume(r, host_path(path, kind)).unwrap_err();
    assert!(ok("/d", ""));
    assert!(err("/missing", "").ends_with("hostPath \"/missing\": does not exist"));
    assert!(ok("/d", "Directory"));
    assert!(err("/f", "Directory").ends_with("hostPath type check failed: is not a directory"));
    assert!(err("/missing", "Directory").ends_with("does not exist"));
    assert!(ok("/new/dir", "DirectoryOrCreate"));
    let mode = std::fs::metadata(r.join("new/dir"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o755);
    assert!(ok("/f", "File"));
    assert!(err("/d", "File").ends_with("is not a file"));
    assert!(ok("/made/file", "FileOrCreate"));
    assert!(r.join("made/file").is_file());
    assert!(err("/d", "Socket").ends_with("is not a socket"));
    assert!(err("/d", "CharDevice").ends_with("is not a character device"));
    assert!(err("/d", "BlockDevice").ends_with("is not a block device"));
    assert!(err("/d", "Weird").contains("unknown hostPath type"));
    assert_eq!(
        err("/x/../y", "Directory"),
        "MountVolume.SetUp failed for volume \"v\" : path \"/x/../y\" must not contain '..'"
    );
}

#[test]
fn pod_owned_volumes_live_in_the_pod_directory() {
    let root = tempfile::tempdir().unwrap();
    let pod = pod_dir(root.path(), "uid-1");
    let prepared = prepare(
        root.path(),
        &pod,
        &[
            volume("cache", Backing::EmptyDir),
            volume("cfg", Backing::Placeholder { kind: "configmap" }),
        ],
    )
    .unwrap();
    assert_eq!(
        prepared[0].host_path,
        pod.join("volumes/kubernetes.io~empty-dir/cache")
    );
    assert_eq!(
        prepared[1].host_path,
        pod.join("volumes/kubernetes.io~configmap/cfg")
    );
    assert!(prepared.iter().all(|v| v.host_path.is_dir()));
    remove_pod_dir(&pod).unwrap();
    assert!(!pod.exists());
    remove_pod_dir(&pod).unwrap();
}

#[test]
fn mount_points_beneath_a_directory_are_found() {
    let mountinfo = "27 1 254:0 / / rw - ext4 /dev/vda rw\n\
                     90 27 0:50 / /sim/n1/var/lib/kubelet/pods/u1/x rw - tmpfs tmpfs rw\n\
                     91 27 0:51 / /sim/n1/var/lib/kubelet/pods/u10 rw - tmpfs tmpfs rw\n";
    assert_eq!(
        mounts_beneath(mountinfo, Path::new("/sim/n1/var/lib/kubelet/pods/u1")),
        ["/sim/n1/var/lib/kubelet/pods/u1/x"]
    );
}

#[test]
fn layout_paths() {
    let root = Path::new("/sim/n1");
    assert_eq!(
        pod_dir(root, "u1"),
        PathBuf::from("/sim/n1/var/lib/kubelet/pods/u1")
    );
    assert_eq!(
        rootfs_dir(&pod_dir(root, "u1"), "app"),
        PathBuf::from("/sim/n1/var/lib/kubelet/pods/u1/containers/app/rootfs")
    );
    assert_eq!(
        log_file(root, ("ns", "web-0", "u1"), "app", 2),
        PathBuf::from("/sim/n1/var/log/pods/ns_web-0_u1/app/2.log")
    );
}
