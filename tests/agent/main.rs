//! Disk tests of the node agent on real loop devices: hostPath volumes with project quota, hostile paths,
//! LVM on a loop-device volume group (`activation=0`), mkfs/mount/grow.
//!
//! They need root, loop devices and the tools of e2fsprogs, xfsprogs, lvm2, util-linux and mount. When
//! something is missing they fail with the reason; they never skip.
mod fixtures;
mod hostile;
mod hostpath;
mod lvm;
mod mount;
