//! Hostile input: truncated files, overflowing sizes, notes past their segment, a billion
//! program headers. Each is a typed error naming the offset, never a panic or a huge
//! allocation.

mod support;

use elfcorehdr::{
    Class, ElfCore, Endian, Error, Notes, ProgramHeader, Target, fuzz, raw, write_headers,
};
use proptest::prelude::*;

fn elf64_le_with(phnum: u16, phoff: u64, shoff: u64) -> Vec<u8> {
    let mut b = Vec::new();
    write_headers(&mut b, Target::x86_64(), &[]).unwrap();
    b[32..40].copy_from_slice(&phoff.to_le_bytes());
    b[40..48].copy_from_slice(&shoff.to_le_bytes());
    b[56..58].copy_from_slice(&phnum.to_le_bytes());
    b[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    b[60..62].copy_from_slice(&1u16.to_le_bytes()); // e_shnum
    b
}

/// An ELF64 LE core with `PN_XNUM`: section header 0 at 64, program headers after it, as
/// QEMU lays them out.
fn xnum_core(phdrs: &[ProgramHeader], claimed: u32) -> Vec<u8> {
    let mut b = elf64_le_with(raw::PN_XNUM, 128, 64);
    let mut shdr = [0u8; 64];
    shdr[44..48].copy_from_slice(&claimed.to_le_bytes());
    b.extend_from_slice(&shdr);
    let mut table = Vec::new();
    write_headers(&mut table, Target::x86_64(), phdrs).unwrap();
    b.extend_from_slice(&table[64..]);
    b
}

#[test]
fn pn_xnum_count_comes_from_section_zero() {
    let phdrs: Vec<_> = (0..3u64)
        .map(|i| ProgramHeader::load(0x1000 * i, 0xffff_8880_0000_0000 + i, i, 0x1000, 0x1000))
        .collect();
    let bytes = xnum_core(&phdrs, 3);
    let core = ElfCore::parse(&bytes).unwrap();
    assert_eq!(core.header().phnum, raw::PN_XNUM);
    assert_eq!(core.header().phoff, 128);
    assert_eq!(core.program_header_count(), 3);
    assert_eq!(core.program_headers().collect::<Vec<_>>(), phdrs);
    assert_eq!(core.header().tables_end().unwrap(), 128);
    assert_eq!(core.tables_end(), 128 + 3 * 56);
    // The object crate agrees on the count.
    use object::read::elf::FileHeader;
    let obj = object::elf::FileHeader64::<object::Endianness>::parse(&bytes[..]).unwrap();
    let e = obj.endian().unwrap();
    assert_eq!(obj.phnum(e, &bytes[..]).unwrap(), 3);
    assert_eq!(obj.program_headers(e, &bytes[..]).unwrap().len(), 3);
}

#[test]
fn a_billion_program_headers_is_truncated_not_allocated() {
    let bytes = xnum_core(&[], 1_000_000_000);
    assert_eq!(
        ElfCore::parse(&bytes).unwrap_err(),
        Error::Truncated {
            what: "program header table",
            offset: 128,
            len: 56_000_000_000,
            available: 128,
        }
    );
    // Plain e_phnum too.
    let bytes = elf64_le_with(0xfffe, 64, 0);
    assert!(matches!(
        ElfCore::parse(&bytes),
        Err(Error::Truncated {
            what: "program header table",
            offset: 64,
            ..
        })
    ));
}

#[test]
fn offsets_that_overflow_are_errors() {
    let bytes = elf64_le_with(2, u64::MAX - 8, 0);
    assert!(matches!(
        ElfCore::parse(&bytes),
        Err(Error::Overflow { what: "program header table", offset, .. }) if offset == u64::MAX - 8
    ));
    let bytes = elf64_le_with(raw::PN_XNUM, 64, u64::MAX);
    assert!(matches!(
        ElfCore::parse(&bytes),
        Err(Error::Truncated {
            what: "section header 0 (PN_XNUM)",
            ..
        })
    ));
    let bytes = elf64_le_with(raw::PN_XNUM, 64, 0);
    assert!(matches!(
        ElfCore::parse(&bytes),
        Err(Error::BadField { .. })
    ));
    let ph = ProgramHeader::note(u64::MAX - 1, 0, 16);
    let dump = support::sample_dump(Target::x86_64());
    let core = ElfCore::parse(&dump.bytes).unwrap();
    assert!(matches!(
        core.segment_data(&ph),
        Err(Error::Overflow { .. })
    ));
}

#[test]
fn bad_identification_is_typed() {
    assert_eq!(
        ElfCore::parse(b"MZ\0\0xxxxxxxxxxxx").unwrap_err(),
        Error::BadMagic { found: *b"MZ\0\0" }
    );
    let mut b = elf64_le_with(0, 0, 0);
    b[4] = 3;
    assert_eq!(
        ElfCore::parse(&b).unwrap_err(),
        Error::BadClass { found: 3 }
    );
    b[4] = 2;
    b[5] = 0;
    assert_eq!(
        ElfCore::parse(&b).unwrap_err(),
        Error::BadByteOrder { found: 0 }
    );
    b[5] = 1;
    b[54] = 55; // e_phentsize
    b[56] = 1; // e_phnum
    assert!(matches!(
        ElfCore::parse(&b),
        Err(Error::BadField {
            field: "e_phentsize",
            offset: 54,
            found: 55,
            expected: 56
        })
    ));
}

#[test]
fn every_truncation_of_a_dump_is_an_error_or_a_prefix() {
    for (_, target) in support::named_targets() {
        let dump = support::sample_dump(target);
        let end = ElfCore::parse(&dump.bytes)
            .unwrap()
            .header()
            .tables_end()
            .unwrap();
        for n in 0..dump.bytes.len() {
            let cut = &dump.bytes[..n];
            match ElfCore::parse(cut) {
                Ok(core) => {
                    assert!(n as u64 >= end);
                    // The note segment is cut: its notes end in an error, never a panic.
                    let notes: Vec<_> = core.notes().collect();
                    if (n as u64) < dump.note.offset + dump.note.filesz {
                        assert!(notes.iter().any(Result::is_err), "{target:?} at {n}");
                    }
                }
                Err(Error::Truncated { offset, len, .. }) => assert!(offset + len > n as u64),
                Err(e) => panic!("{target:?} cut at {n}: {e}"),
            }
        }
    }
}

#[test]
fn notes_past_the_segment_are_errors() {
    let mut b = Vec::new();
    for (namesz, descsz) in [(u32::MAX, 0), (0, u32::MAX), (5, 0xffff_fff0), (4, 100)] {
        b.clear();
        b.extend_from_slice(&namesz.to_be_bytes());
        b.extend_from_slice(&descsz.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(b"CORE\0\0\0\0");
        let got: Vec<_> = Notes::with_base(&b, Endian::Big, 0x40).collect();
        assert_eq!(
            got,
            vec![Err(Error::NoteOverrun {
                offset: 0x40,
                namesz,
                descsz,
                end: 0x40 + 20
            })]
        );
    }
}

fn sample_bytes() -> impl Strategy<Value = Vec<u8>> {
    let samples: Vec<Vec<u8>> = support::named_targets()
        .into_iter()
        .flat_map(|(_, t)| {
            [
                support::sample_dump(t).bytes,
                support::sample_crash_header(t).build().unwrap(),
            ]
        })
        .collect();
    (
        proptest::sample::select(samples),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    )
        .prop_map(|(mut b, edits)| {
            for (i, v) in edits {
                let at = i.index(b.len().min(1024));
                b[at] = v;
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzz::parse_all(&data);
    }

    #[test]
    fn mutated_cores_never_panic(data in sample_bytes()) {
        fuzz::parse_all(&data);
        if let Ok(core) = ElfCore::parse(&data) {
            prop_assert_eq!(core.program_headers().count() as u64, u64::from(core.program_header_count()));
            for n in core.notes().flatten() {
                prop_assert!(n.offset < data.len() as u64);
            }
        }
    }

    #[test]
    fn elf32_headers_parse_in_both_orders(big in any::<bool>(), phnum in 0u16..200) {
        let endian = if big { Endian::Big } else { Endian::Little };
        let t = Target::new(elfcorehdr::Machine::ARM, Class::Elf32, endian);
        let phdrs: Vec<_> = (0..u64::from(phnum)).map(|i| ProgramHeader::load(i, i, i, i, i)).collect();
        let mut b = Vec::new();
        write_headers(&mut b, t, &phdrs).unwrap();
        let core = ElfCore::parse(&b).unwrap();
        prop_assert_eq!(core.program_headers().collect::<Vec<_>>(), phdrs);
    }
}
