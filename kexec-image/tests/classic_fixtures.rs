//! The classic x86_64 plan on the real `/proc/iomem` of the fixture guests (the
//! manifest's `iomem` files and the 18 crashkernel= boots of `cargo xtask fixtures`:
//! low, high, low+high, fixed-address and CMA reservations on 4 and 6 GiB guests),
//! with the real Debian amd64 kernel. Every plan must keep the rules the kernel's
//! `sanity_check_segment_list` enforces and the e820/elfcorehdr split of
//! `crash_setup_memmap_entries` / `elf_header_exclude_ranges`.
#![cfg(feature = "fixture-tests")]

use std::path::PathBuf;

use kexec_image::classic::{ClassicRequest, E820_RAM, SEGMENT_MAX, SystemFacts, plan_x86_64};
use kexec_image::elfcorehdr::{Class, NoteBuffer, PhysRange};
use kexec_image::{Iomem, LoadKind};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("KDUMP_FIXTURES")
            .expect("KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures)"),
    )
}

fn json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every x86_64 `/proc/iomem` the fixtures recorded, with a name.
fn iomems() -> Vec<(String, String)> {
    let d = dir();
    let manifest = json(d.join("manifest.json"));
    let mut out = Vec::new();
    for dump in manifest["dumps"].as_array().unwrap() {
        if dump["arch"] == "x86_64" {
            let p = d.join(dump["iomem"].as_str().unwrap());
            out.push((
                dump["name"].as_str().unwrap().to_owned(),
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            ));
        }
    }
    let boots = json(d.join(manifest["crashkernel_boots"].as_str().unwrap()));
    for b in boots["boots"].as_array().unwrap() {
        let console = d.join(b["console"].as_str().unwrap());
        let text = std::fs::read_to_string(&console).unwrap();
        let iomem: String = text
            .lines()
            .filter_map(|l| l.split_once("KDUMP-RS-E2E: iomem: ").map(|(_, r)| r))
            .map(|l| format!("{}\n", l.trim_end_matches('\r')))
            .collect();
        assert!(
            !iomem.is_empty(),
            "{} has no iomem lines",
            console.display()
        );
        out.push((format!("{} {}", b["console"], b["cmdline"]), iomem));
    }
    out
}

fn amd64_kernel() -> Vec<u8> {
    let d = dir();
    let manifest = json(d.join("manifest.json"));
    let k = manifest["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["debian_arch"] == "amd64")
        .expect("amd64 kernel");
    std::fs::read(d.join(k["image"].as_str().unwrap())).unwrap()
}

fn phys(r: kexec_image::MemRange) -> PhysRange {
    PhysRange::new(r.start, r.end + 1)
}

#[test]
fn crash_plans_on_every_fixture_memory_map() {
    let kernel = amd64_kernel();
    let initrd = vec![0x5a; 12 << 20];
    let mut planned = 0;
    for (name, text) in iomems() {
        let iomem = Iomem::parse(&text).unwrap();
        let regions = iomem.crash_regions();
        let facts = SystemFacts {
            iomem: iomem.clone(),
            cpu_notes: vec![NoteBuffer {
                paddr: 0x1000_0000,
                size: 0x1b0,
            }],
            vmcoreinfo: Some(NoteBuffer {
                paddr: 0x2000_0000,
                size: 0x1000,
            }),
            ..SystemFacts::default()
        };
        let mut req = ClassicRequest::new(LoadKind::Crash, &kernel, "console=ttyS0 irqpoll");
        req.initrd = Some(&initrd);
        let Some(main) = regions.last().copied() else {
            assert!(
                plan_x86_64(&req, &facts).is_err(),
                "{name}: planned without a region"
            );
            continue;
        };
        let p = match plan_x86_64(&req, &facts) {
            Ok(p) => p,
            // A region too small for init_size + initrd must be refused, not overrun.
            Err(e) if main.size() < (80 << 20) => {
                assert!(e.to_string().contains("do not fit"), "{name}: {e}");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        planned += 1;
        let main = phys(main);
        assert!(p.segments.len() <= SEGMENT_MAX);
        for s in &p.segments {
            assert_eq!((s.dest % 4096, s.memsz % 4096), (0, 0), "{name}: {s:?}");
            assert!(s.bytes.len() as u64 <= s.memsz);
            assert!(
                s.dest >= main.start && s.dest + s.memsz <= main.end,
                "{name}: {} at {:#x} outside {main:?}",
                s.what,
                s.dest
            );
        }
        for w in p.segments.windows(2) {
            assert!(w[0].dest + w[0].memsz <= w[1].dest, "{name}: overlap");
        }
        let k = &p.segments.iter().find(|s| s.what == "kernel").unwrap();
        assert_eq!(k.dest % 0x20_0000, 0, "{name}: kernel_alignment");
        // e820: no overlaps; RAM only below 1 MiB or inside a crash region.
        let mut e820 = p.e820.clone();
        e820.sort();
        for w in e820.windows(2) {
            assert!(w[0].end() <= w[1].addr, "{name}: e820 overlap {w:?}");
        }
        for e in e820.iter().filter(|e| e.kind == E820_RAM) {
            let inside = e.end() <= 1 << 20
                || regions
                    .iter()
                    .any(|r| e.addr >= r.start && e.end() <= r.end + 1);
            assert!(inside, "{name}: e820 RAM {e:?} outside the crash regions");
        }
        let hdr = p.core_header.as_ref().unwrap();
        assert!(
            !e820
                .iter()
                .any(|e| e.kind == E820_RAM && e.addr <= hdr.addr && hdr.addr < e.end()),
            "{name}: the elfcorehdr is in the capture kernel's RAM"
        );
        // The dump covers System RAM (and kmem) minus the low 1 MiB and the regions, exactly.
        let dumped: u64 = hdr
            .program_headers
            .iter()
            .filter(|h| h.is_load())
            .map(|h| h.memsz)
            .sum();
        let ram: Vec<PhysRange> = iomem
            .system_ram()
            .into_iter()
            .chain(iomem.kmem_ram())
            .map(phys)
            .collect();
        let overlap =
            |a: PhysRange, b: PhysRange| a.end.min(b.end).saturating_sub(a.start.max(b.start));
        let mut excluded: Vec<PhysRange> = regions.iter().map(|r| phys(*r)).collect();
        excluded.push(PhysRange::new(0, 1 << 20));
        let want: u64 = ram
            .iter()
            .map(|r| r.len() - excluded.iter().map(|x| overlap(*r, *x)).sum::<u64>())
            .sum();
        assert_eq!(dumped, want, "{name}");
        for h in hdr.program_headers.iter().filter(|h| h.is_load()) {
            let r = PhysRange::new(h.paddr, h.paddr + h.memsz);
            for x in &excluded {
                assert_eq!(overlap(r, *x), 0, "{name}: PT_LOAD {r:?} dumps {x:?}");
            }
        }
        assert!(
            p.cmdline
                .starts_with(&format!("elfcorehdr={}K ", hdr.addr >> 10))
        );
        // ELF32 headers only fit machines whose RAM ends below 4 GiB.
        req.core_class = Class::Elf32;
        let below_4g = ram.iter().all(|r| r.end <= 1 << 32);
        assert_eq!(plan_x86_64(&req, &facts).is_ok(), below_4g, "{name}: ELF32");
    }
    assert!(planned >= 12, "only {planned} fixture maps were planned");
}
