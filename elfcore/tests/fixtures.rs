//! The real dumps made by `cargo xtask fixtures` parse: QEMU's `dump-guest-memory` ELF files,
//! makedumpfile `-E` output and the kernel's own `/proc/vmcore`, x86_64 and arm64.
//!
//! Reads `$KDUMP_FIXTURES/manifest.json`; fails (never skips) when the variable is unset or a
//! listed file is missing. Dumps are large, so only the header tables and the note segments
//! are read, by offset.
#![cfg(feature = "fixture-tests")]
#![allow(
    clippy::print_stderr,
    reason = "the test logs which real dumps it checked (shown with --nocapture)"
)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use elfcorehdr::{
    Class, CrashHeaderBuilder, DecodedNote, DirectMap, DumpFileBuilder, DumpSegment, ElfCore,
    Endian, Error, FileHeader, KernelText, Machine, NoteBuffer, Notes, PhysRange, ProgramHeader,
    Registers, Target, raw,
};
use serde_json::Value;

fn fixtures() -> (PathBuf, Value) {
    let dir = std::env::var_os("KDUMP_FIXTURES")
        .map(PathBuf::from)
        .expect("KDUMP_FIXTURES must name the folder made by `cargo xtask fixtures`");
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let json: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    assert_eq!(json["schema"], 1, "manifest schema");
    (dir, json)
}

fn read_range(file: &mut File, offset: u64, len: u64) -> Vec<u8> {
    let len = usize::try_from(len).expect("length fits in memory");
    assert!(
        len <= 64 << 20,
        "refusing to read {len} bytes of headers or notes"
    );
    let mut buf = vec![0u8; len];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut buf).unwrap();
    buf
}

/// Reads just enough of the file for the header tables.
fn read_headers(file: &mut File) -> Vec<u8> {
    let first = read_range(file, 0, 64);
    let header = FileHeader::parse(&first).expect("ELF file header");
    let mut want = header.tables_end().expect("header tables");
    loop {
        let bytes = read_range(file, 0, want);
        match ElfCore::parse(&bytes) {
            Ok(_) => return bytes,
            Err(Error::Truncated { offset, len, .. }) if offset + len > want => want = offset + len,
            Err(e) => panic!("parsing headers: {e}"),
        }
    }
}

struct Report {
    prstatus: Vec<Registers>,
    qemu_rips: Vec<u64>,
    osrelease: Option<String>,
    loads: usize,
}

fn check_elf(path: &Path, kind: &str, dump: &Value, size: u64) -> Report {
    let arch = dump["arch"].as_str().unwrap();
    let (machine, kernel_floor) = match arch {
        "x86_64" => (Machine::X86_64, 0xffff_8000_0000_0000u64),
        "aarch64" | "arm64" => (Machine::AARCH64, 0xffff_0000_0000_0000u64),
        other => panic!("{}: no expectations for arch {other}", path.display()),
    };
    let mut file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let actual = file.metadata().unwrap().len();
    assert_eq!(
        actual,
        size,
        "{}: size differs from the manifest",
        path.display()
    );
    let headers = read_headers(&mut file);
    let core = ElfCore::parse(&headers).unwrap();
    let h = *core.header();
    assert_eq!(h.e_type, raw::ET_CORE, "{}", path.display());
    assert_eq!(h.machine, machine, "{}", path.display());
    assert_eq!(
        (h.class, h.endian),
        (Class::Elf64, Endian::Little),
        "{}",
        path.display()
    );

    let phdrs: Vec<ProgramHeader> = core.program_headers().collect();
    let loads = phdrs.iter().filter(|p| p.is_load()).count();
    assert!(loads > 0, "{}: no PT_LOAD", path.display());
    for p in phdrs.iter().filter(|p| p.is_load()) {
        assert!(p.filesz <= p.memsz, "{}: {p:?}", path.display());
        let end = p.offset.checked_add(p.filesz).unwrap();
        assert!(
            end <= actual,
            "{}: PT_LOAD past the end of the file: {p:?}",
            path.display()
        );
    }
    let notes: Vec<_> = phdrs.iter().filter(|p| p.is_note()).collect();
    assert!(!notes.is_empty(), "{}: no PT_NOTE", path.display());
    if kind != "qemu-elf" {
        // The kernel and makedumpfile merge all notes into one PT_NOTE, first.
        assert_eq!(notes.len(), 1, "{}", path.display());
        assert!(phdrs[0].is_note(), "{}", path.display());
    }

    let mut report = Report {
        prstatus: Vec::new(),
        qemu_rips: Vec::new(),
        osrelease: None,
        loads,
    };
    for ph in notes {
        let bytes = read_range(&mut file, ph.offset, ph.filesz);
        for note in Notes::with_base(&bytes, h.endian, ph.offset) {
            let note = note.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match note
                .decode(h.machine, h.endian)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            {
                DecodedNote::PrStatus(p) => report.prstatus.push(p.registers),
                DecodedNote::QemuCpuState(q) => {
                    assert_eq!(q.version, 1);
                    report.qemu_rips.push(q.rip);
                }
                DecodedNote::VmcoreInfo(v) => {
                    assert!(
                        report.osrelease.is_none(),
                        "{}: two VMCOREINFO notes",
                        path.display()
                    );
                    report.osrelease = v.osrelease().map(str::to_owned);
                    let page = v.page_size().unwrap().expect("PAGESIZE");
                    assert!(page.is_power_of_two() && page >= 4096);
                    assert!(
                        v.symbol("init_uts_ns")
                            .unwrap()
                            .is_some_and(|a| a >= kernel_floor)
                    );
                    assert!(v.entries().count() > 50);
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        report.osrelease.as_deref(),
        dump["kernel_release"].as_str(),
        "{}: VMCOREINFO OSRELEASE",
        path.display()
    );
    let cpus = usize::try_from(dump["cpus"].as_u64().unwrap()).unwrap();
    for r in &report.prstatus {
        assert_eq!(r.machine(), machine);
    }
    match kind {
        "qemu-elf" => {
            assert_eq!(
                report.prstatus.len(),
                cpus,
                "{}: one NT_PRSTATUS per vCPU",
                path.display()
            );
            if machine == Machine::X86_64 {
                // QEMU's own CPU state agrees with its NT_PRSTATUS, CPU by CPU.
                let rips: Vec<_> = report
                    .prstatus
                    .iter()
                    .map(Registers::instruction_pointer)
                    .collect();
                assert_eq!(report.qemu_rips, rips, "{}", path.display());
            }
        }
        "md-E" => {
            // Copied from the source dump; compared with it in real_elf_dumps_parse.
            assert!(
                (1..=cpus).contains(&report.prstatus.len()),
                "{}",
                path.display()
            );
        }
        _ => {
            // Written by crash_save_cpu at the panic: every CPU was in the kernel.
            assert!(
                (1..=cpus).contains(&report.prstatus.len()),
                "{}: {} NT_PRSTATUS notes for {cpus} CPUs",
                path.display(),
                report.prstatus.len()
            );
            for r in &report.prstatus {
                let ip = r.instruction_pointer();
                assert!(
                    ip >= kernel_floor,
                    "{}: instruction pointer {ip:#x} is not a kernel address",
                    path.display()
                );
                assert!(
                    r.stack_pointer() >= kernel_floor,
                    "{}: stack pointer",
                    path.display()
                );
            }
        }
    }
    report
}

#[test]
fn real_elf_dumps_parse() {
    let (dir, manifest) = fixtures();
    let mut seen: Vec<(String, String)> = Vec::new();
    for dump in manifest["dumps"].as_array().expect("dumps") {
        let mut reports = std::collections::HashMap::new();
        for f in dump["files"].as_array().expect("files") {
            let kind = f["kind"].as_str().unwrap();
            if !matches!(kind, "qemu-elf" | "md-E" | "proc-vmcore") {
                continue;
            }
            assert_eq!(f["format"], "elf");
            let path = dir.join(f["path"].as_str().unwrap());
            assert!(path.is_file(), "listed file missing: {}", path.display());
            let report = check_elf(&path, kind, dump, f["size"].as_u64().unwrap());
            eprintln!(
                "{}: {} PT_LOAD, {} NT_PRSTATUS, OSRELEASE {}",
                path.display(),
                report.loads,
                report.prstatus.len(),
                report.osrelease.as_deref().unwrap_or_default()
            );
            seen.push((dump["arch"].as_str().unwrap().to_owned(), kind.to_owned()));
            reports.insert(kind, report.prstatus);
        }
        // makedumpfile -E carries the registers of the dump it read, unchanged.
        if let Some(md) = reports.get("md-E") {
            let source = reports
                .get("proc-vmcore")
                .or_else(|| reports.get("qemu-elf"));
            if let Some(source) = source {
                assert_eq!(
                    md, source,
                    "{}: md-E registers differ from its source",
                    dump["name"]
                );
            }
        }
    }
    for (arch, kind) in [
        ("x86_64", "qemu-elf"),
        ("aarch64", "qemu-elf"),
        ("x86_64", "proc-vmcore"),
    ] {
        assert!(
            seen.iter().any(|(a, k)| a == arch && k == kind),
            "the manifest has no {kind} dump for {arch}"
        );
    }
}

/// Top-level `System RAM` ranges and `Crash kernel` ranges of an `/proc/iomem` copy.
fn iomem_ranges(text: &str) -> (Vec<PhysRange>, Vec<PhysRange>) {
    let (mut ram, mut crash) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Some((range, name)) = line.split_once(" : ") else {
            continue;
        };
        let nested = range.starts_with(' ');
        let (a, b) = range.trim().split_once('-').expect("iomem range");
        let r = PhysRange::from_inclusive(
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        )
        .unwrap();
        match name.trim() {
            "System RAM" if !nested => ram.push(r),
            "Crash kernel" => crash.push(r),
            _ => {}
        }
    }
    (ram, crash)
}

/// The capture kernel keeps the loader's PT_LOADs (only `p_offset` changes), so the
/// `/proc/vmcore` of a real kdump shows the `elfcorehdr=` kexec-tools built from
/// `/proc/iomem`. Our builder, given the same RAM and crash kernel ranges, makes the same
/// PT_LOADs.
#[test]
fn crash_header_matches_the_kernels_own() {
    let (dir, manifest) = fixtures();
    let mut compared = 0;
    for dump in manifest["dumps"].as_array().expect("dumps") {
        let Some(f) = dump["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == "proc-vmcore")
        else {
            continue;
        };
        if dump["arch"] != "x86_64" {
            continue;
        }
        let iomem = dir.join(dump["iomem"].as_str().expect("iomem"));
        let text =
            std::fs::read_to_string(&iomem).unwrap_or_else(|e| panic!("{}: {e}", iomem.display()));
        let (ram, crash) = iomem_ranges(&text);
        assert!(!ram.is_empty() && !crash.is_empty(), "{}", iomem.display());

        let path = dir.join(f["path"].as_str().unwrap());
        let mut file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let headers = read_headers(&mut file);
        let core = ElfCore::parse(&headers).unwrap();
        let kernel: Vec<ProgramHeader> = core
            .program_headers()
            .filter(ProgramHeader::is_load)
            .collect();
        // The first PT_LOAD is the kernel text map; KASLR moved it and the direct map, so
        // those two facts come from the dump itself, everything else from iomem.
        let text_map = kernel[0];
        assert!(
            text_map.vaddr >= 0xffff_ffff_8000_0000,
            "{}: {text_map:?}",
            path.display()
        );
        let page_offset = kernel[1].vaddr - kernel[1].paddr;
        let ours = CrashHeaderBuilder::new(Target::x86_64())
            .cpu_note(NoteBuffer {
                paddr: 0x1000,
                size: 0x1b0,
            })
            .vmcoreinfo(NoteBuffer {
                paddr: 0x2000,
                size: 0x1000,
            })
            .kernel_text(KernelText {
                vaddr: text_map.vaddr,
                paddr: text_map.paddr,
                size: text_map.memsz,
            })
            .ram_ranges(ram)
            .direct_map(DirectMap {
                virt_base: page_offset,
                phys_base: 0,
                phys_limit: None,
            });
        let ours = crash.into_iter().fold(ours, CrashHeaderBuilder::exclude);
        let built = ours.build().unwrap();
        let ours: Vec<_> = ElfCore::parse(&built)
            .unwrap()
            .program_headers()
            .filter(ProgramHeader::is_load)
            .collect();
        let key = |p: &ProgramHeader| (p.paddr, p.vaddr, p.memsz, p.filesz, p.flags);
        assert_eq!(
            ours.iter().map(key).collect::<Vec<_>>(),
            kernel.iter().map(key).collect::<Vec<_>>(),
            "{}: PT_LOADs differ from the kernel's",
            path.display()
        );
        compared += 1;
    }
    assert!(
        compared > 0,
        "the manifest has no x86_64 proc-vmcore dump to compare with"
    );
}

/// Our dump file builder, given the segments and notes of a makedumpfile `-E` file, writes
/// the same bytes makedumpfile wrote before the first segment's data.
#[test]
fn dump_builder_matches_makedumpfile() {
    let (dir, manifest) = fixtures();
    let mut compared = 0;
    for dump in manifest["dumps"].as_array().expect("dumps") {
        for f in dump["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "md-E")
        {
            let path = dir.join(f["path"].as_str().unwrap());
            let mut file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let size = file.metadata().unwrap().len();
            let headers = read_headers(&mut file);
            let core = ElfCore::parse(&headers).unwrap();
            let h = *core.header();
            let phdrs: Vec<ProgramHeader> = core.program_headers().collect();
            let note = phdrs[0];
            assert!(note.is_note(), "{}", path.display());
            let notes = read_range(&mut file, note.offset, note.filesz);
            let target = Target::new(h.machine, h.class, h.endian)
                .with_flags(h.flags & !raw::DUMP_ELF_INCOMPLETE);
            let ours = DumpFileBuilder::new(target)
                .segments(phdrs[1..].iter().map(DumpSegment::from_program_header))
                .incomplete(h.is_incomplete())
                .build(&notes)
                .unwrap();
            let mut theirs = read_range(&mut file, 0, ours.bytes.len() as u64);
            // makedumpfile copies its input's section header fields (e_shoff, e_shentsize,
            // e_shnum, e_shstrndx: QEMU's input has sections) although it writes none; ours
            // says there are none. Everything else must match byte for byte.
            let (shoff, shfields) = match h.class {
                Class::Elf64 => (40..48, 58..64),
                Class::Elf32 => (32..36, 46..52),
            };
            theirs[shoff].fill(0);
            theirs[shfields].fill(0);
            // The p_offset of a segment with no file data means nothing; makedumpfile writes
            // 0 or the current offset there. Take ours.
            let (entsize, field) = match h.class {
                Class::Elf64 => (56, 8..16),
                Class::Elf32 => (32, 4..8),
            };
            for (i, _) in phdrs.iter().enumerate().filter(|(_, p)| p.filesz == 0) {
                let at = usize::try_from(h.phoff).unwrap() + i * entsize;
                let range = at + field.start..at + field.end;
                theirs[range.clone()].copy_from_slice(&ours.bytes[range]);
            }
            if let Some(at) = ours.bytes.iter().zip(&theirs).position(|(a, b)| a != b) {
                let window = at..(at + 16).min(theirs.len());
                panic!(
                    "{}: header bytes differ from makedumpfile's at {at:#x}: ours {:02x?}, theirs {:02x?}",
                    path.display(),
                    &ours.bytes[window.clone()],
                    &theirs[window]
                );
            }
            for (o, t) in ours.segments.iter().zip(&phdrs[1..]) {
                let offset = if t.filesz == 0 { o.offset } else { t.offset };
                assert_eq!(*o, ProgramHeader { offset, ..*t }, "{}", path.display());
            }
            if !h.is_incomplete() {
                assert_eq!(ours.file_size, size, "{}: file size", path.display());
            }
            compared += 1;
        }
    }
    assert!(compared > 0, "the manifest has no md-E dump");
}
