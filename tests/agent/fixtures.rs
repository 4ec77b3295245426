//! Loop-device fixtures for the agent's disk tests: sparse files attached with losetup, filesystems,
//! mounts and volume groups on them, all torn down in `Drop`.
//!
//! These tests need root, loop devices and the tools listed in `require_tool`. When something is missing
//! they FAIL with the reason; they never skip.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use berth::agent::names::{BasePath, VgName};

/// Runs a setup command and returns its stdout; panics with the command, its stderr and the kernel's
/// messages about the devices involved (they say why a mount failed, e.g. no quota support).
pub fn run(program: &str, args: &[&str]) -> String {
    // Test fixtures only: the product code goes through berth::agent::exec.
    #[allow(clippy::disallowed_methods)]
    let output = std::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}): {}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr),
        kernel_hint(args),
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The last kernel messages naming a device among `args`.
fn kernel_hint(args: &[&str]) -> String {
    let devices: Vec<&str> = args
        .iter()
        .filter_map(|arg| arg.strip_prefix("/dev/"))
        .collect();
    if devices.is_empty() {
        return String::new();
    }
    #[allow(clippy::disallowed_methods)]
    let Ok(dmesg) = std::process::Command::new("dmesg").output() else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&dmesg.stdout);
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|line| devices.iter().any(|d| line.contains(&format!("({d})"))))
        .collect();
    let keep = lines.len().saturating_sub(2);
    lines.drain(..keep);
    format!("\nkernel says:\n{}", lines.join("\n"))
}

/// Fails the test unless it runs as root (CI does).
pub fn require_root() {
    let euid = nix::unistd::geteuid();
    assert!(
        euid.is_root(),
        "this test needs root for loop devices and mounts (CI runs as root); running as uid {euid}"
    );
    assert!(
        Path::new("/dev/loop-control").exists(),
        "this test needs loop devices: /dev/loop-control is missing"
    );
}

/// Whether the run explicitly opted out of tests that need `feature` of the kernel or sandbox, through
/// `BERTH_TEST_WITHOUT=feature[,feature...]` (`.ci/run` sets it only after probing that the machine lacks the
/// feature). Prints a loud NOT TESTED line, so an opted-out check never passes silently. Without the opt-out
/// the caller goes on and fails with the kernel's own reason.
pub fn opted_out(feature: &str, what: &str) -> bool {
    let opted = std::env::var("BERTH_TEST_WITHOUT")
        .unwrap_or_default()
        .split(',')
        .any(|item| item.trim() == feature);
    if opted {
        eprintln!("NOT TESTED on this machine (BERTH_TEST_WITHOUT={feature}): {what}");
    }
    opted
}

/// Fails the test unless this process has `CAP_SYS_RESOURCE` (ext4 online resize needs it; CI's root
/// has it, some sandboxes drop it).
pub fn require_cap_sys_resource(why: &str) {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("CapEff in /proc/self/status");
    assert!(
        effective & (1 << 24) != 0,
        "{why} needs CAP_SYS_RESOURCE, which this root process lacks (CapEff={effective:#x})"
    );
}

/// Writes `mib` MiB of zeros to `path` as uid/gid 65534 (nobody), synced, the way an unprivileged pod
/// writes: root with CAP_SYS_RESOURCE is exempt from ext4 quota limits. Returns dd's stderr on failure.
pub fn write_as_nobody(path: &Path, mib: u64) -> Result<(), String> {
    #[allow(clippy::disallowed_methods)]
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "dd",
            "if=/dev/zero",
        ])
        .arg(format!("of={}", path.display()))
        .args([
            "bs=1M",
            &format!("count={mib}"),
            "conv=fsync",
            "status=none",
        ])
        .env("LC_ALL", "C")
        .output()
        .expect("run setpriv (util-linux) and dd (coreutils)");
    match output.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

/// A sparse file attached to a loop device; detached on drop.
pub struct LoopDevice {
    _dir: tempfile::TempDir,
    file: PathBuf,
    device: PathBuf,
}

impl LoopDevice {
    pub fn new(size_mib: u64) -> LoopDevice {
        require_root();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("disk.img");
        let handle = std::fs::File::create(&file).expect("create backing file");
        handle.set_len(size_mib << 20).expect("size backing file");
        let device = run(
            "losetup",
            &["--find", "--show", file.to_str().expect("utf-8 path")],
        );
        LoopDevice {
            _dir: dir,
            file,
            device: PathBuf::from(device.trim()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.device
    }

    pub fn path_str(&self) -> &str {
        self.device.to_str().expect("utf-8 device path")
    }

    /// Enlarges the backing file and tells the loop driver (for filesystem grow tests).
    pub fn grow(&self, size_mib: u64) {
        let handle = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.file)
            .expect("open backing file");
        handle.set_len(size_mib << 20).expect("grow backing file");
        run("losetup", &["--set-capacity", self.path_str()]);
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        #[allow(clippy::disallowed_methods)]
        let _ = std::process::Command::new("losetup")
            .args(["-d", self.path_str()])
            .status();
    }
}

/// Which filesystem a [`Mounted`] fixture carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fs {
    /// ext4 with the quota and project features, mounted with prjquota.
    Ext4Quota,
    /// XFS mounted with pquota.
    XfsQuota,
    /// Plain ext4, no quota features.
    Ext4Plain,
    /// Plain XFS, no quota mount option.
    XfsPlain,
}

/// A loop device with a fresh filesystem, mounted on a temporary directory; unmounted on drop.
pub struct Mounted {
    // `Drop::drop` unmounts first; then the fields drop in order: loop detached, mount point removed.
    _device: LoopDevice,
    mount_dir: tempfile::TempDir,
}

impl Mounted {
    /// A filesystem of `size_mib` MiB (XFS needs at least 300 MiB; the file is sparse).
    pub fn new(fs: Fs, size_mib: u64) -> Mounted {
        let device = LoopDevice::new(size_mib);
        match fs {
            Fs::Ext4Quota => run(
                "mkfs.ext4",
                &["-q", "-O", "quota,project", device.path_str()],
            ),
            Fs::Ext4Plain => run("mkfs.ext4", &["-q", device.path_str()]),
            Fs::XfsQuota | Fs::XfsPlain => run("mkfs.xfs", &["-q", "-f", device.path_str()]),
        };
        let mount_dir = tempfile::tempdir().expect("tempdir");
        let target = mount_dir.path().to_str().expect("utf-8 path").to_owned();
        let options = match fs {
            Fs::Ext4Quota => "prjquota",
            Fs::XfsQuota => "pquota",
            Fs::Ext4Plain | Fs::XfsPlain => "defaults",
        };
        run("mount", &["-o", options, device.path_str(), &target]);
        Mounted {
            _device: device,
            mount_dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.mount_dir.path()
    }

    pub fn base_path(&self) -> BasePath {
        base_path(self.path())
    }

    /// Unmounts now (to simulate a disk that went away); Drop then has nothing to do.
    pub fn unmount(&self) {
        run("umount", &[self.path().to_str().expect("utf-8 path")]);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        #[allow(clippy::disallowed_methods)]
        let _ = std::process::Command::new("umount")
            .args(["-l", self.path().to_str().unwrap_or("/nonexistent")])
            .status();
    }
}

/// Lazily unmounts a path when dropped, so a failing test leaves no mount behind.
pub struct UnmountOnDrop(pub PathBuf);

impl Drop for UnmountOnDrop {
    fn drop(&mut self) {
        #[allow(clippy::disallowed_methods)]
        let _ = std::process::Command::new("umount")
            .args(["-l", self.0.to_str().unwrap_or("/nonexistent")])
            .output();
    }
}

/// A temporary path as a validated base path.
pub fn base_path(path: &Path) -> BasePath {
    path.to_str()
        .expect("utf-8 path")
        .parse()
        .expect("temporary directories are valid base paths")
}

static VG_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A volume group on a loop device, used with lvm2's `activation=0` (this kernel may have no
/// device-mapper): metadata operations run for real, no device nodes appear. Removed on drop.
pub struct VolumeGroup {
    pub name: VgName,
    /// The `--config` string every command must get: no activation, only this device scanned, no
    /// metadata backups written to the host's /etc/lvm.
    pub config: String,
    device: LoopDevice,
}

impl VolumeGroup {
    pub fn new(size_mib: u64) -> VolumeGroup {
        let device = LoopDevice::new(size_mib);
        let name: VgName = format!(
            "berthtest{}x{}",
            std::process::id(),
            VG_COUNTER.fetch_add(1, Ordering::SeqCst)
        )
        .parse()
        .expect("valid vg name");
        let config = format!(
            "global{{activation=0}} devices{{filter=[\"a|^{}$|\",\"r|.*|\"]}} backup{{backup=0 archive=0}}",
            device.path_str()
        );
        run("pvcreate", &["--config", &config, device.path_str()]);
        run(
            "vgcreate",
            &["--config", &config, name.as_str(), device.path_str()],
        );
        VolumeGroup {
            name,
            config,
            device,
        }
    }

    /// Creates an LV without Berth's tags (someone else's volume).
    pub fn create_foreign_lv(&self, lv: &str, size_mib: u64) {
        let size = format!("{size_mib}m");
        run(
            "lvcreate",
            &[
                "--config",
                &self.config,
                "--yes",
                "-Zn",
                "-Wn",
                "-n",
                lv,
                "-L",
                &size,
                self.name.as_str(),
            ],
        );
    }

    /// Names of all LVs in the group, from lvm2 itself (independent of the code under test).
    pub fn lv_names(&self) -> Vec<String> {
        let out = run(
            "lvs",
            &[
                "--config",
                &self.config,
                "--noheadings",
                "-o",
                "lv_name",
                self.name.as_str(),
            ],
        );
        let mut names: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
        names.sort();
        names
    }
}

impl Drop for VolumeGroup {
    fn drop(&mut self) {
        for (program, args) in [
            (
                "vgremove",
                vec!["--config", &self.config, "-ff", self.name.as_str()],
            ),
            (
                "pvremove",
                vec![
                    "--config",
                    &self.config,
                    "-ff",
                    "-y",
                    self.device.path_str(),
                ],
            ),
        ] {
            #[allow(clippy::disallowed_methods)]
            let _ = std::process::Command::new(program)
                .args(&args)
                .env("LVM_SUPPRESS_FD_WARNINGS", "1")
                .output();
        }
    }
}
