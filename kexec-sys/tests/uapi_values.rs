//! The constants checked against independent sources: `libc` where it has
//! them, otherwise the `#define` lines of the kernel's uAPI header.

use kexec_sys::uapi::*;

/// The `#define` lines of `include/uapi/linux/kexec.h` as of Linux v6.18
/// (with `KEXEC_FILE_FORCE_DTB` from the x86 "carry forward the boot DTB"
/// change and `KEXEC_ARCH_LOONGARCH`), licensed "GPL-2.0 WITH
/// Linux-syscall-note": the userspace ABI header, meant to be used by
/// programs. Only the defines are kept, no prose.
const KEXEC_H_DEFINES: &str = "
#define KEXEC_ON_CRASH\t\t0x00000001
#define KEXEC_PRESERVE_CONTEXT\t0x00000002
#define KEXEC_UPDATE_ELFCOREHDR\t0x00000004
#define KEXEC_CRASH_HOTPLUG_SUPPORT 0x00000008
#define KEXEC_ARCH_MASK\t\t0xffff0000
#define KEXEC_FILE_UNLOAD\t0x00000001
#define KEXEC_FILE_ON_CRASH\t0x00000002
#define KEXEC_FILE_NO_INITRAMFS\t0x00000004
#define KEXEC_FILE_DEBUG\t0x00000008
#define KEXEC_FILE_NO_CMA\t0x00000010
#define KEXEC_FILE_FORCE_DTB\t0x00000020
#define KEXEC_ARCH_DEFAULT ( 0 << 16)
#define KEXEC_ARCH_386     ( 3 << 16)
#define KEXEC_ARCH_68K     ( 4 << 16)
#define KEXEC_ARCH_PARISC  (15 << 16)
#define KEXEC_ARCH_X86_64  (62 << 16)
#define KEXEC_ARCH_PPC     (20 << 16)
#define KEXEC_ARCH_PPC64   (21 << 16)
#define KEXEC_ARCH_IA_64   (50 << 16)
#define KEXEC_ARCH_ARM     (40 << 16)
#define KEXEC_ARCH_S390    (22 << 16)
#define KEXEC_ARCH_SH      (42 << 16)
#define KEXEC_ARCH_MIPS_LE (10 << 16)
#define KEXEC_ARCH_MIPS    ( 8 << 16)
#define KEXEC_ARCH_AARCH64 (183 << 16)
#define KEXEC_ARCH_RISCV   (243 << 16)
#define KEXEC_ARCH_LOONGARCH (258 << 16)
#define KEXEC_SEGMENT_MAX 16
";

/// Evaluates the two expression shapes the header uses: a number, or `(a << b)`.
fn eval(expr: &str) -> u64 {
    let e = expr.trim();
    if let Some(inner) = e.strip_prefix('(').and_then(|e| e.strip_suffix(')')) {
        let (a, b) = inner.split_once("<<").expect("shift");
        return eval(a) << eval(b);
    }
    match e.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => e.parse().unwrap(),
    }
}

fn header(name: &str) -> u64 {
    for line in KEXEC_H_DEFINES.lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let rest = rest.trim_start();
        let end = rest.find(|c: char| c.is_whitespace()).unwrap();
        if &rest[..end] == name {
            return eval(&rest[end..]);
        }
    }
    panic!("{name} not in the header text");
}

#[test]
fn kexec_load_flags_match_header() {
    assert_eq!(u64::from(KEXEC_ON_CRASH), header("KEXEC_ON_CRASH"));
    assert_eq!(
        u64::from(KEXEC_PRESERVE_CONTEXT),
        header("KEXEC_PRESERVE_CONTEXT")
    );
    assert_eq!(
        u64::from(KEXEC_UPDATE_ELFCOREHDR),
        header("KEXEC_UPDATE_ELFCOREHDR")
    );
    assert_eq!(
        u64::from(KEXEC_CRASH_HOTPLUG_SUPPORT),
        header("KEXEC_CRASH_HOTPLUG_SUPPORT")
    );
    assert_eq!(u64::from(KEXEC_ARCH_MASK), header("KEXEC_ARCH_MASK"));
}

#[test]
fn kexec_file_flags_match_header() {
    assert_eq!(u64::from(KEXEC_FILE_UNLOAD), header("KEXEC_FILE_UNLOAD"));
    assert_eq!(
        u64::from(KEXEC_FILE_ON_CRASH),
        header("KEXEC_FILE_ON_CRASH")
    );
    assert_eq!(
        u64::from(KEXEC_FILE_NO_INITRAMFS),
        header("KEXEC_FILE_NO_INITRAMFS")
    );
    assert_eq!(u64::from(KEXEC_FILE_DEBUG), header("KEXEC_FILE_DEBUG"));
    assert_eq!(u64::from(KEXEC_FILE_NO_CMA), header("KEXEC_FILE_NO_CMA"));
    assert_eq!(
        u64::from(KEXEC_FILE_FORCE_DTB),
        header("KEXEC_FILE_FORCE_DTB")
    );
}

#[test]
fn arch_values_match_header() {
    let pairs = [
        (KEXEC_ARCH_DEFAULT, "KEXEC_ARCH_DEFAULT"),
        (KEXEC_ARCH_386, "KEXEC_ARCH_386"),
        (KEXEC_ARCH_68K, "KEXEC_ARCH_68K"),
        (KEXEC_ARCH_PARISC, "KEXEC_ARCH_PARISC"),
        (KEXEC_ARCH_X86_64, "KEXEC_ARCH_X86_64"),
        (KEXEC_ARCH_PPC, "KEXEC_ARCH_PPC"),
        (KEXEC_ARCH_PPC64, "KEXEC_ARCH_PPC64"),
        (KEXEC_ARCH_IA_64, "KEXEC_ARCH_IA_64"),
        (KEXEC_ARCH_ARM, "KEXEC_ARCH_ARM"),
        (KEXEC_ARCH_S390, "KEXEC_ARCH_S390"),
        (KEXEC_ARCH_SH, "KEXEC_ARCH_SH"),
        (KEXEC_ARCH_MIPS_LE, "KEXEC_ARCH_MIPS_LE"),
        (KEXEC_ARCH_MIPS, "KEXEC_ARCH_MIPS"),
        (KEXEC_ARCH_AARCH64, "KEXEC_ARCH_AARCH64"),
        (KEXEC_ARCH_RISCV, "KEXEC_ARCH_RISCV"),
        (KEXEC_ARCH_LOONGARCH, "KEXEC_ARCH_LOONGARCH"),
    ];
    for (ours, name) in pairs {
        assert_eq!(u64::from(ours), header(name), "{name}");
    }
    assert_eq!(KEXEC_SEGMENT_MAX as u64, header("KEXEC_SEGMENT_MAX"));
}

#[cfg(target_os = "linux")]
#[test]
fn values_match_libc() {
    use libc::c_int;
    // The same bit pattern: libc types these as c_int, KEXEC_ARCH_MASK is negative there.
    let same =
        |ours: u32, theirs: c_int| assert_eq!(ours, u32::from_ne_bytes(theirs.to_ne_bytes()));
    same(KEXEC_ON_CRASH, libc::KEXEC_ON_CRASH);
    same(KEXEC_PRESERVE_CONTEXT, libc::KEXEC_PRESERVE_CONTEXT);
    same(KEXEC_ARCH_MASK, libc::KEXEC_ARCH_MASK);
    same(KEXEC_FILE_UNLOAD, libc::KEXEC_FILE_UNLOAD);
    same(KEXEC_FILE_ON_CRASH, libc::KEXEC_FILE_ON_CRASH);
    same(KEXEC_FILE_NO_INITRAMFS, libc::KEXEC_FILE_NO_INITRAMFS);
    same(LINUX_REBOOT_CMD_KEXEC, libc::LINUX_REBOOT_CMD_KEXEC);
    same(LINUX_REBOOT_CMD_KEXEC, libc::RB_KEXEC);
}

#[cfg(target_os = "linux")]
#[test]
fn segment_layout_matches_c() {
    // struct kexec_segment { const void *buf; size_t bufsz; const void *mem; size_t memsz; }
    let word = core::mem::size_of::<usize>();
    assert_eq!(core::mem::size_of::<KexecSegment>(), 4 * word);
    assert_eq!(core::mem::offset_of!(KexecSegment, bufsz), word);
    assert_eq!(core::mem::offset_of!(KexecSegment, mem), 2 * word);
    assert_eq!(core::mem::offset_of!(KexecSegment, memsz), 3 * word);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
// c_long is i32 on 32-bit hosts, so the conversion is only useless on 64-bit ones.
#[allow(clippy::useless_conversion)]
fn host_syscall_numbers_match_libc() {
    let host = Arch::host().expect("the host architecture is in the table");
    let n = host.syscall_numbers();
    assert_eq!(n.kexec_load, i64::from(libc::SYS_kexec_load));
    #[cfg(not(target_arch = "x86"))]
    assert_eq!(
        n.kexec_file_load,
        Some(i64::from(libc::SYS_kexec_file_load))
    );
}

#[test]
fn generic_table_arches_agree() {
    // arm64, riscv and loongarch share include/uapi/asm-generic/unistd.h.
    let g = Arch::Aarch64.syscall_numbers();
    assert_eq!(Arch::Riscv64.syscall_numbers(), g);
    assert_eq!(Arch::Loongarch64.syscall_numbers(), g);
    for a in Arch::ALL {
        assert_eq!(a.kexec_arch() & !KEXEC_ARCH_MASK, 0, "{a:?}");
        assert_ne!(a.kexec_arch(), 0, "{a:?}");
    }
}
