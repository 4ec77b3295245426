//! Tests of the validated names and paths.
use super::*;

#[test]
fn volume_names_accept_only_the_pvc_uid_shape() {
    let ok = [
        "pvc-0f8e3f7a-1d2c-4b5a-9e8f-7a6b5c4d3e2f",
        "pvc-1",
        "pvc-a-b",
    ];
    for input in ok {
        assert_eq!(
            input.parse::<VolumeName>().map(|v| v.to_string()),
            Ok(input.to_owned()),
            "{input}"
        );
    }
    let bad = [
        ("", "must start with \"pvc-\""),
        ("data-0", "must start with \"pvc-\""),
        ("pvc-", "empty uid after \"pvc-\""),
        (
            "pvc-../etc",
            "uid may hold only lower-case letters, digits and dashes",
        ),
        (
            "pvc-a/b",
            "uid may hold only lower-case letters, digits and dashes",
        ),
        (
            "pvc-..",
            "uid may hold only lower-case letters, digits and dashes",
        ),
        (
            "pvc-A",
            "uid may hold only lower-case letters, digits and dashes",
        ),
        (
            "pvc-a\0",
            "uid may hold only lower-case letters, digits and dashes",
        ),
        ("pvc--a", "uid must start and end with a letter or digit"),
        ("pvc-a-", "uid must start and end with a letter or digit"),
    ];
    for (input, reason) in bad {
        assert_eq!(
            input.parse::<VolumeName>(),
            Err(Error::ParseVolumeName {
                input: input.to_owned(),
                reason
            }),
            "{input:?}"
        );
    }
    let long = format!("pvc-{}", "a".repeat(64));
    assert!(long.parse::<VolumeName>().is_err());
}

#[test]
fn volume_name_for_claim_uid() {
    assert_eq!(
        VolumeName::for_claim_uid("1234-abcd").map(|v| v.to_string()),
        Ok("pvc-1234-abcd".to_owned())
    );
    assert!(VolumeName::for_claim_uid("../../x").is_err());
}

#[test]
fn base_paths_must_be_absolute_and_normalized() {
    assert_eq!(
        "/mnt/disk1"
            .parse::<BasePath>()
            .map(|p| p.as_path().to_owned()),
        Ok(PathBuf::from("/mnt/disk1"))
    );
    let bad = [
        ("mnt/disk1", "must be absolute"),
        ("", "must be absolute"),
        ("/", "must not be the root directory"),
        ("/mnt/../etc", "must not contain \"..\" components"),
        (
            "/mnt/disk1/",
            "must be normalized (no repeated or trailing slash)",
        ),
        (
            "/mnt//disk1",
            "must be normalized (no repeated or trailing slash)",
        ),
        (
            "/mnt/./disk1",
            "must be normalized (no repeated or trailing slash)",
        ),
        ("/mnt/\0", "must not contain NUL"),
    ];
    for (input, reason) in bad {
        assert_eq!(
            input.parse::<BasePath>(),
            Err(Error::ParseBasePath {
                input: input.to_owned(),
                reason
            }),
            "{input:?}"
        );
    }
}

#[test]
fn base_path_join_and_containment() {
    let base: BasePath = "/mnt/disk1".parse().unwrap();
    let volume: VolumeName = "pvc-1".parse().unwrap();
    assert_eq!(base.join_volume(&volume), PathBuf::from("/mnt/disk1/pvc-1"));
    let inner: BasePath = "/mnt/disk1/sub".parse().unwrap();
    let sibling: BasePath = "/mnt/disk10".parse().unwrap();
    assert!(base.contains(&inner));
    assert!(base.contains(&base));
    assert!(!base.contains(&sibling));
    assert!(!inner.contains(&base));
}

#[test]
fn lvm_names_follow_lvm2_rules() {
    assert!("vg0".parse::<VgName>().is_ok());
    assert!("vg_data-1.x+y".parse::<VgName>().is_ok());
    for bad in ["", ".", "..", "-vg", "vg/0", "vg 0", "vg\n"] {
        assert!(bad.parse::<VgName>().is_err(), "{bad:?}");
    }
    assert!("pool0".parse::<LvName>().is_ok());
    for bad in [
        "snapshot1",
        "pvmove0",
        "pool_tdata",
        "x_rimage_1",
        "a/b",
        "-x",
    ] {
        assert!(bad.parse::<LvName>().is_err(), "{bad:?}");
    }
    let volume: VolumeName = "pvc-0f8e3f7a-1d2c".parse().unwrap();
    assert_eq!(
        LvName::for_volume(&volume).as_str().parse::<LvName>(),
        Ok(LvName::for_volume(&volume))
    );
}

#[test]
fn class_names_are_dns_subdomains() {
    for ok in ["local", "local-fast", "a.b-c", "x"] {
        assert!(ok.parse::<ClassName>().is_ok(), "{ok}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "a/b", ".a", "-"] {
        assert!(bad.parse::<ClassName>().is_err(), "{bad:?}");
    }
}

#[test]
fn names_deserialize_through_validation() {
    let ok: VolumeName = serde_json::from_str("\"pvc-1\"").unwrap();
    assert_eq!(ok.as_str(), "pvc-1");
    let err = serde_json::from_str::<VolumeName>("\"../x\"").unwrap_err();
    assert!(err.to_string().contains("must start with"), "{err}");
    assert_eq!(serde_json::to_string(&ok).unwrap(), "\"pvc-1\"");
}
