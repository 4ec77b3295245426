//! lvm2 command lines, built as pure functions so every flag is unit-tested.
use std::time::Duration;

use super::super::exec::Command;
use super::super::names::{LvName, VgName};
use super::report::{LV_COLUMNS, VG_COLUMNS};

/// Settings every lvm2 command of a pool shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvmSettings {
    /// Passed as `--config` to every command (e.g. `global{activation=0}`, a device filter).
    pub config: Option<String>,
    pub timeout: Duration,
}

/// What a new logical volume looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLv {
    pub vg: VgName,
    pub name: LvName,
    pub size_bytes: u64,
    /// Thin volume in this pool; `None` for a linear volume.
    pub thin_pool: Option<LvName>,
    pub tags: Vec<String>,
    /// Linear volumes only: zero the start and wipe signatures (needs activation).
    pub zero: bool,
}

impl LvmSettings {
    /// `tool` with the shared `--config` and timeout.
    fn base(&self, tool: &str) -> Command {
        let command = Command::new(tool).timeout(self.timeout);
        match &self.config {
            Some(config) => command.args(["--config", config.as_str()]),
            None => command,
        }
    }

    /// A report command with machine-readable output: JSON, sizes in bytes without unit suffix.
    fn report(&self, tool: &str, columns: &str) -> Command {
        self.base(tool).args([
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            columns,
        ])
    }

    /// `lvs` of every LV in `vg`.
    pub fn lvs(&self, vg: &VgName) -> Command {
        self.report("lvs", LV_COLUMNS).arg(vg.as_str())
    }

    /// `vgs` of `vg`.
    pub fn vgs(&self, vg: &VgName) -> Command {
        self.report("vgs", VG_COLUMNS).arg(vg.as_str())
    }

    /// `lvcreate` for `lv`. `--yes` answers lvm's prompts (there is no terminal); thin volumes take no
    /// `--zero` (lvm2 rejects it: the pool decides zeroing).
    pub fn lvcreate(&self, lv: &NewLv) -> Command {
        let mut command = self
            .base("lvcreate")
            .args(["--yes", "--name", lv.name.as_str()]);
        command = match &lv.thin_pool {
            Some(pool) => command.args([
                "--virtualsize".to_owned(),
                format!("{}b", lv.size_bytes),
                "--thinpool".to_owned(),
                format!("{}/{}", lv.vg, pool),
            ]),
            None => {
                let zero = if lv.zero { "y" } else { "n" };
                command.args([
                    "--size".to_owned(),
                    format!("{}b", lv.size_bytes),
                    "--zero".to_owned(),
                    zero.to_owned(),
                    "--wipesignatures".to_owned(),
                    zero.to_owned(),
                ])
            }
        };
        for tag in &lv.tags {
            command = command.args(["--addtag", tag.as_str()]);
        }
        match &lv.thin_pool {
            Some(_) => command,
            None => command.arg(lv.vg.as_str()),
        }
    }

    /// `lvextend` of `vg/lv` to `size_bytes` (lvm2 rounds up to whole extents).
    pub fn lvextend(&self, vg: &VgName, lv: &str, size_bytes: u64) -> Command {
        self.base("lvextend")
            .args(["--size".to_owned(), format!("{size_bytes}b")])
            .arg(format!("{vg}/{lv}"))
    }

    /// `lvremove` of `vg/lv`, without prompting.
    pub fn lvremove(&self, vg: &VgName, lv: &str) -> Command {
        self.base("lvremove").arg("--yes").arg(format!("{vg}/{lv}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(config: Option<&str>) -> LvmSettings {
        LvmSettings {
            config: config.map(str::to_owned),
            timeout: Duration::from_secs(5),
        }
    }

    fn new_lv(thin_pool: Option<&str>, zero: bool) -> NewLv {
        NewLv {
            vg: "vg0".parse().unwrap(),
            name: "pvc-1".parse().unwrap(),
            size_bytes: 1 << 30,
            thin_pool: thin_pool.map(|p| p.parse().unwrap()),
            tags: vec![
                "berth.dev/managed".to_owned(),
                "berth.dev/pv=pvc-1".to_owned(),
            ],
            zero,
        }
    }

    #[test]
    fn every_command_carries_the_extra_config() {
        let s = settings(Some("global{activation=0}"));
        let vg: VgName = "vg0".parse().unwrap();
        for command in [
            s.lvs(&vg),
            s.vgs(&vg),
            s.lvcreate(&new_lv(None, true)),
            s.lvextend(&vg, "pvc-1", 1),
            s.lvremove(&vg, "pvc-1"),
        ] {
            let argv = command.argv();
            assert_eq!(
                &argv.as_slice()[1..3],
                ["--config", "global{activation=0}"],
                "{argv}"
            );
            assert_eq!(command.get_timeout(), Duration::from_secs(5));
        }
    }

    #[test]
    fn reports_ask_for_json_in_bytes() {
        let vg: VgName = "vg0".parse().unwrap();
        assert_eq!(
            settings(None).lvs(&vg).argv().to_string(),
            "lvs --reportformat json --units b --nosuffix -o \
             lv_name,vg_name,lv_size,lv_tags,lv_attr,lv_path,pool_lv vg0"
        );
        assert_eq!(
            settings(None).vgs(&vg).argv().to_string(),
            "vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free,vg_extent_size vg0"
        );
    }

    #[test]
    fn linear_and_thin_lvcreate() {
        assert_eq!(
            settings(None)
                .lvcreate(&new_lv(None, false))
                .argv()
                .to_string(),
            "lvcreate --yes --name pvc-1 --size 1073741824b --zero n --wipesignatures n \
             --addtag berth.dev/managed --addtag berth.dev/pv=pvc-1 vg0"
        );
        assert_eq!(
            settings(None)
                .lvcreate(&new_lv(None, true))
                .argv()
                .to_string(),
            "lvcreate --yes --name pvc-1 --size 1073741824b --zero y --wipesignatures y \
             --addtag berth.dev/managed --addtag berth.dev/pv=pvc-1 vg0"
        );
        assert_eq!(
            settings(None)
                .lvcreate(&new_lv(Some("pool0"), false))
                .argv()
                .to_string(),
            "lvcreate --yes --name pvc-1 --virtualsize 1073741824b --thinpool vg0/pool0 \
             --addtag berth.dev/managed --addtag berth.dev/pv=pvc-1"
        );
    }

    #[test]
    fn extend_and_remove() {
        let vg: VgName = "vg0".parse().unwrap();
        assert_eq!(
            settings(None)
                .lvextend(&vg, "pvc-1", 2 << 30)
                .argv()
                .to_string(),
            "lvextend --size 2147483648b vg0/pvc-1"
        );
        assert_eq!(
            settings(None).lvremove(&vg, "pvc-1").argv().to_string(),
            "lvremove --yes vg0/pvc-1"
        );
    }
}
