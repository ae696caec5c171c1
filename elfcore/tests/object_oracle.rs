//! The `object` crate, an independent ELF reader, reads what the builders write: the same
//! file header, program headers and notes, for every machine × class × byte order.

mod support;

use elfcorehdr::{Class, ElfCore, Endian, ProgramHeader, Target};
use object::Endianness;
use object::read::elf::{FileHeader, ProgramHeader as _};

/// Machine, program headers and notes (name, type, descriptor) as `object` sees them.
type ObjectView = (u16, Vec<ProgramHeader>, Vec<(Vec<u8>, u32, Vec<u8>)>);

fn object_view<H: FileHeader<Endian = Endianness>>(data: &[u8]) -> ObjectView {
    let h = H::parse(data).expect("object parses the header");
    let e = h.endian().unwrap();
    let phdrs = h
        .program_headers(e, data)
        .expect("object reads the program headers");
    let mut notes = Vec::new();
    let mut out = Vec::new();
    for p in phdrs {
        let ph = ProgramHeader {
            p_type: p.p_type(e).0,
            flags: p.p_flags(e).0,
            offset: p.p_offset(e).into(),
            vaddr: p.p_vaddr(e).into(),
            paddr: p.p_paddr(e).into(),
            filesz: p.p_filesz(e).into(),
            memsz: p.p_memsz(e).into(),
            align: p.p_align(e).into(),
        };
        if ph.is_note() && ph.offset + ph.filesz <= data.len() as u64 {
            let mut it = p.notes(e, data).unwrap().expect("a note segment");
            while let Some(n) = it.next().unwrap() {
                notes.push((n.name().to_vec(), n.n_type(e).0, n.desc().to_vec()));
            }
        }
        out.push(ph);
    }
    (h.e_machine(e).0, out, notes)
}

fn check(target: Target, bytes: &[u8]) {
    let (machine, object_phdrs, object_notes) = match target.class {
        Class::Elf64 => object_view::<object::elf::FileHeader64<Endianness>>(bytes),
        Class::Elf32 => object_view::<object::elf::FileHeader32<Endianness>>(bytes),
    };
    let core = ElfCore::parse(bytes).unwrap();
    assert_eq!(machine, target.machine.0);
    let ours: Vec<_> = core.program_headers().collect();
    assert_eq!(ours, object_phdrs, "{target:?}");
    let our_notes: Vec<_> = core
        .notes()
        .filter_map(Result::ok)
        .map(|n| (n.name.to_vec(), n.n_type, n.desc.to_vec()))
        .collect();
    assert_eq!(our_notes, object_notes, "{target:?}");
    let object_endian = match target.endian {
        Endian::Little => Endianness::Little,
        Endian::Big => Endianness::Big,
    };
    let kind = object::File::parse(bytes).map(|f| object::Object::endianness(&f));
    assert_eq!(kind.ok(), Some(object_endian));
}

#[test]
fn object_reads_crash_headers() {
    for target in support::all_targets() {
        let bytes = support::sample_crash_header(target).build().unwrap();
        check(target, &bytes);
    }
}

#[test]
fn object_reads_dump_files() {
    for target in support::all_targets() {
        let dump = support::sample_dump(target);
        check(target, &dump.bytes);
        // Three notes: two NT_PRSTATUS, VMCOREINFO.
        let core = ElfCore::parse(&dump.bytes).unwrap();
        assert_eq!(core.notes().count(), 3);
    }
}
