//! The safe layer over the raw calls: borrowed descriptors, a `&CStr` command
//! line (its length passed with the NUL, as `kexec_file_load` requires), typed
//! flags, checked segments and errno-classified errors.
//!
//! On hosts other than Linux, and on Linux architectures missing from
//! [`Arch`], every call returns [`Error::Unsupported`] without doing anything
//! (`kexec_file_load` exists on Unix hosts only, since it takes `BorrowedFd`s).

use std::convert::Infallible;
use std::ffi::CStr;
#[cfg(unix)]
use std::os::fd::BorrowedFd;

use crate::error::{Call, Error, ErrorKind};
use crate::flags::{KexecFileFlags, KexecLoadFlags};
use crate::uapi::{Arch, KEXEC_SEGMENT_MAX};

/// One segment for `kexec_load`: bytes to copy and the physical range they go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The bytes to copy.
    pub buf: &'a [u8],
    /// Physical destination address.
    pub mem: u64,
    /// Size of the destination range; the part past `buf.len()` is zero-filled.
    pub memsz: u64,
}

/// Checks segments the way the syscall needs them and returns them unchanged.
/// The kernel does its own alignment and overlap checks; this catches what
/// would make the raw call unsound or certainly fail.
pub fn check_segments(segments: &[Segment<'_>]) -> Result<(), Error> {
    if segments.len() > KEXEC_SEGMENT_MAX {
        return Err(Error::TooManySegments {
            count: segments.len(),
            max: KEXEC_SEGMENT_MAX,
        });
    }
    for (index, s) in segments.iter().enumerate() {
        let bufsz = u64::try_from(s.buf.len()).unwrap_or(u64::MAX);
        if bufsz > s.memsz {
            return Err(Error::SegmentBufferTooLarge {
                index,
                bufsz,
                memsz: s.memsz,
            });
        }
        if usize::try_from(s.mem).is_err() {
            return Err(Error::AddressOverflow {
                what: "segment address",
                value: s.mem,
            });
        }
        if usize::try_from(s.memsz).is_err() {
            return Err(Error::AddressOverflow {
                what: "segment memory size",
                value: s.memsz,
            });
        }
        // The range must not wrap around the address space.
        if s.mem.checked_add(s.memsz).is_none() {
            return Err(Error::AddressOverflow {
                what: "segment end",
                value: s.mem,
            });
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn host_numbers() -> Result<crate::uapi::SyscallNumbers, Error> {
    Arch::host()
        .map(Arch::syscall_numbers)
        .ok_or(Error::Unsupported)
}

#[cfg(target_os = "linux")]
fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Loads a kernel with `kexec_file_load(2)`: the kernel reads, verifies and
/// places the image itself.
///
/// With `initrd` `None`, `KEXEC_FILE_NO_INITRAMFS` is added and `-1` passed as
/// the initrd descriptor. The command line's length is passed including its NUL.
/// Use [`kexec_file_unload`] to unload. (Unix only, for `BorrowedFd`.)
#[cfg(unix)]
pub fn kexec_file_load(
    kernel: BorrowedFd<'_>,
    initrd: Option<BorrowedFd<'_>>,
    cmdline: &CStr,
    flags: KexecFileFlags,
) -> Result<(), Error> {
    let mut flags = flags;
    if initrd.is_none() {
        flags |= KexecFileFlags::NO_INITRAMFS;
    }
    file_load_raw(kernel, initrd, Some(cmdline), flags)
}

/// Unloads the loaded image with `kexec_file_load(2)` (`KEXEC_FILE_UNLOAD`):
/// the crash image when `on_crash`, else the normal kexec image. This is the
/// unload that works under lockdown.
pub fn kexec_file_unload(on_crash: bool) -> Result<(), Error> {
    let mut flags = KexecFileFlags::UNLOAD;
    if on_crash {
        flags |= KexecFileFlags::ON_CRASH;
    }
    file_unload_raw(flags)
}

#[cfg(target_os = "linux")]
fn file_load_raw(
    kernel: BorrowedFd<'_>,
    initrd: Option<BorrowedFd<'_>>,
    cmdline: Option<&CStr>,
    flags: KexecFileFlags,
) -> Result<(), Error> {
    use std::os::fd::AsRawFd;
    let nr = host_numbers()?.kexec_file_load.ok_or(Error::Unsupported)?;
    let initrd_fd = initrd.map_or(-1, |fd| fd.as_raw_fd());
    let rc = crate::syscall::file_load_checked(
        nr,
        kernel.as_raw_fd(),
        initrd_fd,
        cmdline,
        libc::c_ulong::from(flags.bits()),
    )?;
    check_rc(
        rc,
        Call::KexecFileLoad,
        flags.contains(KexecFileFlags::ON_CRASH),
    )
}

#[cfg(target_os = "linux")]
fn file_unload_raw(flags: KexecFileFlags) -> Result<(), Error> {
    let nr = host_numbers()?.kexec_file_load.ok_or(Error::Unsupported)?;
    let rc =
        crate::syscall::file_load_checked(nr, -1, -1, None, libc::c_ulong::from(flags.bits()))?;
    check_rc(
        rc,
        Call::KexecFileLoad,
        flags.contains(KexecFileFlags::ON_CRASH),
    )
}

#[cfg(target_os = "linux")]
fn check_rc(rc: libc::c_long, call: Call, on_crash: bool) -> Result<(), Error> {
    if rc == 0 {
        return Ok(());
    }
    let errno = last_errno();
    Err(Error::Syscall {
        call,
        errno,
        kind: ErrorKind::classify(errno, on_crash),
    })
}

/// Loads segments with `kexec_load(2)`: user space has placed everything
/// (kernel, initrd, boot data, purgatory) and gives the entry point.
///
/// `flags` carries the architecture field (see
/// [`KexecLoadFlags::with_arch_field`]); pass `KEXEC_ARCH_DEFAULT` (0) to mean the
/// running kernel's. An empty `segments` slice unloads (see [`kexec_unload`]).
pub fn kexec_load(
    entry: u64,
    segments: &[Segment<'_>],
    flags: KexecLoadFlags,
) -> Result<(), Error> {
    check_segments(segments)?;
    load_raw(entry, segments, flags)
}

/// Unloads with `kexec_load(2)` (zero segments): the crash image when
/// `on_crash`. Refused under lockdown; prefer [`kexec_file_unload`] there.
pub fn kexec_unload(on_crash: bool) -> Result<(), Error> {
    let flags = if on_crash {
        KexecLoadFlags::ON_CRASH
    } else {
        KexecLoadFlags::empty()
    };
    load_raw(0, &[], flags)
}

#[cfg(target_os = "linux")]
fn load_raw(entry: u64, segments: &[Segment<'_>], flags: KexecLoadFlags) -> Result<(), Error> {
    use crate::uapi::KexecSegment;
    let nr = host_numbers()?.kexec_load;
    let entry = libc::c_ulong::try_from(entry).map_err(|_| Error::AddressOverflow {
        what: "entry point",
        value: entry,
    })?;
    let flags_arg = libc::c_ulong::from(flags.bits());
    // Built from borrowed slices, so every `buf` stays readable while `raw` lives.
    let mut raw = [KexecSegment {
        buf: core::ptr::null(),
        bufsz: 0,
        mem: core::ptr::null(),
        memsz: 0,
    }; KEXEC_SEGMENT_MAX];
    for (slot, s) in raw.iter_mut().zip(segments) {
        // check_segments proved both fit in usize.
        let mem = usize::try_from(s.mem).map_err(|_| Error::AddressOverflow {
            what: "segment address",
            value: s.mem,
        })?;
        let memsz = usize::try_from(s.memsz).map_err(|_| Error::AddressOverflow {
            what: "segment memory size",
            value: s.memsz,
        })?;
        *slot = KexecSegment {
            buf: s.buf.as_ptr().cast(),
            bufsz: s.buf.len(),
            // A physical address travels in a pointer-typed field; it is never
            // dereferenced in user space.
            mem: core::ptr::without_provenance(mem),
            memsz,
        };
    }
    let rc = crate::syscall::load_checked(nr, entry, &raw[..segments.len()], flags_arg);
    check_rc(
        rc,
        Call::KexecLoad,
        flags.contains(KexecLoadFlags::ON_CRASH),
    )
}

/// Writes cached file data to disk (`sync(2)`), as kexec-tools does before `-e`.
pub fn sync() {
    #[cfg(target_os = "linux")]
    crate::syscall::sync_checked();
}

/// Takes every network interface but `lo` (and alias names with `:`) down, as
/// kexec-tools' `ifdown()` does before `kexec -e`, so that no device does DMA into
/// memory the new kernel is about to own. Interfaces are listed from
/// `/sys/class/net`; ones named `shaper*` go first, as kexec-tools orders them.
/// Returns the interfaces taken down; stops at the first failure.
pub fn interfaces_down() -> Result<Vec<String>, Error> {
    interfaces_down_raw()
}

#[cfg(target_os = "linux")]
fn interfaces_down_raw() -> Result<Vec<String>, Error> {
    use std::os::fd::AsFd;
    let dir = std::path::Path::new("/sys/class/net");
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        if let Some(n) = e.file_name().to_str() {
            if n != "lo" && !n.contains(':') {
                names.push(n.to_owned());
            }
        }
    }
    names.sort_by_key(|n| (!n.starts_with("shaper"), n.clone()));
    if names.is_empty() {
        return Ok(names);
    }
    let sock = crate::syscall::ioctl_socket().map_err(|errno| Error::Interface {
        name: String::new(),
        errno,
    })?;
    for n in &names {
        let c = std::ffi::CString::new(n.as_str()).map_err(|_| Error::Interface {
            name: n.clone(),
            errno: 22,
        })?;
        crate::syscall::interface_down_checked(sock.as_fd(), &c).map_err(|errno| {
            Error::Interface {
                name: n.clone(),
                errno,
            }
        })?;
    }
    Ok(names)
}

#[cfg(not(target_os = "linux"))]
fn interfaces_down_raw() -> Result<Vec<String>, Error> {
    Err(Error::Unsupported)
}

/// Jumps into the loaded kexec image with `reboot(LINUX_REBOOT_CMD_KEXEC)`.
/// Returns only on failure. Nothing is synced or unmounted first: that is the
/// caller's job (kexec-tools `-e` does the same).
pub fn reboot_kexec() -> Result<Infallible, Error> {
    reboot_raw()
}

#[cfg(target_os = "linux")]
fn reboot_raw() -> Result<Infallible, Error> {
    let rc = crate::syscall::reboot_kexec_checked();
    let errno = if rc == 0 { 0 } else { last_errno() };
    Err(Error::Syscall {
        call: Call::RebootKexec,
        errno,
        kind: ErrorKind::classify(errno, false),
    })
}

#[cfg(all(unix, not(target_os = "linux")))]
fn file_load_raw(
    _: BorrowedFd<'_>,
    _: Option<BorrowedFd<'_>>,
    _: Option<&CStr>,
    _: KexecFileFlags,
) -> Result<(), Error> {
    Err(Error::Unsupported)
}

#[cfg(not(target_os = "linux"))]
fn file_unload_raw(_: KexecFileFlags) -> Result<(), Error> {
    Err(Error::Unsupported)
}

#[cfg(not(target_os = "linux"))]
fn load_raw(_: u64, _: &[Segment<'_>], _: KexecLoadFlags) -> Result<(), Error> {
    Err(Error::Unsupported)
}

#[cfg(not(target_os = "linux"))]
fn reboot_raw() -> Result<Infallible, Error> {
    Err(Error::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn segment_checks() {
        let buf = [0u8; 16];
        let ok = Segment {
            buf: &buf,
            mem: 0x100_0000,
            memsz: 0x1000,
        };
        assert!(check_segments(&[ok; 16]).is_ok());
        assert!(matches!(
            check_segments(&[ok; 17]),
            Err(Error::TooManySegments { count: 17, max: 16 })
        ));
        let small = Segment { memsz: 8, ..ok };
        assert!(matches!(
            check_segments(&[ok, small]),
            Err(Error::SegmentBufferTooLarge {
                index: 1,
                bufsz: 16,
                memsz: 8
            })
        ));
        let wrap = Segment {
            mem: u64::MAX - 4,
            memsz: 0x1000,
            ..ok
        };
        assert!(check_segments(&[wrap]).is_err());
    }

    #[test]
    fn public_load_refuses_bad_segments_before_any_syscall() {
        // These return from check_segments; the syscall is never reached.
        let buf = [0u8; 32];
        let seg = Segment {
            buf: &buf,
            mem: 0x100_0000,
            memsz: 0x1000,
        };
        assert!(matches!(
            kexec_load(0, &[seg; 17], KexecLoadFlags::ON_CRASH),
            Err(Error::TooManySegments { count: 17, .. })
        ));
        let short = Segment { memsz: 16, ..seg };
        assert!(matches!(
            kexec_load(0, &[short], KexecLoadFlags::ON_CRASH),
            Err(Error::SegmentBufferTooLarge { index: 0, .. })
        ));
    }

    proptest! {
        #[test]
        fn check_segments_never_panics(mem in any::<u64>(), memsz in any::<u64>(), len in 0usize..64, n in 0usize..20) {
            let buf = vec![0u8; len];
            let segs = vec![Segment { buf: &buf, mem, memsz }; n];
            let r = check_segments(&segs);
            if r.is_ok() && n > 0 {
                prop_assert!(n <= KEXEC_SEGMENT_MAX);
                prop_assert!(len as u64 <= memsz);
                prop_assert!(mem.checked_add(memsz).is_some());
            }
        }
    }
}
