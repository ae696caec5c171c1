//! Property tests: build then parse gives back what was built, for every machine × class ×
//! byte order; builders reject bad ranges with typed errors.

mod support;

use elfcorehdr::{
    Class, CrashHeaderBuilder, DecodedNote, DirectMap, DumpFileBuilder, DumpSegment, ElfCore,
    Endian, Error, KernelText, NoteBuffer, NoteWriter, PhysRange, PrPsInfo, PrStatus, Target,
    mark_incomplete, raw,
};
use proptest::prelude::*;

fn target() -> impl Strategy<Value = Target> {
    proptest::sample::select(support::all_targets())
}

/// Sorted, disjoint, non-empty ranges below `1 << bits`.
fn ranges(bits: u32, max: usize) -> impl Strategy<Value = Vec<PhysRange>> {
    let unit = 1u64 << (bits - 22);
    proptest::collection::vec((0u64..(1 << 18), 1u64..(1 << 18)), 0..max).prop_map(move |v| {
        let mut at = 0u64;
        v.into_iter()
            .map(|(gap, len)| {
                let start = at + gap * unit;
                at = start + len * unit;
                PhysRange::new(start, at)
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
struct Spec {
    target: Target,
    cpus: Vec<NoteBuffer>,
    vmcoreinfo: Option<NoteBuffer>,
    text: Option<KernelText>,
    ram: Vec<PhysRange>,
    exclude: Vec<PhysRange>,
    reverse: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    target().prop_flat_map(|target| {
        let bits = match target.class {
            Class::Elf32 => 31,
            Class::Elf64 => 40,
        };
        let note =
            (0u64..(1 << bits), 1u64..0x2000).prop_map(|(paddr, size)| NoteBuffer { paddr, size });
        (
            Just(target),
            proptest::collection::vec(note.clone(), 0..9),
            proptest::option::of(note),
            proptest::option::of(
                (0u64..(1 << 30), 1u64..(1 << 26)).prop_map(|(paddr, size)| KernelText {
                    vaddr: 0xc000_0000 + paddr / 4,
                    paddr,
                    size,
                }),
            ),
            ranges(bits, 8),
            proptest::collection::vec(
                (0u64..(1 << bits), 1u64..(1 << (bits - 4)))
                    .prop_map(|(s, l)| PhysRange::new(s, s + l)),
                0..4,
            ),
            any::<bool>(),
        )
            .prop_map(
                |(target, cpus, vmcoreinfo, text, ram, exclude, reverse)| Spec {
                    target,
                    cpus,
                    vmcoreinfo,
                    text,
                    ram,
                    exclude,
                    reverse,
                },
            )
    })
}

fn builder(s: &Spec) -> CrashHeaderBuilder {
    let mut ram = s.ram.clone();
    if s.reverse {
        ram.reverse();
    }
    let mut b = CrashHeaderBuilder::new(s.target)
        .cpu_notes(s.cpus.iter().copied())
        .ram_ranges(ram)
        .direct_map(DirectMap {
            virt_base: match s.target.class {
                Class::Elf32 => 0x4000_0000,
                Class::Elf64 => 0xffff_0000_0000_0000,
            },
            phys_base: 0,
            phys_limit: Some(0x8000_0000),
        });
    if let Some(v) = s.vmcoreinfo {
        b = b.vmcoreinfo(v);
    }
    if let Some(t) = s.text {
        b = b.kernel_text(t);
    }
    for x in &s.exclude {
        b = b.exclude(*x);
    }
    b
}

/// Bytes of `ranges` (which may overlap each other) inside `r`.
fn covered(r: PhysRange, ranges: &[PhysRange]) -> u64 {
    let mut cut: Vec<PhysRange> = ranges
        .iter()
        .filter(|x| x.start < r.end && x.end > r.start)
        .map(|x| PhysRange::new(x.start.max(r.start), x.end.min(r.end)))
        .collect();
    cut.sort();
    let (mut total, mut at) = (0, r.start);
    for x in cut {
        let s = x.start.max(at);
        if x.end > s {
            total += x.end - s;
            at = x.end;
        }
    }
    total
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn crash_header_round_trips(s in spec()) {
        let b = builder(&s);
        let built = b.program_headers().unwrap();
        let bytes = b.build().unwrap();
        prop_assert_eq!(bytes.len() % 4096, 0);
        prop_assert!(bytes.len() as u64 <= b.size_bound().unwrap());
        let core = ElfCore::parse(&bytes).unwrap();
        let h = core.header();
        prop_assert_eq!(h.class, s.target.class);
        prop_assert_eq!(h.endian, s.target.endian);
        prop_assert_eq!(h.machine, s.target.machine);
        prop_assert_eq!(h.e_type, raw::ET_CORE);
        prop_assert_eq!(h.phoff, s.target.class.ehdr_size() as u64);
        prop_assert!(bytes.len() as u64 >= h.tables_end().unwrap());
        let parsed: Vec<_> = core.program_headers().collect();
        prop_assert_eq!(&parsed, &built);

        // Notes first, in CPU order, then VMCOREINFO; p_offset = p_paddr.
        let notes: Vec<_> = parsed.iter().filter(|p| p.is_note()).collect();
        let want: Vec<_> = s.cpus.iter().chain(s.vmcoreinfo.iter()).collect();
        prop_assert_eq!(notes.len(), want.len());
        for (p, n) in notes.iter().zip(want) {
            prop_assert_eq!((p.offset, p.paddr, p.memsz), (n.paddr, n.paddr, n.size));
        }
        // The RAM loads are the RAM minus the exclusions, exactly.
        let loads: Vec<_> = parsed.iter().filter(|p| p.is_load()).skip(usize::from(s.text.is_some())).collect();
        let mut dumped = 0;
        for (i, p) in loads.iter().enumerate() {
            prop_assert_eq!(p.offset, p.paddr);
            prop_assert!(p.filesz > 0 && p.filesz == p.memsz);
            let r = PhysRange::new(p.paddr, p.paddr + p.memsz);
            prop_assert!(s.ram.iter().any(|x| x.start <= r.start && r.end <= x.end));
            prop_assert_eq!(covered(r, &s.exclude), 0);
            if i > 0 {
                prop_assert!(loads[i - 1].paddr + loads[i - 1].memsz <= p.paddr);
            }
            let want_v = if p.paddr < 0x8000_0000 {
                let base: u64 = match s.target.class { Class::Elf32 => 0x4000_0000, Class::Elf64 => 0xffff_0000_0000_0000 };
                base + p.paddr
            } else {
                s.target.class.max_value()
            };
            prop_assert_eq!(p.vaddr, want_v);
            dumped += r.len();
        }
        let expected: u64 = s.ram.iter().map(|r| r.len() - covered(*r, &s.exclude)).sum();
        prop_assert_eq!(dumped, expected);
    }

    #[test]
    fn dump_file_round_trips(
        t in target(),
        segs in proptest::collection::vec((any::<u32>(), any::<u32>(), 0u64..0x10_0000, 0u64..0x1000), 0..12),
        regs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 512), 0..4),
        vmcoreinfo in "[A-Z()_.a-z0-9]{1,20}=[0-9a-f]{1,16}(\n[A-Z()_.a-z0-9]{1,20}=[0-9a-f]{1,16}){0,20}\n",
        incomplete in any::<bool>(),
        align_shift in 0u32..17,
    ) {
        // Registers: any bytes decode; encoding what was decoded decodes the same.
        let mut cpus = Vec::new();
        let mut w = NoteWriter::new(t.endian);
        for r in &regs {
            let p = PrStatus::parse(r, t.machine, t.endian).unwrap();
            w.push(b"CORE", 1, &p.to_bytes(t.endian)).unwrap();
            cpus.push(p);
        }
        let info = PrPsInfo::parse(&[7u8; 256], t.machine, t.endian).unwrap();
        w.push(b"CORE", 3, &info.to_bytes(t.machine, t.endian).unwrap()).unwrap();
        w.push(b"VMCOREINFO", 0, vmcoreinfo.as_bytes()).unwrap();
        let notes = w.into_bytes();
        let segments: Vec<_> = segs.iter().map(|&(v, p, f, extra)| DumpSegment {
            flags: v & 7,
            align: u64::from(p % 3) << 12,
            ..DumpSegment::new(u64::from(v), u64::from(p), f, f + extra)
        }).collect();
        let dump = DumpFileBuilder::new(t)
            .segments(segments.iter().copied())
            .incomplete(incomplete)
            .data_align(1 << align_shift)
            .build(&notes)
            .unwrap();
        let core = ElfCore::parse(&dump.bytes).unwrap();
        prop_assert_eq!(core.header().is_incomplete(), incomplete);
        let phdrs: Vec<_> = core.program_headers().collect();
        prop_assert_eq!(phdrs.len(), segments.len() + 1);
        prop_assert_eq!(phdrs[0], dump.note);
        prop_assert_eq!(&phdrs[1..], &dump.segments[..]);
        prop_assert_eq!(core.segment_data(&phdrs[0]).unwrap(), &notes[..]);
        let mut offset = dump.bytes.len() as u64;
        prop_assert_eq!(offset % (1u64 << align_shift), 0);
        for (p, s) in phdrs[1..].iter().zip(&segments) {
            prop_assert_eq!((p.vaddr, p.paddr, p.filesz, p.memsz), (s.vaddr, s.paddr, s.filesz, s.memsz));
            prop_assert_eq!((p.flags, p.align), (s.flags, s.align));
            prop_assert_eq!(DumpSegment::from_program_header(p), *s);
            prop_assert_eq!(p.offset, offset);
            offset += p.filesz;
        }
        prop_assert_eq!(offset, dump.file_size);

        let mut got_cpus = Vec::new();
        let mut saw_info = false;
        let mut saw_vmcoreinfo = false;
        for n in core.notes() {
            match n.unwrap().decode(t.machine, t.endian).unwrap() {
                DecodedNote::PrStatus(p) => got_cpus.push(p),
                DecodedNote::PrPsInfo(p) => { prop_assert_eq!(p, info); saw_info = true; }
                DecodedNote::VmcoreInfo(v) => {
                    prop_assert_eq!(v.as_str(), vmcoreinfo.as_str());
                    prop_assert_eq!(v.entries().count(), vmcoreinfo.lines().count());
                    saw_vmcoreinfo = true;
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(got_cpus, cpus);
        prop_assert!(saw_info && saw_vmcoreinfo);

        let mut marked = dump.bytes.clone();
        mark_incomplete(&mut marked).unwrap();
        prop_assert!(ElfCore::parse(&marked).unwrap().header().is_incomplete());
    }

    #[test]
    fn empty_ranges_are_rejected(t in target(), start in any::<u64>(), back in 0u64..4) {
        let end = start.saturating_sub(back);
        let err = CrashHeaderBuilder::new(t).ram(PhysRange::new(start, end)).build().unwrap_err();
        prop_assert_eq!(err, Error::EmptyRange { what: "RAM range", start, end });
        let err = CrashHeaderBuilder::new(t)
            .ram(PhysRange::new(0, 0x1000))
            .exclude(PhysRange::new(start, end))
            .direct_map(DirectMap { virt_base: 0, phys_base: 0, phys_limit: None })
            .build()
            .unwrap_err();
        prop_assert_eq!(err, Error::EmptyRange { what: "excluded range", start, end });
    }

    #[test]
    fn overlapping_ram_is_rejected(t in target(), a in 0u64..1 << 30, len in 2u64..1 << 20, cut in 1u64..1 << 20) {
        let cut = cut.min(len - 1);
        let first = PhysRange::new(a, a + len);
        let second = PhysRange::new(a + len - cut, a + 2 * len);
        let err = CrashHeaderBuilder::new(t).ram(second).ram(first).build().unwrap_err();
        prop_assert_eq!(err, Error::OverlappingRanges {
            first_start: first.start, first_end: first.end,
            second_start: second.start, second_end: second.end,
        });
    }
}

#[test]
fn phnum_stays_below_pn_xnum() {
    let cpu = NoteBuffer {
        paddr: 0x1000,
        size: 0x100,
    };
    let max = u64::from(raw::PN_XNUM) - 1;
    let ok = CrashHeaderBuilder::new(Target::x86_64()).cpu_notes(std::iter::repeat_n(cpu, 0xfffe));
    let bytes = ok.build().unwrap();
    assert_eq!(
        ElfCore::parse(&bytes).unwrap().program_header_count(),
        0xfffe
    );
    assert_eq!(bytes.len(), (64 + 0xfffe * 56usize).div_ceil(4096) * 4096);
    let too_many = ok.cpu_note(cpu);
    assert_eq!(
        too_many.build(),
        Err(Error::TooManyProgramHeaders { count: 0xffff, max })
    );
    let spare = CrashHeaderBuilder::new(Target::x86_64())
        .cpu_note(cpu)
        .spare_program_headers(0xfffe);
    assert_eq!(
        spare.build(),
        Err(Error::TooManyProgramHeaders { count: 0xffff, max })
    );
}

#[test]
fn spare_headers_grow_the_buffer_not_phnum() {
    let cpu = NoteBuffer {
        paddr: 0x1000,
        size: 0x100,
    };
    let bytes = CrashHeaderBuilder::new(Target::x86_64())
        .cpu_note(cpu)
        .spare_program_headers(100)
        .build()
        .unwrap();
    assert_eq!(bytes.len(), 8192);
    assert_eq!(ElfCore::parse(&bytes).unwrap().program_header_count(), 1);
}

#[test]
fn elf32_rejects_wide_addresses() {
    let err = CrashHeaderBuilder::new(Target::i386())
        .ram(PhysRange::new(0x1_0000_0000, 0x1_8000_0000))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        Error::TooLargeForElf32 {
            what: "p_offset",
            value: 0x1_0000_0000
        }
    );
}

#[test]
fn direct_map_defaults() {
    // x86_64 and i386 have fixed maps; i386 highmem gets all ones.
    let h = CrashHeaderBuilder::new(Target::i386())
        .ram(PhysRange::new(0x10_0000, 0x3800_0000))
        .ram(PhysRange::new(0x3800_0000, 0x8000_0000))
        .program_headers()
        .unwrap();
    assert_eq!(h[0].vaddr, 0xc010_0000);
    assert_eq!(h[1].vaddr, 0xffff_ffff);
    // aarch64 needs the caller's map.
    let err = CrashHeaderBuilder::new(Target::aarch64())
        .ram(PhysRange::new(0x4000_0000, 0x8000_0000))
        .build()
        .unwrap_err();
    assert_eq!(err, Error::DirectMapRequired { machine: 183 });
    let h = CrashHeaderBuilder::new(Target::aarch64())
        .ram(PhysRange::new(0x4000_0000, 0x8000_0000))
        .direct_map(DirectMap {
            virt_base: 0xffff_0000_0000_0000,
            phys_base: 0x4000_0000,
            phys_limit: None,
        })
        .program_headers()
        .unwrap();
    assert_eq!(h[0].vaddr, 0xffff_0000_0000_0000);
    let _ = Endian::Big;
}

proptest! {
    #[test]
    fn notes_round_trip(
        big in any::<bool>(),
        notes in proptest::collection::vec(("[A-Za-z]{1,12}", any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..8),
        padding in 0usize..64,
    ) {
        let endian = if big { Endian::Big } else { Endian::Little };
        let mut w = NoteWriter::new(endian);
        for (name, ty, desc) in &notes {
            w.push(name.as_bytes(), *ty, desc).unwrap();
        }
        let mut bytes = w.into_bytes();
        let expected_len: usize = notes.iter().map(|(n, _, d)| elfcorehdr::note_size(n.len(), d.len()).unwrap()).sum();
        prop_assert_eq!(bytes.len(), expected_len);
        // The kernel's per-CPU buffers end in zeros: they end the walk.
        bytes.resize(bytes.len() + padding, 0);
        let got: Vec<_> = elfcorehdr::Notes::with_base(&bytes, endian, 7).map(Result::unwrap).collect();
        prop_assert_eq!(got.len(), notes.len());
        let mut offset = 7;
        for (g, (name, ty, desc)) in got.iter().zip(&notes) {
            prop_assert_eq!(g.name, name.as_bytes());
            prop_assert_eq!(g.n_type, *ty);
            prop_assert_eq!(g.desc, &desc[..]);
            prop_assert_eq!(g.offset, offset);
            offset += elfcorehdr::note_size(name.len(), desc.len()).unwrap() as u64;
        }
    }

    #[test]
    fn vmcoreinfo_values_round_trip(
        sym in "[a-z_]{1,16}", addr in any::<u64>(), size in any::<u64>(), number in any::<i64>(),
        member in "[a-z_]{1,8}", crash in any::<u64>(), koff in any::<u64>(), page in any::<u64>(),
        release in "[0-9a-z.+-]{1,30}",
    ) {
        let text = format!(
            "OSRELEASE={release}\nPAGESIZE={page}\nSYMBOL({sym})={addr:x}\nSIZE({sym})={size}\n\
             OFFSET({sym}.{member})={size}\nLENGTH({sym})={size}\nNUMBER({sym})={number}\n\
             KERNELOFFSET={koff:x}\nCRASHTIME={crash}\nARCH_KEY({sym})=x\n"
        );
        let v = elfcorehdr::VmcoreInfo::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(v.osrelease(), Some(release.as_str()));
        prop_assert_eq!(v.page_size(), Ok(Some(page)));
        prop_assert_eq!(v.symbol(&sym), Ok(Some(addr)));
        prop_assert_eq!(v.size(&sym), Ok(Some(size)));
        prop_assert_eq!(v.offset(&sym, &member), Ok(Some(size)));
        prop_assert_eq!(v.length(&sym), Ok(Some(size)));
        prop_assert_eq!(v.number_value(&sym), Ok(Some(number)));
        prop_assert_eq!(v.kernel_offset(), Ok(Some(koff)));
        prop_assert_eq!(v.crash_time(), Ok(Some(crash)));
        let arch_key = format!("ARCH_KEY({sym})");
        prop_assert_eq!(v.get(elfcorehdr::Key::Other(&arch_key)).map(|e| e.value), Some("x"));
        prop_assert_eq!(v.entries().count(), 10);
    }
}
