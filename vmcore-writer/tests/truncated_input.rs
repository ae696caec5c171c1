//! An ELF dump file cut short (an interrupted `cp /proc/vmcore`): the capture reads what is
//! there and records the rest as lost, as for a truncated kdump file. It used to map a
//! window past the end of the file and die of SIGBUS.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: byte patterns keep the low bits on purpose"
)]

use elfcorehdr::{NoteWriter, Target};
use vmcore_reader::{Dump, PageState, PhysMemory};
use vmcore_writer::{CaptureOptions, Codec, OutputFormat, VecSink, capture};

const PS: usize = 4096;

fn dump_file() -> Vec<u8> {
    let target = Target::x86_64();
    let mut n = NoteWriter::new(target.endian);
    n.push(
        b"VMCOREINFO",
        0,
        b"OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\nCRASHTIME=1700000000\n",
    )
    .unwrap();
    // 16 MiB of non-zero pages in one PT_LOAD at 1 MiB.
    let ram: Vec<u8> = (0..16 << 20).map(|i: usize| (i / PS) as u8 | 1).collect();
    vmcore_reader::synth::elf_dump(target, &[(0x10_0000, ram)], n.as_bytes())
}

#[test]
fn truncated_elf_file_is_captured_as_incomplete() {
    let full = dump_file();
    let reference = Dump::from_bytes(full.clone()).unwrap();
    // Keep the headers and the first 4 MiB of the segment's data.
    let seg_off = reference.elf().unwrap().segments[0].offset;
    let cut = usize::try_from(seg_off).unwrap() + (4 << 20) + 100;
    let path = std::env::temp_dir().join(format!(
        "vmcore-writer-truncated-{}.elf",
        std::process::id()
    ));
    std::fs::write(&path, &full[..cut]).unwrap();
    let dump = Dump::open(&path).unwrap();
    for format in [
        OutputFormat::Kdump(Codec::Lzo),
        OutputFormat::Kdump(Codec::Zlib),
        OutputFormat::Elf,
    ] {
        let opts = CaptureOptions {
            format,
            dump_level: 0,
            ..CaptureOptions::default()
        };
        let mut sink = VecSink::default();
        let stats = capture(&dump, &opts, &mut sink, &mut |_| {}).unwrap();
        assert!(stats.incomplete, "{format:?}: {stats:?}");
        assert_eq!(stats.pages_written, 1024, "{format:?}: {stats:?}");
        assert_eq!(stats.pages_unreadable, 3072, "{format:?}: {stats:?}");
        if format == OutputFormat::Elf {
            continue;
        }
        let out = Dump::from_bytes(sink.bytes).unwrap();
        let mut a = vec![0u8; PS];
        let mut b = vec![0u8; PS];
        for i in 0..4096u64 {
            let pa = 0x10_0000 + i * 4096;
            if i < 1024 {
                reference.read_phys(pa, &mut a).unwrap();
                out.read_phys(pa, &mut b).unwrap();
                assert_eq!(a, b, "{format:?} page {pa:#x}");
            } else {
                assert_eq!(
                    out.page_state(pa).unwrap(),
                    PageState::Lost,
                    "{format:?} {pa:#x}"
                );
            }
        }
    }
    std::fs::remove_file(&path).unwrap();
}

/// The issue's own case: the first 4 MiB of a real `/proc/vmcore` copy, `-l -d 31`.
#[cfg(feature = "fixture-tests")]
#[test]
fn first_4_mib_of_a_proc_vmcore_copy() {
    let dir = std::env::var_os("KDUMP_FIXTURES").expect("KDUMP_FIXTURES names the fixtures");
    let src = std::path::Path::new(&dir).join("dumps/x86_64-kdump-1G/proc-vmcore.elf");
    let mut head = vec![0u8; 4 << 20];
    std::io::Read::read_exact(&mut std::fs::File::open(&src).unwrap(), &mut head).unwrap();
    let path = std::env::temp_dir().join(format!(
        "vmcore-writer-proc-vmcore-head-{}.elf",
        std::process::id()
    ));
    std::fs::write(&path, &head).unwrap();
    let dump = Dump::open(&path).unwrap();
    let opts = CaptureOptions {
        format: OutputFormat::Kdump(Codec::Lzo),
        dump_level: 31,
        ..CaptureOptions::default()
    };
    let mut sink = VecSink::default();
    let stats = capture(&dump, &opts, &mut sink, &mut |_| {}).unwrap();
    assert!(stats.incomplete, "{stats:?}");
    assert!(stats.pages_unreadable > 0, "{stats:?}");
    // What the 4 MiB hold of the first PT_LOAD (file offset 0x2000 on) was written.
    let out = Dump::from_bytes(sink.bytes).unwrap();
    let first = dump.elf().unwrap().segments[0].paddr;
    let (mut a, mut b) = (vec![0u8; PS], vec![0u8; PS]);
    dump.read_phys(first, &mut a).unwrap();
    match out.page_state(first).unwrap() {
        PageState::Present | PageState::Zero => {
            out.read_phys(first, &mut b).unwrap();
            assert_eq!(a, b);
        }
        // -d 31 may leave it out.
        PageState::Excluded => {}
        s => panic!("first page of the first PT_LOAD: {s:?}"),
    }
    std::fs::remove_file(&path).unwrap();
}
