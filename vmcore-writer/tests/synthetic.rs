//! Capture synthetic ELF dumps (built with `vmcore_reader::synth`) in every format and codec,
//! and read them back with `vmcore-reader`.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: byte patterns keep the low bits on purpose, and the page size is a small constant"
)]

use elfcorehdr::{NoteWriter, Target};
use proptest::prelude::*;
use vmcore_reader::{Dump, PageState, PhysMemory};
use vmcore_writer::{CaptureOptions, Codec, FlatSink, OutputFormat, VecSink, capture, rebuild};

const PS: u64 = 4096;

fn vmcoreinfo(target: Target) -> Vec<u8> {
    let mut n = NoteWriter::new(target.endian);
    n.push(
        b"VMCOREINFO",
        0,
        b"OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\nCRASHTIME=1700000000\n",
    )
    .unwrap();
    n.as_bytes().to_vec()
}

/// Segments of pages: each page is zero, a pattern, or random.
fn make_dump(target: Target, segs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    vmcore_reader::synth::elf_dump(target, segs, &vmcoreinfo(target))
}

fn pages(kinds: &[u8], seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut x = seed | 1;
    for (i, k) in kinds.iter().enumerate() {
        let mut p = vec![0u8; PS as usize];
        match k % 3 {
            0 => {}
            1 => p
                .iter_mut()
                .enumerate()
                .for_each(|(j, b)| *b = ((i + j / 16) % 251) as u8),
            _ => p.iter_mut().for_each(|b| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }),
        }
        out.extend_from_slice(&p);
    }
    out
}

fn check_same(input: &Dump, out: &Dump, segs: &[(u64, Vec<u8>)], allow_lost: bool) -> (u64, u64) {
    let mut present = 0;
    let mut lost = 0;
    let mut a = vec![0u8; PS as usize];
    let mut b = vec![0u8; PS as usize];
    for (base, data) in segs {
        for p in (0..data.len() as u64).step_by(PS as usize) {
            let pa = base + p;
            input.read_phys(pa, &mut a).unwrap();
            match out.page_state(pa).unwrap() {
                PageState::Present | PageState::Zero => {
                    out.read_phys(pa, &mut b).unwrap();
                    assert_eq!(a, b, "page {pa:#x}");
                    present += 1;
                }
                PageState::Lost | PageState::NotInDump if allow_lost => lost += 1,
                // ELF output at level 1 leaves zero pages out.
                PageState::Excluded if a.iter().all(|&x| x == 0) => {}
                s => panic!("page {pa:#x}: {s:?}"),
            }
        }
    }
    (present, lost)
}

fn codecs() -> [Codec; 5] {
    [
        Codec::None,
        Codec::Zlib,
        Codec::Lzo,
        Codec::Snappy,
        Codec::Zstd,
    ]
}

#[test]
fn every_codec_and_level_reads_back() {
    let segs = vec![
        (0x10_0000, pages(&[1, 0, 2, 1, 0, 0, 2, 1], 7)),
        (0x80_0000, pages(&[2, 2, 0, 1], 9)),
    ];
    let file = make_dump(Target::x86_64(), &segs);
    let input = Dump::from_bytes(file).unwrap();
    for codec in codecs() {
        for level in [0u8, 1] {
            for threads in [1, 3] {
                let opts = CaptureOptions {
                    format: OutputFormat::Kdump(codec),
                    dump_level: level,
                    threads,
                    batch_pages: 2,
                    ..CaptureOptions::default()
                };
                let mut sink = VecSink::default();
                let stats = capture(&input, &opts, &mut sink, &mut |_| {}).unwrap();
                assert!(!stats.incomplete);
                let out = Dump::from_bytes(sink.bytes).unwrap();
                assert!(!out.kdump().unwrap().is_incomplete());
                let (present, _) = check_same(&input, &out, &segs, false);
                assert_eq!(present, 12);
                let zero = if level & 1 != 0 { 4 } else { 0 };
                assert_eq!(stats.excluded.zero, zero, "{codec:?} {level}");
                assert_eq!(out.page_counts().unwrap().zero, zero);
            }
        }
    }
}

#[test]
fn elf_output_drops_zero_pages_at_level_1() {
    let segs = vec![(0x10_0000, pages(&[1, 0, 2, 1, 0, 0, 2, 1], 3))];
    let input = Dump::from_bytes(make_dump(Target::x86_64(), &segs)).unwrap();
    for level in [0u8, 1] {
        let opts = CaptureOptions {
            format: OutputFormat::Elf,
            dump_level: level,
            ..CaptureOptions::default()
        };
        let mut sink = VecSink::default();
        let stats = capture(&input, &opts, &mut sink, &mut |_| {}).unwrap();
        let out = Dump::from_bytes(sink.bytes).unwrap();
        assert_eq!(out.elf().unwrap().header.flags & 1, 0);
        // Short excluded runs stay in (PFN_EXCLUDED), so every page reads back.
        let (present, _) = check_same(&input, &out, &segs, false);
        assert_eq!(present, 8);
        assert_eq!(stats.excluded.zero, if level == 1 { 3 } else { 0 });
    }
}

#[test]
fn flattened_rebuilds_to_the_direct_output() {
    let segs = vec![(0, pages(&[1, 2, 0, 1, 2], 5))];
    let input = Dump::from_bytes(make_dump(Target::aarch64(), &segs)).unwrap();
    for format in [OutputFormat::Kdump(Codec::Zlib), OutputFormat::Elf] {
        let opts = CaptureOptions {
            format,
            dump_level: 1,
            ..CaptureOptions::default()
        };
        let mut direct = VecSink::default();
        capture(&input, &opts, &mut direct, &mut |_| {}).unwrap();
        let mut flat = FlatSink::new(Vec::new(), None);
        capture(&input, &opts, &mut flat, &mut |_| {}).unwrap();
        let stream = flat.into_inner();
        let from_stream = Dump::from_bytes(stream.clone()).unwrap();
        check_same(&input, &from_stream, &segs, false);
        let mut rebuilt = VecSink::default();
        let r = rebuild(&mut &stream[..], &mut rebuilt).unwrap();
        assert!(r.complete);
        assert_eq!(rebuilt.bytes, direct.bytes, "{format:?}");
    }
}

#[test]
fn big_endian_and_32_bit_inputs() {
    for target in [
        Target::s390x(),
        Target::ppc64(),
        Target::i386(),
        Target::arm(),
    ] {
        let segs = vec![(0x20_0000, pages(&[1, 0, 2], 11))];
        let input = Dump::from_bytes(make_dump(target, &segs)).unwrap();
        let opts = CaptureOptions {
            format: OutputFormat::Kdump(Codec::Zstd),
            dump_level: 1,
            ..CaptureOptions::default()
        };
        let mut sink = VecSink::default();
        capture(&input, &opts, &mut sink, &mut |_| {}).unwrap();
        let out = Dump::from_bytes(sink.bytes).unwrap();
        assert_eq!(out.endian(), input.endian(), "{target:?}");
        check_same(&input, &out, &segs, false);
    }
}

#[test]
fn levels_above_1_need_vmcoreinfo_page_data() {
    let segs = vec![(0, pages(&[1], 1))];
    let input = Dump::from_bytes(make_dump(Target::x86_64(), &segs)).unwrap();
    let opts = CaptureOptions {
        dump_level: 31,
        ..CaptureOptions::default()
    };
    let err = capture(&input, &opts, &mut VecSink::default(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("SIZE(page)"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// A size limit leaves a dump that opens, says it is incomplete, and holds exactly the
    /// input's bytes in every page it kept.
    #[test]
    fn limits_leave_readable_incomplete_dumps(
        kinds in proptest::collection::vec(0u8..3, 1..40),
        limit in 4096u64..200_000,
        codec in 0usize..5,
        elf in any::<bool>(),
    ) {
        let segs = vec![(0x10_0000, pages(&kinds, limit))];
        let input = Dump::from_bytes(make_dump(Target::x86_64(), &segs)).unwrap();
        let opts = CaptureOptions {
            format: if elf { OutputFormat::Elf } else { OutputFormat::Kdump(codecs()[codec]) },
            dump_level: 1,
            batch_pages: 3,
            ..CaptureOptions::default()
        };
        let mut sink = VecSink { limit: Some(limit), ..VecSink::default() };
        let Ok(stats) = capture(&input, &opts, &mut sink, &mut |_| {}) else {
            // Not even the header fitted.
            return Ok(());
        };
        prop_assert!(sink.bytes.len() as u64 <= limit);
        if !stats.incomplete {
            let out = Dump::from_bytes(sink.bytes).unwrap();
            check_same(&input, &out, &segs, false);
            return Ok(());
        }
        let Ok(out) = Dump::from_bytes(sink.bytes) else {
            // Cut inside the headers: nothing was claimed written.
            prop_assert_eq!(stats.pages_written, 0);
            return Ok(());
        };
        if let Some(k) = out.kdump() {
            prop_assert!(k.is_incomplete());
            check_same(&input, &out, &segs, true);
        } else {
            prop_assert_eq!(out.elf().unwrap().header.flags & 1, 1);
        }
    }
}

/// A limit that ends the file exactly where the page descriptors start (found by the
/// proptest above): every dumpable page reads as lost, not as a truncated-file error.
#[test]
fn limit_at_the_descriptors_leaves_every_page_lost() {
    let segs = vec![(0x10_0000, pages(&[0; 9], 1))];
    let input = Dump::from_bytes(make_dump(Target::x86_64(), &segs)).unwrap();
    let opts = CaptureOptions {
        format: OutputFormat::Kdump(Codec::None),
        dump_level: 1,
        batch_pages: 3,
        ..CaptureOptions::default()
    };
    let mut sink = VecSink {
        limit: Some(16384),
        ..VecSink::default()
    };
    let stats = capture(&input, &opts, &mut sink, &mut |_| {}).unwrap();
    assert!(stats.incomplete);
    assert_eq!(
        sink.bytes.len(),
        16384,
        "header, sub-header and both bitmaps only"
    );
    let out = Dump::from_bytes(sink.bytes).unwrap();
    assert!(out.kdump().unwrap().is_incomplete());
    let (present, lost) = check_same(&input, &out, &segs, true);
    assert_eq!((present, lost), (0, 9));
}

/// Input pages that cannot be read (here: a file cut short inside its PT_LOAD data, so
/// reads past the cut fail) are recorded as lost, not as zeros; the capture goes on, keeps
/// every readable page and marks the dump incomplete.
#[test]
fn unreadable_input_pages_are_recorded_as_lost() {
    let segs = vec![(0x10_0000, pages(&[1, 2, 1, 2, 1, 2, 1, 2], 21))];
    let mut file = make_dump(Target::x86_64(), &segs);
    let cut = file.len() - 3 * 4096 - 100;
    file.truncate(cut);
    let input = Dump::from_bytes(file).unwrap();
    for format in [OutputFormat::Kdump(Codec::Lzo), OutputFormat::Elf] {
        let opts = CaptureOptions {
            format,
            dump_level: 0,
            threads: 2,
            batch_pages: 1,
            ..CaptureOptions::default()
        };
        let mut sink = VecSink::default();
        let stats = capture(&input, &opts, &mut sink, &mut |_| {}).unwrap();
        assert_eq!(stats.pages_unreadable, 4, "{format:?}");
        assert!(stats.incomplete);
        let out = Dump::from_bytes(sink.bytes).unwrap();
        let mut b = vec![0u8; 4096];
        for (i, page) in segs[0].1.chunks(4096).enumerate() {
            let pa = 0x10_0000 + i as u64 * 4096;
            if let Some(k) = out.kdump() {
                assert!(k.is_incomplete());
                if i < 4 {
                    out.read_phys(pa, &mut b).unwrap();
                    assert_eq!(b, page);
                } else {
                    assert_eq!(out.page_state(pa).unwrap(), PageState::Lost, "{pa:#x}");
                }
            } else {
                // ELF cannot mark single pages: the file says incomplete (e_flags).
                assert_eq!(out.elf().unwrap().header.flags & 1, 1);
                if i < 4 {
                    out.read_phys(pa, &mut b).unwrap();
                    assert_eq!(b, page);
                }
            }
        }
    }
}
