#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// DESIGN.md: a library never prints; tools do.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod error;
pub mod flags;
pub mod load;
#[cfg(target_os = "linux")]
pub mod syscall;
pub mod sysfs;
pub mod uapi;

pub use error::{Call, Error, ErrorKind};
pub use flags::{KexecFileFlags, KexecLoadFlags};
#[cfg(unix)]
pub use load::kexec_file_load;
pub use load::{
    Segment, check_segments, interfaces_down, kexec_file_unload, kexec_load, kexec_unload,
    reboot_kexec, sync,
};
pub use sysfs::{CrashHotplug, CrashNotes, KexecStatus, KexecSysfs, Lockdown, VmcoreinfoLocation};
pub use uapi::{Arch, KexecSegment, SyscallNumbers};

// Not supported API: the body of a fuzz target (`fuzz/`), public so the fuzz
// crate and the corpus replay test can call it.
#[doc(hidden)]
/// Replays the sysfs value parsers on arbitrary bytes (the fuzz target body).
/// Returns how many of the parsers accepted the input.
pub fn fuzz_sysfs_values(data: &[u8]) -> usize {
    let Ok(text) = core::str::from_utf8(data) else {
        return 0;
    };
    usize::from(sysfs::parse_bool(text).is_ok())
        + usize::from(sysfs::parse_decimal(text).is_ok())
        + usize::from(sysfs::parse_hex(text).is_ok())
        + usize::from(sysfs::parse_vmcoreinfo(text).is_ok())
        + usize::from(sysfs::parse_lockdown(text).is_ok())
}
