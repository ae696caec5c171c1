//! Typed flags of the two load calls. Unknown bits are kept (`from_bits_retain`)
//! so a flag newer than this crate still reaches the kernel unchanged.

use crate::uapi;

bitflags::bitflags! {
    /// Flags of `kexec_load(2)`, without the architecture field (see [`KexecLoadFlags::arch_field`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct KexecLoadFlags: u32 {
        /// Load the crash (kdump) image.
        const ON_CRASH = uapi::KEXEC_ON_CRASH;
        /// Preserve the machine state (kexec jump).
        const PRESERVE_CONTEXT = uapi::KEXEC_PRESERVE_CONTEXT;
        /// Replace only the elfcorehdr of the loaded crash image.
        const UPDATE_ELFCOREHDR = uapi::KEXEC_UPDATE_ELFCOREHDR;
        /// Let the kernel rewrite the elfcorehdr on hotplug.
        const CRASH_HOTPLUG_SUPPORT = uapi::KEXEC_CRASH_HOTPLUG_SUPPORT;
        /// The architecture field; kept so that all 32 bits round-trip.
        const _ = !0;
    }
}

impl KexecLoadFlags {
    /// The architecture field (bits 16..=31, still shifted), e.g. [`uapi::KEXEC_ARCH_X86_64`].
    pub const fn arch_field(self) -> u32 {
        self.bits() & uapi::KEXEC_ARCH_MASK
    }

    /// These flags with the architecture field replaced by `arch` (a shifted
    /// `KEXEC_ARCH_*` value; bits outside the mask are dropped).
    pub const fn with_arch_field(self, arch: u32) -> Self {
        Self::from_bits_retain(
            (self.bits() & !uapi::KEXEC_ARCH_MASK) | (arch & uapi::KEXEC_ARCH_MASK),
        )
    }
}

bitflags::bitflags! {
    /// Flags of `kexec_file_load(2)`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct KexecFileFlags: u32 {
        /// Unload instead of load.
        const UNLOAD = uapi::KEXEC_FILE_UNLOAD;
        /// The crash (kdump) image.
        const ON_CRASH = uapi::KEXEC_FILE_ON_CRASH;
        /// No initramfs.
        const NO_INITRAMFS = uapi::KEXEC_FILE_NO_INITRAMFS;
        /// Kernel-side debug messages.
        const DEBUG = uapi::KEXEC_FILE_DEBUG;
        /// Keep the crash image out of CMA crash memory.
        const NO_CMA = uapi::KEXEC_FILE_NO_CMA;
        /// Carry the boot DTB over (x86).
        const FORCE_DTB = uapi::KEXEC_FILE_FORCE_DTB;
        /// Bits this crate does not name are kept.
        const _ = !0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn arch_field_is_separate_from_flags() {
        let f = KexecLoadFlags::ON_CRASH.with_arch_field(uapi::KEXEC_ARCH_AARCH64);
        assert_eq!(f.bits(), (183 << 16) | 1);
        assert_eq!(f.arch_field(), 183 << 16);
        assert!(f.contains(KexecLoadFlags::ON_CRASH));
        assert_eq!(f.with_arch_field(0).bits(), 1);
    }

    proptest! {
        #[test]
        fn unknown_bits_round_trip(bits in any::<u32>()) {
            prop_assert_eq!(KexecFileFlags::from_bits_retain(bits).bits(), bits);
            prop_assert_eq!(KexecLoadFlags::from_bits_retain(bits).bits(), bits);
            let f = KexecLoadFlags::from_bits_retain(bits);
            prop_assert_eq!(f.with_arch_field(f.arch_field()), f);
        }
    }
}
