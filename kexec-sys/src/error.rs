//! The crate's error type, with kexec failures classified by errno and each
//! class documented with what the operator should do.
//!
//! The errno meanings come from `kernel/kexec.c`, `kernel/kexec_file.c`,
//! `kernel/kexec_core.c` and the signature checks they call, and from what
//! kexec-tools reports for the same errors.

use std::path::PathBuf;

/// Which system call failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `kexec_load(2)`.
    KexecLoad,
    /// `kexec_file_load(2)`.
    KexecFileLoad,
    /// `reboot(LINUX_REBOOT_CMD_KEXEC)`.
    RebootKexec,
}

impl core::fmt::Display for Call {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Call::KexecLoad => "kexec_load",
            Call::KexecFileLoad => "kexec_file_load",
            Call::RebootKexec => "reboot(LINUX_REBOOT_CMD_KEXEC)",
        })
    }
}

/// What a failed kexec call means for the operator.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `EPERM`: not root / no `CAP_SYS_BOOT`, `kernel.kexec_load_disabled` is
    /// set, or the kernel is locked down (Secure Boot) and refuses `kexec_load`.
    /// Fix: run as root; under lockdown use `kexec_file_load` (`-s`), also for unloading.
    PermissionDenied,
    /// `EKEYREJECTED`, `ENOKEY`, `EKEYREVOKED`, `EKEYEXPIRED` or `EBADMSG`: the
    /// image's signature was rejected or no trusted key signs it. Fix: use a
    /// kernel signed by a key in the kernel's keyrings (or enroll the key with MOK).
    SignatureRejected,
    /// `ENOEXEC`: no loader of this kernel recognises the image. Fix: pass a
    /// kernel of the running architecture in a format it accepts (e.g. a raw
    /// arm64 Image, a 64-bit bzImage); decompress wrapped images first.
    BadImage,
    /// `EBUSY`: another kexec operation holds the lock, or the crash image is
    /// being replaced concurrently. Fix: retry when the other loader is done.
    Busy,
    /// `ENOMEM` or `EADDRNOTAVAIL` on a crash load: the reserved crash region is
    /// missing or too small for kernel, initrd and headers. Fix: boot with a
    /// larger `crashkernel=` and check "Crash kernel" in `/proc/iomem`.
    CrashRegionTooSmall,
    /// `ENOMEM` on a normal load: the kernel could not allocate memory for the image.
    OutOfMemory,
    /// `ENOSYS` or `EOPNOTSUPP`: the kernel lacks `CONFIG_KEXEC`/`CONFIG_KEXEC_FILE`
    /// or this call for the architecture. Fix: use the other kexec syscall or a kernel built with it.
    NotSupported,
    /// `EINVAL`: a flag, segment or size was refused (e.g. a flag unknown to
    /// this kernel, overlapping segments, a command line that is too long).
    InvalidArgument,
    /// `EBADF`: a file descriptor is not open for reading.
    BadFileDescriptor,
    /// Any other errno.
    Other,
}

impl ErrorKind {
    /// Classifies `errno` for `call`; `on_crash` says whether a crash image was being loaded.
    pub fn classify(errno: i32, on_crash: bool) -> ErrorKind {
        match errno {
            libc_errno::EPERM => ErrorKind::PermissionDenied,
            libc_errno::EKEYREJECTED
            | libc_errno::ENOKEY
            | libc_errno::EKEYREVOKED
            | libc_errno::EKEYEXPIRED
            | libc_errno::EBADMSG => ErrorKind::SignatureRejected,
            libc_errno::ENOEXEC => ErrorKind::BadImage,
            libc_errno::EBUSY => ErrorKind::Busy,
            libc_errno::ENOMEM | libc_errno::EADDRNOTAVAIL if on_crash => {
                ErrorKind::CrashRegionTooSmall
            }
            libc_errno::EADDRNOTAVAIL => ErrorKind::InvalidArgument,
            libc_errno::ENOMEM => ErrorKind::OutOfMemory,
            libc_errno::ENOSYS | libc_errno::EOPNOTSUPP => ErrorKind::NotSupported,
            libc_errno::EINVAL => ErrorKind::InvalidArgument,
            libc_errno::EBADF => ErrorKind::BadFileDescriptor,
            _ => ErrorKind::Other,
        }
    }

    /// One sentence telling the operator what to do.
    pub fn advice(self) -> &'static str {
        match self {
            ErrorKind::PermissionDenied => {
                "run as root with CAP_SYS_BOOT and check kernel.kexec_load_disabled; under Secure Boot lockdown use the kexec_file_load syscall (-s), also to unload"
            }
            ErrorKind::SignatureRejected => {
                "the kernel image's signature was rejected: use a kernel signed by a key the running kernel trusts (or enroll that key)"
            }
            ErrorKind::BadImage => {
                "the running kernel does not recognise this image: pass a kernel for this architecture in a format the syscall accepts (decompress wrapped images)"
            }
            ErrorKind::Busy => "another kexec operation is in progress: retry when it is done",
            ErrorKind::CrashRegionTooSmall => {
                "the reserved crash kernel region is missing or too small: boot with a larger crashkernel= and check \"Crash kernel\" in /proc/iomem"
            }
            ErrorKind::OutOfMemory => "the kernel ran out of memory while loading the image",
            ErrorKind::NotSupported => {
                "this kernel lacks the syscall (CONFIG_KEXEC / CONFIG_KEXEC_FILE): try the other kexec syscall"
            }
            ErrorKind::InvalidArgument => {
                "the kernel refused an argument (unknown flag, bad segment layout or command line too long)"
            }
            ErrorKind::BadFileDescriptor => "a kernel or initrd file descriptor is not readable",
            ErrorKind::Other => "unexpected error from the kernel",
        }
    }
}

/// The errno values used for classification: Linux's generic numbering
/// (`include/uapi/asm-generic/errno*.h`), which every architecture in
/// [`crate::uapi::Arch`] uses for these codes. Kept here so classification
/// works on any host; a test compares them with `libc` on Linux.
mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOEXEC: i32 = 8;
    pub const EBADF: i32 = 9;
    pub const ENOMEM: i32 = 12;
    pub const EBUSY: i32 = 16;
    pub const EINVAL: i32 = 22;
    pub const ENOSYS: i32 = 38;
    pub const EBADMSG: i32 = 74;
    pub const EOPNOTSUPP: i32 = 95;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ENOKEY: i32 = 126;
    pub const EKEYEXPIRED: i32 = 127;
    pub const EKEYREVOKED: i32 = 128;
    pub const EKEYREJECTED: i32 = 129;
}

/// Errors of this crate.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A kexec system call failed.
    #[error("{call} failed with errno {errno} ({kind:?}): {}", kind.advice())]
    Syscall {
        /// The call.
        call: Call,
        /// The raw errno.
        errno: i32,
        /// Its meaning.
        kind: ErrorKind,
    },
    /// The host is not Linux, or its architecture has no kexec syscall in this crate's table.
    #[error("kexec is not available on this platform")]
    Unsupported,
    /// More segments than `KEXEC_SEGMENT_MAX`.
    #[error("{count} segments given; kexec_load takes at most {max}")]
    TooManySegments {
        /// Segments given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A segment's buffer is larger than its memory range.
    #[error("segment {index}: buffer of {bufsz} bytes exceeds its memory size {memsz}")]
    SegmentBufferTooLarge {
        /// Segment index.
        index: usize,
        /// Buffer length.
        bufsz: u64,
        /// Memory size.
        memsz: u64,
    },
    /// A value does not fit the host's `unsigned long`.
    #[error("{what} {value:#x} does not fit this platform's address width")]
    AddressOverflow {
        /// Which argument.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A network interface could not be taken down before `reboot(LINUX_REBOOT_CMD_KEXEC)`.
    #[error("taking network interface {name:?} down failed with errno {errno}")]
    Interface {
        /// The interface (empty when the socket could not be opened).
        name: String,
        /// The raw errno.
        errno: i32,
    },
    /// A sysfs file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A sysfs file held something other than the kernel's format.
    #[error("{}: unexpected contents {text:?}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held (trimmed, at most 64 bytes).
        text: String,
        /// What was expected.
        reason: &'static str,
    },
}

impl Error {
    /// The errno class, for a failed system call.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Syscall { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether a failed `kexec_file_load` should be retried with `kexec_load`,
    /// as kexec-tools' default `-a` mode does: only for `ENOSYS`, `EINVAL`,
    /// `ENOEXEC` and `EOPNOTSUPP`; never for signature or permission errors,
    /// which the classic call would only hide.
    pub fn file_load_may_fall_back(&self) -> bool {
        matches!(
            self,
            Error::Syscall {
                call: Call::KexecFileLoad,
                errno: libc_errno::ENOSYS
                    | libc_errno::EINVAL
                    | libc_errno::ENOEXEC
                    | libc_errno::EOPNOTSUPP,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn errno_values_match_libc() {
        assert_eq!(libc_errno::EPERM, libc::EPERM);
        assert_eq!(libc_errno::ENOEXEC, libc::ENOEXEC);
        assert_eq!(libc_errno::EBADF, libc::EBADF);
        assert_eq!(libc_errno::ENOMEM, libc::ENOMEM);
        assert_eq!(libc_errno::EBUSY, libc::EBUSY);
        assert_eq!(libc_errno::EINVAL, libc::EINVAL);
        assert_eq!(libc_errno::ENOSYS, libc::ENOSYS);
        assert_eq!(libc_errno::EBADMSG, libc::EBADMSG);
        assert_eq!(libc_errno::EOPNOTSUPP, libc::EOPNOTSUPP);
        assert_eq!(libc_errno::EADDRNOTAVAIL, libc::EADDRNOTAVAIL);
        assert_eq!(libc_errno::ENOKEY, libc::ENOKEY);
        assert_eq!(libc_errno::EKEYEXPIRED, libc::EKEYEXPIRED);
        assert_eq!(libc_errno::EKEYREVOKED, libc::EKEYREVOKED);
        assert_eq!(libc_errno::EKEYREJECTED, libc::EKEYREJECTED);
    }

    #[test]
    fn classification() {
        assert_eq!(ErrorKind::classify(1, false), ErrorKind::PermissionDenied);
        assert_eq!(
            ErrorKind::classify(129, false),
            ErrorKind::SignatureRejected
        );
        assert_eq!(ErrorKind::classify(126, true), ErrorKind::SignatureRejected);
        assert_eq!(ErrorKind::classify(8, true), ErrorKind::BadImage);
        assert_eq!(ErrorKind::classify(16, true), ErrorKind::Busy);
        assert_eq!(
            ErrorKind::classify(12, true),
            ErrorKind::CrashRegionTooSmall
        );
        assert_eq!(
            ErrorKind::classify(99, true),
            ErrorKind::CrashRegionTooSmall
        );
        assert_eq!(ErrorKind::classify(12, false), ErrorKind::OutOfMemory);
        assert_eq!(ErrorKind::classify(38, false), ErrorKind::NotSupported);
        assert_eq!(ErrorKind::classify(5, false), ErrorKind::Other);
    }

    #[test]
    fn fallback_rule() {
        let e = |call, errno| Error::Syscall {
            call,
            errno,
            kind: ErrorKind::classify(errno, true),
        };
        assert!(e(Call::KexecFileLoad, 38).file_load_may_fall_back());
        assert!(e(Call::KexecFileLoad, 22).file_load_may_fall_back());
        assert!(e(Call::KexecFileLoad, 8).file_load_may_fall_back());
        assert!(e(Call::KexecFileLoad, 95).file_load_may_fall_back());
        assert!(!e(Call::KexecFileLoad, 129).file_load_may_fall_back());
        assert!(!e(Call::KexecFileLoad, 1).file_load_may_fall_back());
        assert!(!e(Call::KexecLoad, 38).file_load_may_fall_back());
        let text = e(Call::KexecFileLoad, 129).to_string();
        assert!(
            text.contains("kexec_file_load") && text.contains("signature"),
            "{text}"
        );
    }
}
