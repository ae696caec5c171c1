//! Synthetic dumps built in the tests: every format, both byte orders, 32- and 64-bit
//! layouts, header versions 1 to 6, the printk ring and x86_64 page tables.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: byte patterns keep the low bits on purpose, and offsets are of small in-memory dumps"
)]

use proptest::prelude::*;
use vmcore_reader::kdump::{ByteOrder, WordSize};
use vmcore_reader::synth::{
    KdumpBuilder, SYNTH_DIRECT_MAP, SynthCodec, SynthKernel, SynthRecord, elf_dump, flatten,
    vmcoreinfo_note,
};
use vmcore_reader::{
    Dump, Error, Excluded, Format, Kernel, LogKind, PageState, PhysMemory, read_log,
};

fn rec(ts: u64, text: &[u8], state: u64) -> SynthRecord {
    SynthRecord {
        ts_nsec: ts,
        text: text.to_vec(),
        level: 6,
        state,
    }
}

fn expected_line(ts: u64, text: &[u8]) -> String {
    let mut s = format!(
        "[{:5}.{:06}] ",
        ts / 1_000_000_000,
        ts % 1_000_000_000 / 1000
    );
    for &c in text {
        if c == b' ' || c.is_ascii_graphic() || matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s.push('\n');
    s
}

fn dmesg_of(bytes: Vec<u8>) -> (Format, String) {
    let dump = Dump::from_bytes(bytes).unwrap();
    let k = Kernel::new(&dump).unwrap();
    let log = read_log(&k).unwrap();
    assert_eq!(log.kind, LogKind::Lockless);
    let mut out = Vec::new();
    log.write_dmesg(&mut out).unwrap();
    (dump.format(), String::from_utf8(out).unwrap())
}

fn records() -> Vec<SynthRecord> {
    let mut v = Vec::new();
    for i in 0..40u64 {
        let text = format!("message {i} {}", "x".repeat((i as usize * 7) % 50));
        v.push(rec(1_000_000 * i + 123_456_789, text.as_bytes(), 2));
    }
    v.push(rec(
        99_000_000_000,
        b"ctl \x01\x7f\xff tab\there\nsecond line",
        2,
    ));
    v.push(rec(99_500_000_000, b"", 2));
    v.push(rec(100_000_000_000, b"committed only", 1));
    v.push(rec(101_000_000_000, b"still being written", 0));
    v
}

#[test]
fn lockless_ring_reads_like_vmcore_dmesg_from_every_format() {
    let recs = records();
    // 16 descriptors, 1 KiB of text: the oldest records are gone and the text ring wraps.
    let k = SynthKernel::new(&recs, 4, 10);
    let kept = &recs[recs.len() - 16..];
    let expected: String = kept
        .iter()
        .filter(|r| r.state != 0)
        .map(|r| expected_line(r.ts_nsec, &r.text))
        .collect();
    let (f, elf) = dmesg_of(k.elf());
    assert_eq!(f, Format::Elf);
    // Text blocks that the wrapped ring has overwritten are the kernel's problem, not ours:
    // the ring holds 1 KiB, so only records whose data survives are compared line by line.
    let got: Vec<&str> = elf.lines().collect();
    let want: Vec<&str> = expected.lines().collect();
    assert_eq!(got.len(), want.len(), "{elf}");
    let intact = got.iter().zip(&want).filter(|(a, b)| a == b).count();
    assert!(intact >= want.len() - 4, "{elf}\n---\n{expected}");
    assert!(elf.contains("ctl \\x01\\x7f\\xff tab\there\nsecond line\n"));
    assert!(elf.contains("[   99.500000] \n"));
    assert!(elf.contains("committed only"));
    assert!(!elf.contains("still being written"));
    for codec in [
        SynthCodec::Raw,
        SynthCodec::Zlib,
        SynthCodec::Snappy,
        SynthCodec::Zstd,
    ] {
        let kd = k.kdump(codec);
        let (f, text) = dmesg_of(kd.clone());
        assert_eq!(f, Format::Kdump);
        assert_eq!(text, elf, "{codec:?}");
        let (f, text) = dmesg_of(flatten(&kd, 3000));
        assert_eq!(f, Format::FlattenedKdump);
        assert_eq!(text, elf);
    }
    let (f, text) = dmesg_of(flatten(&k.elf(), 5000));
    assert_eq!(f, Format::FlattenedElf);
    assert_eq!(text, elf);
}

#[test]
fn a_ring_that_does_not_wrap_gives_every_record_exactly() {
    let recs: Vec<SynthRecord> = records().into_iter().take(10).collect();
    let k = SynthKernel::new(&recs, 5, 14);
    let expected: String = recs
        .iter()
        .map(|r| expected_line(r.ts_nsec, &r.text))
        .collect();
    assert_eq!(dmesg_of(k.elf()).1, expected);
    let dump = Dump::from_bytes(k.elf()).unwrap();
    let kern = Kernel::new(&dump).unwrap();
    let log = read_log(&kern).unwrap();
    assert_eq!(log.records[3].seq, Some(3));
    assert_eq!(log.records[3].level, Some(6));
    assert_eq!(log.records[3].caller_id, Some(3));
    assert_eq!(log.records[3].flags, Some(2));
    assert!(!log.records[3].is_continuation());
}

#[test]
fn x86_64_page_walk_handles_1g_2m_and_4k_pages() {
    let k = SynthKernel::new(&records()[..3], 4, 12);
    let dump = Dump::from_bytes(k.elf()).unwrap();
    let kern = Kernel::new(&dump).unwrap();
    assert_eq!(
        kern.translate(SYNTH_DIRECT_MAP + 0x123).unwrap(),
        0x4000_0123
    );
    assert_eq!(
        kern.translate(SYNTH_DIRECT_MAP + (1 << 30) + 0x1234)
            .unwrap(),
        0x100_1234
    );
    assert_eq!(
        kern.translate(SYNTH_DIRECT_MAP + (1 << 30) + (2 << 20) + 5 * 4096 + 7)
            .unwrap(),
        0x100_5007
    );
    // The span runs to the end of the page that maps the address: 1 GiB, 2 MiB, 4 KiB.
    assert_eq!(
        kern.translate_span(SYNTH_DIRECT_MAP + 0x123).unwrap(),
        (0x4000_0123, (1 << 30) - 0x123)
    );
    assert_eq!(
        kern.translate_span(SYNTH_DIRECT_MAP + (1 << 30) + 0x1234)
            .unwrap(),
        (0x100_1234, (2 << 20) - 0x1234)
    );
    assert_eq!(
        kern.translate_span(SYNTH_DIRECT_MAP + (1 << 30) + (2 << 20) + 5 * 4096 + 7)
            .unwrap(),
        (0x100_5007, 4096 - 7)
    );
    assert!(matches!(
        kern.translate(SYNTH_DIRECT_MAP + (2 << 30)),
        Err(Error::NotMapped { level: 3, .. })
    ));
    assert!(matches!(
        kern.translate(0xffff_9000_0000_0000),
        Err(Error::NotMapped { level: 4, .. })
    ));
    // Reading through the direct map and through the kernel-text map gives the same bytes.
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    kern.read_virt(SYNTH_DIRECT_MAP + (1 << 30) + (2 << 20) + 0x1000, &mut a)
        .unwrap();
    kern.read_virt(0xffff_ffff_8100_1000, &mut b).unwrap();
    assert_eq!(a, b);
}

fn page(pfn: u64, seed: u8) -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(pfn as u8))
        .collect()
}

#[test]
fn kdump_pages_zero_excluded_holes_and_incomplete() {
    let mut b = KdumpBuilder::new(64);
    b.shared_zero = true;
    b.codec = SynthCodec::Zlib;
    for pfn in 0..40 {
        b.blocks.insert(pfn, Some(page(pfn, 3)));
    }
    b.blocks.insert(41, Some(vec![0; 4096]));
    b.blocks.insert(42, None);
    b.blocks.insert(43, Some(page(43, 5)));
    let dump = Dump::from_bytes(b.build()).unwrap();
    assert_eq!(dump.page_state(5 * 4096).unwrap(), PageState::Present);
    assert_eq!(dump.page_state(41 * 4096).unwrap(), PageState::Zero);
    assert_eq!(dump.page_state(42 * 4096).unwrap(), PageState::Excluded);
    assert_eq!(dump.page_state(50 * 4096).unwrap(), PageState::NotInDump);
    let mut buf = vec![0u8; 4096];
    dump.read_phys(43 * 4096, &mut buf).unwrap();
    assert_eq!(buf, page(43, 5));
    assert!(
        matches!(dump.read_phys(42 * 4096 + 8, &mut buf[..8]), Err(Error::Excluded { paddr }) if paddr == 42 * 4096 + 8)
    );
    dump.read_phys_with(42 * 4096, &mut buf, Excluded::Fill(0xa5))
        .unwrap();
    assert!(buf.iter().all(|&x| x == 0xa5));
    // A read across a page boundary.
    let mut cross = vec![0u8; 100];
    dump.read_phys(6 * 4096 - 50, &mut cross).unwrap();
    assert_eq!(&cross[..50], &page(5, 3)[4046..]);
    assert_eq!(&cross[50..], &page(6, 3)[..50]);
    let counts = dump.page_counts().unwrap();
    assert_eq!(
        (counts.present, counts.zero, counts.excluded, counts.lost),
        (41, 1, 1, 0)
    );
    assert_eq!(
        dump.present_ranges(),
        vec![
            (0, 40 * 4096),
            (41 * 4096, 42 * 4096),
            (43 * 4096, 44 * 4096)
        ]
    );

    b.lost = 2;
    let dump = Dump::from_bytes(b.build()).unwrap();
    assert_eq!(dump.page_state(43 * 4096).unwrap(), PageState::Lost);
    assert!(matches!(
        dump.read_phys(43 * 4096, &mut buf),
        Err(Error::Lost { .. })
    ));
    assert!(dump.kdump().unwrap().is_incomplete());
}

#[test]
fn s390x_shaped_big_endian_header_and_qemu_64k_blocks() {
    let mut b = KdumpBuilder::new(16);
    b.order = ByteOrder::Big;
    b.machine = "s390x".into();
    b.vmcoreinfo = b"OSRELEASE=6.1.0-s390x\nPAGESIZE=4096\n".to_vec();
    b.notes = vmcoreinfo_note(
        elfcorehdr::Endian::Big,
        "OSRELEASE=6.1.0-s390x\nPAGESIZE=4096\n",
    );
    b.blocks.insert(3, Some(page(3, 9)));
    let dump = Dump::from_bytes(b.build()).unwrap();
    let k = dump.kdump().unwrap();
    assert_eq!(k.header.byte_order, ByteOrder::Big);
    assert_eq!(k.header.utsname[4], "s390x");
    assert_eq!(dump.endian(), elfcorehdr::Endian::Big);
    assert_eq!(dump.machine(), elfcorehdr::Machine(22));
    let kern = Kernel::new(&dump).unwrap();
    assert_eq!(kern.info().osrelease(), Some("6.1.0-s390x"));
    assert!(matches!(
        kern.translate(0x1000),
        Err(Error::NoTranslation { .. })
    ));
    let mut buf = vec![0u8; 4096];
    dump.read_phys(3 * 4096, &mut buf).unwrap();
    assert_eq!(buf, page(3, 9));

    // QEMU writes 64 KiB blocks for arm64 guests with 4 KiB pages and "Unknown" as machine.
    let mut b = KdumpBuilder::new(4);
    b.block_size = 65536;
    b.machine = "Unknown".into();
    let big: Vec<u8> = (0..65536u32).map(|i| (i / 7) as u8).collect();
    b.blocks.insert(2, Some(big.clone()));
    b.codec = SynthCodec::Zlib;
    let dump = Dump::from_bytes(b.build()).unwrap();
    assert_eq!(dump.page_size(), 65536);
    let mut buf = vec![0u8; 4096];
    dump.read_phys(2 * 65536 + 4096 * 3, &mut buf).unwrap();
    assert_eq!(buf, &big[4096 * 3..4096 * 4]);
}

fn word_sizes() -> impl Strategy<Value = WordSize> {
    prop_oneof![
        Just(WordSize::Bits64),
        Just(WordSize::Bits32Packed),
        Just(WordSize::Bits32Padded)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn kdump_build_then_read(
        big in any::<bool>(),
        ws in word_sizes(),
        version in 1u32..=6,
        codec in prop_oneof![Just(SynthCodec::Raw), Just(SynthCodec::Zlib), Just(SynthCodec::Snappy), Just(SynthCodec::Zstd)],
        states in proptest::collection::vec(0u8..4, 1..80),
        seed in any::<u8>(),
    ) {
        let mut b = KdumpBuilder::new(states.len() as u64);
        b.order = if big { ByteOrder::Big } else { ByteOrder::Little };
        b.word_size = ws;
        b.machine = match ws { WordSize::Bits64 => "ppc64", WordSize::Bits32Packed => "i686", WordSize::Bits32Padded => "armv7l" }.into();
        b.header_version = version;
        b.codec = codec;
        b.shared_zero = true;
        b.vmcoreinfo = b"OSRELEASE=6.1.0\nPAGESIZE=4096\n".to_vec();
        for (pfn, s) in states.iter().enumerate() {
            let pfn = pfn as u64;
            match s {
                0 => {}
                1 => { b.blocks.insert(pfn, None); }
                2 => { b.blocks.insert(pfn, Some(vec![0; 4096])); }
                _ => { b.blocks.insert(pfn, Some(page(pfn, seed | 1))); }
            }
        }
        let file = b.build();
        for bytes in [file.clone(), flatten(&file, 777)] {
            let dump = Dump::from_bytes(bytes).unwrap();
            let k = dump.kdump().unwrap();
            prop_assert_eq!(k.header.header_version, version);
            prop_assert_eq!(k.header.word_size, ws);
            prop_assert_eq!(dump.vmcoreinfo_bytes().unwrap().is_some(), version >= 3);
            let mut buf = vec![0u8; 4096];
            for (pfn, s) in states.iter().enumerate() {
                let paddr = pfn as u64 * 4096;
                let r = dump.read_phys(paddr, &mut buf);
                match s {
                    0 => { let ok = matches!(r, Err(Error::NotInDump { .. })); prop_assert!(ok); }
                    1 => { let ok = matches!(r, Err(Error::Excluded { .. })); prop_assert!(ok); }
                    2 => { r.unwrap(); prop_assert!(buf.iter().all(|&x| x == 0)); prop_assert_eq!(dump.page_state(paddr).unwrap(), PageState::Zero); }
                    _ => { r.unwrap(); prop_assert_eq!(&buf, &page(pfn as u64, seed | 1)); }
                }
            }
        }
    }

    #[test]
    fn elf_build_then_read(big in any::<bool>(), class32 in any::<bool>(), segs in proptest::collection::vec((0u64..64, 1u64..4), 1..6)) {
        let mut target = if big { elfcorehdr::Target::s390x() } else { elfcorehdr::Target::x86_64() };
        if class32 { target = target.with_class(elfcorehdr::Class::Elf32); }
        let mut segments = Vec::new();
        let mut next = 0u64;
        for (gap, pages) in &segs {
            let start = (next + gap) * 4096;
            let data: Vec<u8> = (0..pages * 4096).map(|i| ((i / 4096) as u8) ^ (start >> 12) as u8 ^ (i as u8)).collect();
            segments.push((start, data));
            next = start / 4096 + pages;
        }
        let file = elf_dump(target, &segments, &vmcoreinfo_note(target.endian, "PAGESIZE=4096\n"));
        for bytes in [file.clone(), flatten(&file, 1000)] {
            let dump = Dump::from_bytes(bytes).unwrap();
            for (start, data) in &segments {
                let mut buf = vec![0u8; data.len()];
                dump.read_phys(*start, &mut buf).unwrap();
                prop_assert_eq!(&buf, data);
                if *start > 0 && !segments.iter().any(|(s, d)| s + d.len() as u64 == *start) {
                    let ok = matches!(dump.read_phys(start - 1, &mut buf[..1]), Err(Error::NotInDump { .. })); prop_assert!(ok);
                }
            }
        }
    }

    #[test]
    fn hostile_bytes_never_panic(mut file in Just(SynthKernel::new(&records()[..4], 3, 10).kdump(SynthCodec::Zlib)), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        for (at, v) in flips {
            let i = at.index(file.len().min(20_000));
            file[i] = v;
        }
        let _ = vmcore_reader::fuzz::open_and_read(&file);
        let _ = vmcore_reader::fuzz::open_and_read(&flatten(&file, 4096));
    }
}

#[test]
fn truncated_files_are_typed_errors() {
    let k = SynthKernel::new(&records()[..4], 3, 10);
    for file in [
        k.kdump(SynthCodec::Raw),
        k.elf(),
        flatten(&k.kdump(SynthCodec::Raw), 4096),
    ] {
        for cut in [0usize, 10, 100, 500, 4096, 5000, 9000] {
            let r = Dump::from_bytes(file[..cut.min(file.len())].to_vec());
            assert!(r.is_err() || cut >= 4096, "cut at {cut} opened");
        }
    }
    assert!(matches!(
        Dump::from_bytes(vec![0u8; 64]),
        Err(Error::UnknownFormat { .. })
    ));
}

#[test]
fn hostile_p_memsz_is_counted_not_walked() {
    let notes = vmcoreinfo_note(elfcorehdr::Endian::Little, "PAGESIZE=4096\n");
    let header = elfcorehdr::DumpFileBuilder::new(elfcorehdr::Target::x86_64())
        .segment(elfcorehdr::DumpSegment::new(
            0,
            0x1000,
            0x1000,
            u64::MAX - 0x2000,
        ))
        .build(&notes)
        .unwrap();
    let mut file = header.bytes;
    file.resize(file.len() + 0x1000, 1);
    let dump = Dump::from_bytes(file).unwrap();
    let c = dump.page_counts().unwrap();
    assert_eq!(c.present, 1);
    assert_eq!(c.excluded, (u64::MAX - 0x3000).div_ceil(4096));
}

#[test]
fn mapped_and_positioned_reads_agree_on_files() {
    let k = SynthKernel::new(&records(), 4, 10);
    let dir = std::env::temp_dir().join(format!("vmcore-reader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in [
        ("a.elf", k.elf()),
        ("a.kdump", k.kdump(SynthCodec::Zlib)),
        ("a.flat", flatten(&k.kdump(SynthCodec::Raw), 4096)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, &bytes).unwrap();
        let mapped = Dump::open(&p).unwrap();
        let read = Dump::open_read(&p).unwrap();
        let memory = Dump::from_bytes(bytes).unwrap();
        assert_eq!(mapped.format(), read.format());
        for paddr in (0x100_0000u64..0x120_0000).step_by(0x3_3000) {
            let (mut a, mut b, mut c) = ([0u8; 300], [0u8; 300], [0u8; 300]);
            mapped.read_phys(paddr, &mut a).unwrap();
            read.read_phys(paddr, &mut b).unwrap();
            memory.read_phys(paddr, &mut c).unwrap();
            assert_eq!(a, b);
            assert_eq!(a, c);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        Dump::open(dir.join("missing")),
        Err(Error::Io { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_ring_that_fits_prints_every_committed_record(
        recs in proptest::collection::vec((any::<u64>(), proptest::collection::vec(any::<u8>(), 0..120), 0u64..3), 1..30),
    ) {
        let recs: Vec<SynthRecord> = recs.into_iter().map(|(ts, text, state)| rec(ts >> 8, &text, state)).collect();
        // 64 descriptors and 16 KiB of text: nothing is overwritten.
        let k = SynthKernel::new(&recs, 6, 14);
        let expected: String = recs.iter().filter(|r| r.state != 0).map(|r| expected_line(r.ts_nsec, &r.text)).collect();
        let dump = Dump::from_bytes(k.kdump(SynthCodec::Zlib)).unwrap();
        let log = read_log(&Kernel::new(&dump).unwrap()).unwrap();
        let mut out = Vec::new();
        log.write_dmesg(&mut out).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&out), expected);
    }
}

#[test]
fn x86_64_five_level_paging() {
    let mut k = SynthKernel::new(&records()[..3], 4, 12);
    // A level-5 table at offset 0x1a4000 whose entry 0x111 points at the 4-level PGD.
    let (root5, pgd) = (0x1a_4000usize, 0x1a_0000u64);
    let entry = (0x100_0000 + pgd) | 0x63;
    k.memory[root5 + 0x111 * 8..root5 + 0x111 * 8 + 8].copy_from_slice(&entry.to_le_bytes());
    let text_va = 0xffff_ffff_8100_0000u64 + root5 as u64;
    k.vmcoreinfo = k
        .vmcoreinfo
        .replace(
            "NUMBER(pgtable_l5_enabled)=0",
            "NUMBER(pgtable_l5_enabled)=1",
        )
        .replace(
            "SYMBOL(init_top_pgt)=ffffffff811a0000",
            &format!("SYMBOL(init_top_pgt)={text_va:x}"),
        );
    let dump = Dump::from_bytes(k.elf()).unwrap();
    let kern = Kernel::new(&dump).unwrap();
    let base = 0xff11_8880_0000_0000u64;
    assert_eq!(kern.translate(base + 0x123).unwrap(), 0x4000_0123);
    assert_eq!(
        kern.translate(base + (1 << 30) + (2 << 20) + 0x2345)
            .unwrap(),
        0x100_2345
    );
    assert!(matches!(
        kern.translate(0xff12_8880_0000_0000),
        Err(Error::NotMapped { level: 5, .. })
    ));
    // The 4-level reading of the same address is not mapped: the level really changed the walk.
    assert!(matches!(
        kern.translate(SYNTH_DIRECT_MAP + 0x123),
        Err(Error::NotMapped { level: 5, .. })
    ));
}

#[test]
fn a_sparse_flattened_stream_is_refused() {
    // One record far beyond the data: a 160 GB "file" from 17 KB of stream.
    let mut s = flatten(
        &SynthKernel::new(&records()[..2], 3, 10).elf()[..4096],
        4096,
    );
    let end = s.len() - 16;
    s.truncate(end);
    s.extend_from_slice(&171_798_694_840i64.to_be_bytes());
    s.extend_from_slice(&8i64.to_be_bytes());
    s.extend_from_slice(&[1; 8]);
    s.extend_from_slice(&(-1i64).to_be_bytes());
    s.extend_from_slice(&(-1i64).to_be_bytes());
    assert!(matches!(Dump::from_bytes(s), Err(Error::TooLarge { .. })));
}

fn byte_at(paddr: u64) -> u8 {
    (paddr.wrapping_mul(0x9e37_79b9) >> 13) as u8
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Overlapping segments (the kernel-text duplicate), shared pages and p_memsz tails,
    /// against a model of which segment covers each address.
    #[test]
    fn overlapping_elf_segments_match_a_model(segs in proptest::collection::vec((0u64..40, 1u64..8, 0u64..8), 1..8), probes in proptest::collection::vec(0u64..(50 * 4096), 32)) {
        let mut b = elfcorehdr::DumpFileBuilder::new(elfcorehdr::Target::x86_64());
        let mut model = Vec::new();
        for &(start, pages, file_pages) in &segs {
            // Start at a byte offset inside the page too: neighbours can share a page.
            let paddr = start * 4096 + (start % 3) * 1000;
            let memsz = pages * 4096;
            let filesz = file_pages.min(pages) * 4096;
            b = b.segment(elfcorehdr::DumpSegment::new(0, paddr, filesz, memsz));
            model.push((paddr, filesz, memsz));
        }
        let header = b.build(&vmcoreinfo_note(elfcorehdr::Endian::Little, "PAGESIZE=4096\n")).unwrap();
        let mut file = header.bytes.clone();
        for &(paddr, filesz, _) in &model {
            file.extend((0..filesz).map(|i| byte_at(paddr + i)));
        }
        let dump = Dump::from_bytes(file).unwrap();
        for p in probes {
            let in_file = model.iter().any(|&(s, f, _)| p >= s && p < s + f);
            let in_mem = model.iter().any(|&(s, _, m)| p >= s && p < s + m);
            let mut one = [0u8; 1];
            match dump.read_phys(p, &mut one) {
                Ok(()) => { prop_assert!(in_file); prop_assert_eq!(one[0], byte_at(p)); }
                Err(Error::Excluded { .. }) => prop_assert!(!in_file && in_mem),
                Err(Error::NotInDump { .. }) => prop_assert!(!in_mem),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}

#[test]
fn a_page_shared_by_two_segments_counts_once() {
    let b = elfcorehdr::DumpFileBuilder::new(elfcorehdr::Target::x86_64())
        .segment(elfcorehdr::DumpSegment::new(0, 0x1000, 0x800, 0x800))
        .segment(elfcorehdr::DumpSegment::new(0, 0x1800, 0x1800, 0x1800));
    let mut file = b
        .build(&vmcoreinfo_note(
            elfcorehdr::Endian::Little,
            "PAGESIZE=4096\n",
        ))
        .unwrap()
        .bytes;
    file.extend(std::iter::repeat_n(0u8, 0x800)); // first half of page 1: zero
    file.extend(std::iter::repeat_n(5u8, 0x800)); // second half of page 1: data
    file.extend(std::iter::repeat_n(0u8, 0x1000)); // page 2: zero
    let dump = Dump::from_bytes(file).unwrap();
    let c = dump.page_counts().unwrap();
    assert_eq!((c.present, c.zero, c.excluded), (1, 1, 0));
    let mut buf = [0u8; 0x1000];
    dump.read_phys(0x1000, &mut buf).unwrap();
    assert!(buf[..0x800].iter().all(|&x| x == 0) && buf[0x800..].iter().all(|&x| x == 5));
}

#[test]
fn flattened_streams_rebuild_to_the_original_file() {
    let k = SynthKernel::new(&records()[..5], 3, 10);
    for file in [k.kdump(SynthCodec::Zlib), k.elf()] {
        let dump = Dump::from_bytes(flatten(&file, 1234)).unwrap();
        let mut rebuilt = Vec::new();
        let n = dump.flattened().unwrap().rebuild(&mut rebuilt).unwrap();
        assert_eq!(n, file.len() as u64);
        assert!(rebuilt == file);
    }
    assert!(Dump::from_bytes(k.elf()).unwrap().flattened().is_none());
}

#[test]
fn big_endian_and_32_bit_kernels_read_through_p_vaddr() {
    let recs: Vec<SynthRecord> = records().into_iter().take(12).collect();
    let expected: String = recs
        .iter()
        .filter(|r| r.state != 0)
        .map(|r| expected_line(r.ts_nsec, &r.text))
        .collect();
    for (target, order, pointer) in [
        (elfcorehdr::Target::s390x(), ByteOrder::Big, 8u64),
        (elfcorehdr::Target::ppc64(), ByteOrder::Big, 8),
        (elfcorehdr::Target::i386(), ByteOrder::Little, 4),
        (
            elfcorehdr::Target::arm().with_class(elfcorehdr::Class::Elf32),
            ByteOrder::Little,
            4,
        ),
    ] {
        let k = SynthKernel::with_layout(&recs, 5, 12, order, pointer);
        let dump = Dump::from_bytes(k.elf_with_vaddr(target, pointer)).unwrap();
        let kern = Kernel::new(&dump).unwrap();
        assert_eq!(kern.pointer_size(), pointer);
        assert!(matches!(
            kern.translation(),
            Some(vmcore_reader::Translation::ElfVaddr(_))
        ));
        let log = read_log(&kern).unwrap();
        let mut out = Vec::new();
        log.write_dmesg(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{target:?}");
        assert_eq!(log.records[2].level, Some(6), "{target:?}");
        assert_eq!(log.records[2].flags, Some(2), "{target:?}");
        // Without p_vaddr there is no translation for these machines.
        let bare = elf_dump(
            target,
            &[(k.base, k.memory.clone())],
            &vmcoreinfo_note(target.endian, &k.vmcoreinfo),
        );
        let dump = Dump::from_bytes(bare).unwrap();
        assert!(matches!(
            read_log(&Kernel::new(&dump).unwrap()),
            Err(Error::NoTranslation { .. })
        ));
    }
}

#[test]
fn x86_64_without_page_table_keys_falls_back_to_p_vaddr() {
    let recs: Vec<SynthRecord> = records().into_iter().take(6).collect();
    let mut k = SynthKernel::new(&recs, 4, 12);
    k.vmcoreinfo = k
        .vmcoreinfo
        .lines()
        .filter(|l| !l.starts_with("SYMBOL(init_top_pgt)"))
        .map(|l| format!("{l}\n"))
        .collect();
    let with_vaddr = Dump::from_bytes(k.elf_with_vaddr(elfcorehdr::Target::x86_64(), 8)).unwrap();
    let kern = Kernel::new(&with_vaddr).unwrap();
    assert!(matches!(
        kern.translation(),
        Some(vmcore_reader::Translation::ElfVaddr(_))
    ));
    assert_eq!(read_log(&kern).unwrap().records.len(), 6);
    let without = Dump::from_bytes(k.elf()).unwrap();
    let err = read_log(&Kernel::new(&without).unwrap()).unwrap_err();
    assert!(err.to_string().contains("SYMBOL(init_top_pgt)"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// VMCOREINFO is input too: any entry replaced by any number gives a log or an error,
    /// never a panic (tests build with overflow checks).
    #[test]
    fn hostile_vmcoreinfo_values_never_panic(which in any::<prop::sample::Index>(), value in prop_oneof![any::<u64>(), 0u64..4096, Just(u64::MAX)], hex in any::<bool>()) {
        let mut k = SynthKernel::new(&records()[..6], 3, 10);
        let lines: Vec<String> = k.vmcoreinfo.lines().map(str::to_owned).collect();
        let i = which.index(lines.len());
        let (key, _) = lines[i].split_once('=').unwrap();
        let v = if hex { format!("{value:x}") } else { value.to_string() };
        let mut out = lines.clone();
        out[i] = format!("{key}={v}");
        k.vmcoreinfo = out.join("\n") + "\n";
        let dump = Dump::from_bytes(k.elf()).unwrap();
        if let Ok(kern) = Kernel::new(&dump) {
            let _ = read_log(&kern);
            let _ = kern.translate(SYNTH_DIRECT_MAP + value % (4 << 30));
        }
    }
}

/// A regular file never maps (another process could truncate it under the mapping and
/// turn a read into SIGBUS), whether opened with `open` or `open_read`; reads still work.
/// Windows themselves (equal to reads, inside one segment and the file) are tested in
/// `dump.rs` on a source that allows them, as `/proc/vmcore` does.
#[test]
fn map_phys_never_maps_a_regular_file() {
    let k = SynthKernel::new(&records()[..3], 4, 12);
    let dir = std::env::temp_dir().join(format!("vmcore-reader-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("elf");
    std::fs::write(&path, k.elf()).unwrap();
    for dump in [Dump::open(&path).unwrap(), Dump::open_read(&path).unwrap()] {
        let ranges = dump.present_ranges();
        assert!(!ranges.is_empty());
        for &(s, e) in &ranges {
            let len = usize::try_from(e - s).unwrap().min(8192);
            assert!(dump.map_phys(s, len).is_none());
            let mut r = vec![0u8; len];
            dump.read_phys(s, &mut r).unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
