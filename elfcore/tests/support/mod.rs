//! Shared helpers of the integration tests: the target matrix and sample inputs.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use elfcorehdr::{
    Class, CrashHeaderBuilder, DirectMap, DumpFileBuilder, DumpFileHeader, DumpSegment, Endian,
    KernelText, Machine, NoteBuffer, NoteWriter, PhysRange, PrStatus, Registers, Target,
};

pub const MACHINES: [Machine; 8] = [
    Machine::X86_64,
    Machine::I386,
    Machine::AARCH64,
    Machine::ARM,
    Machine::PPC64,
    Machine::S390,
    Machine::RISCV,
    Machine::LOONGARCH,
];

/// Every machine × class × byte order.
pub fn all_targets() -> Vec<Target> {
    let mut out = Vec::new();
    for m in MACHINES {
        for c in [Class::Elf32, Class::Elf64] {
            for e in [Endian::Little, Endian::Big] {
                out.push(Target::new(m, c, e));
            }
        }
    }
    out
}

/// The targets as kdump uses them, with a name for golden files.
pub fn named_targets() -> Vec<(&'static str, Target)> {
    vec![
        ("x86_64", Target::x86_64()),
        ("x86_64-elf32", Target::x86_64().with_class(Class::Elf32)),
        ("i386", Target::i386()),
        ("aarch64", Target::aarch64()),
        ("arm", Target::arm()),
        ("ppc64", Target::ppc64()),
        ("ppc64le", Target::ppc64le()),
        ("s390x", Target::s390x()),
        ("riscv64", Target::riscv64()),
        ("loongarch64", Target::loongarch64()),
    ]
}

/// A fixed elfcorehdr= header for `target`: 2 CPUs, VMCOREINFO, three RAM ranges (one split
/// by a crash kernel region), and on x86_64 the kernel text.
pub fn sample_crash_header(target: Target) -> CrashHeaderBuilder {
    let mut b = CrashHeaderBuilder::new(target)
        .cpu_note(NoteBuffer {
            paddr: 0x3fa1_8c00,
            size: 0x1b0,
        })
        .cpu_note(NoteBuffer {
            paddr: 0x3fa5_8c00,
            size: 0x1b0,
        })
        .vmcoreinfo(NoteBuffer {
            paddr: 0x0328_5000,
            size: 0x1000,
        })
        .ram(PhysRange::new(0x1000, 0x9_f000))
        .ram(PhysRange::new(0x10_0000, 0x7ffd_f000))
        .ram(PhysRange::new(0x8000_0000, 0xc000_0000))
        .exclude(PhysRange::new(0x6f00_0000, 0x7f00_0000))
        .direct_map(DirectMap {
            virt_base: match target.class {
                Class::Elf32 => 0xc000_0000,
                Class::Elf64 => 0xffff_8880_0000_0000,
            },
            phys_base: 0,
            phys_limit: match target.class {
                Class::Elf32 => Some(0x3800_0000),
                Class::Elf64 => None,
            },
        });
    if target.machine == Machine::X86_64 {
        b = b.kernel_text(KernelText {
            vaddr: match target.class {
                Class::Elf32 => 0xc100_0000,
                Class::Elf64 => 0xffff_ffff_8100_0000,
            },
            paddr: 0x0100_0000,
            size: 0x0320_0000,
        });
    }
    b
}

/// Note bytes like the merged notes of /proc/vmcore: one NT_PRSTATUS per CPU, VMCOREINFO.
pub fn sample_notes(target: Target, cpus: u64) -> Vec<u8> {
    let mut w = NoteWriter::new(target.endian);
    for cpu in 0..cpus {
        let mut p = PrStatus::new(Registers::zeroed(target.machine).unwrap());
        p.pid = i32::try_from(cpu + 1).unwrap();
        w.push(b"CORE", 1, &p.to_bytes(target.endian)).unwrap();
    }
    w.push(
        b"VMCOREINFO",
        0,
        b"OSRELEASE=6.1.0-41-test\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a13420\nCRASHTIME=1764290000\n",
    )
    .unwrap();
    w.into_bytes()
}

/// A fixed ELF dump file layout for `target`.
pub fn sample_dump(target: Target) -> DumpFileHeader {
    DumpFileBuilder::new(target)
        .segment(DumpSegment::new(0xc000_1000, 0x1000, 0x9_e000, 0x9_e000))
        .segment(DumpSegment::new(
            0xc010_0000,
            0x10_0000,
            0x10_0000,
            0x20_0000,
        ))
        .build(&sample_notes(target, 2))
        .unwrap()
}
