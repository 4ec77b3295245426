//! The audited home of the agent's raw syscalls: project-quota ioctls and quotactl, and statx mount checks.
//!
//! Each function is a thin, typed wrapper around one syscall; every `unsafe` block says why it is sound.
//! Callers get `nix::Result` and decide what an errno means.
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// `struct fsxattr` from `<linux/fs.h>`: the inode flags and project id of a file.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FsXattr {
    pub xflags: u32,
    pub extsize: u32,
    pub nextents: u32,
    pub projid: u32,
    pub cowextsize: u32,
    pub pad: [u8; 8],
}

/// `FS_XFLAG_PROJINHERIT`: new files and directories inherit the directory's project id.
pub const XFLAG_PROJINHERIT: u32 = 0x0000_0200;

nix::ioctl_read!(fs_ioc_fsgetxattr, b'X', 31, FsXattr);
nix::ioctl_write_ptr!(fs_ioc_fssetxattr, b'X', 32, FsXattr);

/// Reads the flags and project id of the file behind `fd` (`FS_IOC_FSGETXATTR`).
pub fn get_fsxattr(fd: BorrowedFd<'_>) -> nix::Result<FsXattr> {
    let mut attr = FsXattr::default();
    // SAFETY: `fd` is a live descriptor for the duration of the call and `attr` is a properly sized,
    // writable `struct fsxattr` the kernel fills in.
    unsafe { fs_ioc_fsgetxattr(fd.as_raw_fd(), &mut attr) }?;
    Ok(attr)
}

/// Writes the flags and project id of the file behind `fd` (`FS_IOC_FSSETXATTR`).
pub fn set_fsxattr(fd: BorrowedFd<'_>, attr: &FsXattr) -> nix::Result<()> {
    // SAFETY: `fd` is live and `attr` points to a valid `struct fsxattr` the kernel only reads.
    unsafe { fs_ioc_fssetxattr(fd.as_raw_fd(), attr) }?;
    Ok(())
}

/// `PRJQUOTA` from `<linux/quota.h>`.
const PRJQUOTA: libc::c_int = 2;
/// `Q_XGETQSTATV` = `XQM_CMD(8)`: the versioned quota state, understood by ext4 and XFS alike.
const Q_XGETQSTATV: libc::c_int = (('X' as libc::c_int) << 8) + 8;
/// `FS_QSTATV_VERSION1`.
const FS_QSTATV_VERSION1: i8 = 1;
/// `FS_QUOTA_PDQ_ACCT`: project quota accounting is on.
pub const QUOTA_PDQ_ACCT: u16 = 0x0010;
/// `FS_QUOTA_PDQ_ENFD`: project quota limits are enforced.
pub const QUOTA_PDQ_ENFD: u16 = 0x0020;
/// Quota block limits are counted in units of `QIF_DQBLKSIZE` bytes.
pub const QUOTA_BLOCK_SIZE: u64 = 1024;

/// `struct fs_qfilestatv`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsQfilestatv {
    ino: u64,
    nblks: u64,
    nextents: u32,
    pad: u32,
}

/// `struct fs_quota_statv`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsQuotaStatv {
    version: i8,
    pad1: u8,
    flags: u16,
    incoredqs: u32,
    uquota: FsQfilestatv,
    gquota: FsQfilestatv,
    pquota: FsQfilestatv,
    btimelimit: i32,
    itimelimit: i32,
    rtbtimelimit: i32,
    bwarnlimit: u16,
    iwarnlimit: u16,
    rtbwarnlimit: u16,
    pad3: u16,
    pad4: u32,
    pad2: [u64; 7],
}

/// `quotactl_fd(2)` (Linux 5.14+): quota commands addressed by any descriptor on the filesystem, so the
/// agent never needs the block device path (which differs between mount namespaces).
///
/// # Safety
/// `addr` must be null or point to memory of the type and size the command `cmd` expects.
unsafe fn quotactl_fd(
    fd: BorrowedFd<'_>,
    cmd: libc::c_int,
    id: u32,
    addr: *mut libc::c_void,
) -> nix::Result<()> {
    // SAFETY: forwarded contract: `addr` matches `cmd` (see the function's safety section), and `fd` is
    // live for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_quotactl_fd,
            fd.as_raw_fd(),
            cmd as libc::c_ulong,
            libc::c_ulong::from(id),
            addr,
        )
    };
    Errno::result(ret).map(drop)
}

/// The project quota flags of the filesystem behind `fd` ([`QUOTA_PDQ_ACCT`], [`QUOTA_PDQ_ENFD`]).
pub fn project_quota_flags(fd: BorrowedFd<'_>) -> nix::Result<u16> {
    let mut stat = FsQuotaStatv {
        version: FS_QSTATV_VERSION1,
        ..FsQuotaStatv::default()
    };
    let cmd = libc::QCMD(Q_XGETQSTATV, PRJQUOTA);
    // SAFETY: Q_XGETQSTATV reads and writes a `struct fs_quota_statv`; `stat` is one, with the version set
    // as the kernel requires.
    unsafe { quotactl_fd(fd, cmd, 0, (&raw mut stat).cast()) }?;
    Ok(stat.flags)
}

/// The project quota record of `project` (`Q_GETQUOTA`): limits in [`QUOTA_BLOCK_SIZE`] units, usage
/// in bytes.
pub fn get_project_quota(fd: BorrowedFd<'_>, project: u32) -> nix::Result<libc::dqblk> {
    // SAFETY: `dqblk` is plain old data; all-zero is a valid value.
    let mut record: libc::dqblk = unsafe { std::mem::zeroed() };
    let cmd = libc::QCMD(libc::Q_GETQUOTA, PRJQUOTA);
    // SAFETY: Q_GETQUOTA writes one `struct if_dqblk`, which `libc::dqblk` mirrors.
    unsafe { quotactl_fd(fd, cmd, project, (&raw mut record).cast()) }?;
    Ok(record)
}

/// Sets the block hard and soft limits of `project` to `blocks` units of [`QUOTA_BLOCK_SIZE`]
/// (`Q_SETQUOTA` with `QIF_BLIMITS`); 0 means no limit.
pub fn set_project_block_limit(fd: BorrowedFd<'_>, project: u32, blocks: u64) -> nix::Result<()> {
    // SAFETY: `dqblk` is plain old data; all-zero is a valid value.
    let mut record: libc::dqblk = unsafe { std::mem::zeroed() };
    record.dqb_bhardlimit = blocks;
    record.dqb_bsoftlimit = blocks;
    record.dqb_valid = libc::QIF_BLIMITS;
    let cmd = libc::QCMD(libc::Q_SETQUOTA, PRJQUOTA);
    // SAFETY: Q_SETQUOTA reads one `struct if_dqblk`, which `libc::dqblk` mirrors.
    unsafe { quotactl_fd(fd, cmd, project, (&raw mut record).cast()) }
}

/// Whether the directory behind `fd` is the root of a mount (`STATX_ATTR_MOUNT_ROOT`, Linux 5.8+);
/// `None` when the kernel does not report the attribute.
pub fn is_mount_root(fd: BorrowedFd<'_>) -> nix::Result<Option<bool>> {
    // SAFETY: `statx` is plain old data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the empty C string with AT_EMPTY_PATH makes statx describe `fd` itself; `stx` is a writable
    // `struct statx`.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            0,
            &mut stx,
        )
    };
    Errno::result(ret)?;
    let attr = libc::STATX_ATTR_MOUNT_ROOT as u64;
    Ok((stx.stx_attributes_mask & attr != 0).then_some(stx.stx_attributes & attr != 0))
}
