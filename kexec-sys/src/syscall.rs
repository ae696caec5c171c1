//! The raw system calls: `kexec_load`, `kexec_file_load` and
//! `reboot(LINUX_REBOOT_CMD_KEXEC)`, as `unsafe fn` stubs over `libc::syscall`
//! and `libc::reboot`. This is the only module of the workspace's parsers and
//! loaders that holds `unsafe` code; the safe layer in [`crate::load`] checks
//! every argument before it calls in here.
//!
//! The syscall numbers come from [`crate::uapi::Arch::syscall_numbers`] for the
//! host architecture; the tests check them against `libc::SYS_*`.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_int, c_long, c_ulong};

use crate::uapi::KexecSegment;

/// Calls `kexec_load(entry, nr_segments, segments, flags)` and returns the raw
/// result (`-1` with `errno` set on failure).
///
/// # Safety
/// `segments` must point to `nr_segments` initialised [`KexecSegment`]s whose
/// `buf` fields each point to `bufsz` readable bytes, all valid for the whole
/// call. On success the kernel replaces the loaded kexec (or crash) image.
#[cfg(target_os = "linux")]
pub unsafe fn kexec_load(
    nr: c_long,
    entry: c_ulong,
    nr_segments: c_ulong,
    segments: *const KexecSegment,
    flags: c_ulong,
) -> c_long {
    // SAFETY: the caller guarantees `segments` points to `nr_segments` valid
    // segments whose buffers stay readable for the call. kexec_load(2) says the
    // kernel only reads them, during the call: "The kernel image defined by
    // segments is copied from the calling process into previously reserved
    // memory." Nothing keeps a pointer into our memory after the call returns.
    unsafe { libc::syscall(nr, entry, nr_segments, segments, flags) }
}

/// Calls `kexec_file_load(kernel_fd, initrd_fd, cmdline_len, cmdline, flags)`
/// and returns the raw result (`-1` with `errno` set on failure).
///
/// # Safety
/// `cmdline` must be null with `cmdline_len == 0`, or point to `cmdline_len`
/// readable bytes whose last byte is NUL. The descriptors are only read by the
/// kernel; an invalid one makes the call fail with `EBADF`.
#[cfg(target_os = "linux")]
pub unsafe fn kexec_file_load(
    nr: c_long,
    kernel_fd: c_int,
    initrd_fd: c_int,
    cmdline_len: c_ulong,
    cmdline: *const c_char,
    flags: c_ulong,
) -> c_long {
    // SAFETY: the caller guarantees `cmdline` is null with length 0 or points
    // to `cmdline_len` readable bytes ending in NUL; the kernel copies them
    // (`memdup_user`) and reads nothing else from our memory.
    unsafe { libc::syscall(nr, kernel_fd, initrd_fd, cmdline_len, cmdline, flags) }
}

/// Calls `reboot(LINUX_REBOOT_CMD_KEXEC)`. Returns only on failure, with the
/// raw result.
///
/// # Safety
/// On success this does not return: the running kernel is replaced by the
/// loaded kexec image without syncing or unmounting anything. The caller must
/// have made the system ready for that.
#[cfg(target_os = "linux")]
pub unsafe fn reboot_kexec() -> c_int {
    // 0x45584543 is positive in i32, so the conversion cannot fail.
    let cmd = c_int::try_from(crate::uapi::LINUX_REBOOT_CMD_KEXEC).unwrap_or(c_int::MAX);
    // SAFETY: `reboot` takes no pointers; the caller accepts that the process
    // (and the whole system) does not continue past a successful call.
    unsafe { libc::reboot(cmd) }
}

/// `kexec_file_load` with a checked command line: `None` passes a null pointer
/// and length 0, `Some` passes the string with its NUL counted in the length.
#[cfg(target_os = "linux")]
pub(crate) fn file_load_checked(
    nr: c_long,
    kernel_fd: c_int,
    initrd_fd: c_int,
    cmdline: Option<&core::ffi::CStr>,
    flags: c_ulong,
) -> Result<c_long, crate::Error> {
    let (len, ptr) = match cmdline {
        Some(c) => (c.to_bytes_with_nul().len(), c.as_ptr()),
        None => (0, core::ptr::null()),
    };
    let len = c_ulong::try_from(len).map_err(|_| crate::Error::AddressOverflow {
        what: "command line length",
        value: u64::try_from(len).unwrap_or(u64::MAX),
    })?;
    // SAFETY: `ptr` is null with `len == 0`, or points to the `len` bytes of a
    // `&CStr` borrowed for this call whose last byte is NUL. File descriptors are
    // plain integers to the kernel (an invalid one gives EBADF).
    Ok(unsafe { kexec_file_load(nr, kernel_fd, initrd_fd, len, ptr, flags) })
}

/// `kexec_load` over a slice of raw segments.
#[cfg(target_os = "linux")]
pub(crate) fn load_checked(
    nr: c_long,
    entry: c_ulong,
    segments: &[KexecSegment],
    flags: c_ulong,
) -> c_long {
    // usize and c_ulong are both the word size on every Linux target.
    let count = c_ulong::try_from(segments.len()).unwrap_or(c_ulong::MAX);
    // SAFETY: `segments` is a live slice of `count` initialised segments; the
    // caller (crate::load) builds each `buf`/`bufsz` from a borrowed `&[u8]`
    // that outlives this call, and the kernel only reads through them.
    unsafe { kexec_load(nr, entry, count, segments.as_ptr(), flags) }
}

/// `reboot(LINUX_REBOOT_CMD_KEXEC)`; the caller of the public
/// [`crate::reboot_kexec`] asked for the system to be replaced.
#[cfg(target_os = "linux")]
pub(crate) fn reboot_kexec_checked() -> c_int {
    // SAFETY: no memory is passed; replacing the running system is exactly what
    // the public `reboot_kexec` documents and its caller requests.
    unsafe { reboot_kexec() }
}

/// `sync(2)`: commits the page cache to disk before `reboot(LINUX_REBOOT_CMD_KEXEC)`.
#[cfg(target_os = "linux")]
pub(crate) fn sync_checked() {
    // SAFETY: sync(2) takes no arguments; its man page: "sync() causes all pending
    // modifications to filesystem metadata and cached file data to be written to the
    // underlying filesystems." and "sync() is always successful."
    unsafe { libc::sync() }
}

/// Takes the network interface `name` down (clears `IFF_UP` with `SIOCGIFFLAGS` /
/// `SIOCSIFFLAGS` on `sock`), as kexec-tools' `ifdown()` does before `-e`. Returns
/// the errno on failure.
#[cfg(target_os = "linux")]
pub(crate) fn interface_down_checked(
    sock: std::os::fd::BorrowedFd<'_>,
    name: &core::ffi::CStr,
) -> Result<(), i32> {
    use std::os::fd::AsRawFd;
    let bytes = name.to_bytes();
    if bytes.len() >= libc::IFNAMSIZ {
        return Err(libc::ENAMETOOLONG);
    }
    // ifreq is plain data; all zeroes is a valid value.
    let mut req = libc::ifreq {
        ifr_name: [0; libc::IFNAMSIZ],
        ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_flags: 0 },
    };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = c_char::from_ne_bytes([*src]);
    }
    let fd = sock.as_raw_fd();
    let last = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: netdevice(7): "Linux supports some standard ioctls to configure network
    // devices. They can be used on any socket's file descriptor regardless of the family
    // or type. Most of them pass an ifreq structure"; SIOCGIFFLAGS writes the flags into
    // `req`, a live, initialised ifreq we own, with a NUL-terminated name.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(last());
    }
    // SAFETY: reading the union field SIOCGIFFLAGS just filled (netdevice(7):
    // "SIOCGIFFLAGS, SIOCSIFFLAGS Get or set the active flag word of the device.
    // ifr_flags contains a bit mask").
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    let up = c_short_flag(libc::IFF_UP);
    if flags & up == 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags & !up;
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`, which stays live for the call.
    if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(last());
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn c_short_flag(flag: c_int) -> libc::c_short {
    libc::c_short::try_from(flag).unwrap_or(0)
}

/// A socket for the interface ioctls: `AF_NETLINK`/`SOCK_DGRAM`, as kexec-tools opens.
#[cfg(target_os = "linux")]
pub(crate) fn ioctl_socket() -> Result<std::os::fd::OwnedFd, i32> {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) takes no pointers ("On success, a file descriptor for the new
    // socket is returned.  On error, -1 is returned").
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `fd` is a descriptor socket(2) just returned; nothing else owns it
    // (OwnedFd::from_raw_fd: "The resource pointed to by fd must be open and suitable
    // for assuming ownership").
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
