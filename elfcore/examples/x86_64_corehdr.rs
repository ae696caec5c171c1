//! Builds the `elfcorehdr=` header of an x86_64 machine with 2 CPUs, three RAM ranges and a
//! 256 MiB crash kernel region, and writes it to the file named by the first argument
//! (default `x86_64-corehdr.elf`). `readelf -h -l x86_64-corehdr.elf` shows it.

#![allow(
    clippy::print_stderr,
    reason = "an example program: it tells its user on stderr what it wrote"
)]

use elfcorehdr::{CrashHeaderBuilder, KernelText, NoteBuffer, PhysRange, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "x86_64-corehdr.elf".into());
    let header = CrashHeaderBuilder::new(Target::x86_64())
        // /sys/devices/system/cpu/cpu{0,1}/crash_notes and crash_notes_size
        .cpu_note(NoteBuffer {
            paddr: 0x1_7fa1_8c00,
            size: 0x1b0,
        })
        .cpu_note(NoteBuffer {
            paddr: 0x1_7fa5_8c00,
            size: 0x1b0,
        })
        // /sys/kernel/vmcoreinfo
        .vmcoreinfo(NoteBuffer {
            paddr: 0x0328_5000,
            size: 0x1000,
        })
        // _text .. _end
        .kernel_text(KernelText {
            vaddr: 0xffff_ffff_8100_0000,
            paddr: 0x0100_0000,
            size: 0x0320_0000,
        })
        // System RAM from /proc/iomem
        .ram(PhysRange::from_inclusive(0x1000, 0x9_fbff).ok_or("range")?)
        .ram(PhysRange::from_inclusive(0x10_0000, 0x7ffd_efff).ok_or("range")?)
        .ram(PhysRange::from_inclusive(0x1_0000_0000, 0x1_7fff_ffff).ok_or("range")?)
        // Crash kernel region
        .exclude(PhysRange::from_inclusive(0x6f00_0000, 0x7eff_ffff).ok_or("range")?)
        .build()?;
    std::fs::write(&path, &header)?;
    eprintln!("wrote {} bytes to {path}", header.len());
    Ok(())
}
