//! Replays the fuzz corpora and crash artifacts (`fuzz/corpus/<target>/`,
//! `fuzz/artifacts/<target>/`) through the fuzz targets' library functions, so stable CI
//! covers them. `VMCORE_WRITER_WRITE_SEEDS=1` rewrites the synthetic seed files.

use std::path::Path;

use elfcorehdr::{NoteWriter, Target};

type FuzzTarget = fn(&[u8]) -> usize;

const TARGETS: [(&str, FuzzTarget); 2] = [
    ("classify_pages", vmcore_writer::fuzz::classify_pages),
    ("capture_dump", vmcore_writer::fuzz::capture_dump),
];

const INFO: &str = "OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\nSIZE(page)=64\nOFFSET(page.flags)=0\nOFFSET(page._refcount)=52\nOFFSET(page.mapping)=24\nOFFSET(page.lru)=8\nOFFSET(page._mapcount)=48\nOFFSET(page.private)=40\nOFFSET(page.compound_dtor)=16\nOFFSET(page.compound_order)=17\nOFFSET(page.compound_head)=8\nNUMBER(PG_lru)=4\nNUMBER(PG_private)=13\nNUMBER(PG_swapcache)=10\nNUMBER(PG_swapbacked)=19\nNUMBER(PG_slab)=9\nNUMBER(PG_hwpoison)=23\nNUMBER(PG_head_mask)=65536\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\nNUMBER(HUGETLB_PAGE_DTOR)=2\nNUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257\nSYMBOL(mem_section)=ffff8c899ffd2000\nLENGTH(mem_section)=4096\nSIZE(mem_section)=32\nOFFSET(mem_section.section_mem_map)=0\nNUMBER(SECTION_SIZE_BITS)=27\nNUMBER(MAX_PHYSMEM_BITS)=46\n";

fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    // classify_pages: the real 6.1 layout with pages of every class, and newer/older forms.
    let mut pages = Vec::new();
    for (flags, mapping, mapcount, private) in [
        (0u64, 0u64, 0xffff_ff7fu32, 3u64),
        (1 << 4, 0xffff_8880_0000_0000, u32::MAX, 0),
        ((1 << 4) | (1 << 13), 0xffff_8880_0000_0000, u32::MAX, 0),
        (1 << 16, 1, 0, 0),
        (0, 0, 0, 0),
        (1 << 23, 0, u32::MAX, 0),
        (0, 0, 0xffff_feff, 0),
    ] {
        let mut p = vec![0u8; 64];
        p[0..8].copy_from_slice(&flags.to_le_bytes());
        p[24..32].copy_from_slice(&mapping.to_le_bytes());
        p[48..52].copy_from_slice(&mapcount.to_le_bytes());
        p[40..48].copy_from_slice(&private.to_le_bytes());
        pages.extend_from_slice(&p);
    }
    for (name, info) in [
        ("v6_1", INFO.to_string()),
        ("page_type_byte", INFO.replace("=-129", "=240")),
        (
            "pg_buddy_old",
            INFO.replace(
                "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129",
                "NUMBER(PG_buddy)=19",
            )
            .replace("6.1.0", "2.6.32"),
        ),
        (
            "hostile_offsets",
            INFO.replace(
                "OFFSET(page.mapping)=24",
                "OFFSET(page.mapping)=18446744073709551615",
            ),
        ),
    ] {
        let mut d = info.into_bytes();
        d.push(0);
        d.extend_from_slice(&pages);
        out.push(("classify_pages", name.to_string(), d));
    }
    // capture_dump: small ELF dumps in several shapes, every output selector.
    let mut n = NoteWriter::new(Target::x86_64().endian);
    n.push(b"VMCOREINFO", 0, b"OSRELEASE=6.1.0\nPAGESIZE=4096\n")
        .unwrap();
    let mut ram = vec![0u8; 3 * 4096];
    ram[5000] = 7;
    ram[9000..9100].fill(3);
    let elf =
        vmcore_reader::synth::elf_dump(Target::x86_64(), &[(0x1000, ram.clone())], n.as_bytes());
    for sel in [0u8, 1, 0x21, 0x41, 0x61, 0x81, 0xa1, 31] {
        let mut d = vec![sel];
        d.extend_from_slice(&elf);
        out.push(("capture_dump", format!("elf_sel_{sel:02x}"), d));
    }
    let be = vmcore_reader::synth::elf_dump(Target::s390x(), &[(0, ram)], &[]);
    let mut d = vec![0x41];
    d.extend_from_slice(&be);
    out.push(("capture_dump", "s390x_no_vmcoreinfo".into(), d));
    out
}

#[test]
fn corpus_replays_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    if std::env::var_os("VMCORE_WRITER_WRITE_SEEDS").is_some() {
        for (target, name, data) in seeds() {
            let dir = root.join("corpus").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        }
    }
    let mut replayed = 0;
    for (name, target) in TARGETS {
        for dir in ["corpus", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for e in entries {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                target(&data);
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 13, "only {replayed} corpus files");
}

#[test]
fn seeds_exercise_the_targets() {
    for (target, name, data) in seeds() {
        let f = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        let n = f(&data);
        // Level 31 without struct page data, hostile offsets and no VMCOREINFO are errors (0).
        if !matches!(
            name.as_str(),
            "hostile_offsets" | "s390x_no_vmcoreinfo" | "elf_sel_1f"
        ) {
            assert!(n > 0, "{target}/{name} did nothing");
        }
    }
}
