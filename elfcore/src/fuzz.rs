//! The body of the parser's fuzz target, as an ordinary function so that a normal `#[test]`
//! can replay the fuzz corpus on stable.

use crate::decode::DecodedNote;
use crate::note::Notes;
use crate::parse::ElfCore;
use crate::types::{Endian, FileHeader, Machine};

/// Runs every parser of the crate over `data` and returns how many items parsed cleanly.
///
/// `data` is taken as an ELF core (file header, program headers, notes of every `PT_NOTE`,
/// each note decoded, every VMCOREINFO value parsed) and also as raw note bytes in both byte
/// orders decoded for every supported machine. It must never panic, whatever `data` holds.
pub fn parse_all(data: &[u8]) -> usize {
    let mut ok = 0usize;
    if let Ok(h) = FileHeader::parse(data) {
        ok += 1;
        ok += usize::from(h.tables_end().is_ok());
    }
    if let Ok(core) = ElfCore::parse(data) {
        let h = *core.header();
        for ph in core.program_headers() {
            ok += 1;
            ok += usize::from(core.segment_data(&ph).is_ok());
        }
        for note in core.notes().flatten() {
            ok += decode_all(&note, h.machine, h.endian);
        }
    }
    for endian in [Endian::Little, Endian::Big] {
        for note in Notes::new(data, endian).flatten() {
            for machine in [
                Machine::X86_64,
                Machine::I386,
                Machine::AARCH64,
                Machine::ARM,
                Machine::PPC64,
                Machine::S390,
                Machine::RISCV,
                Machine::LOONGARCH,
            ] {
                ok += decode_all(&note, machine, endian);
            }
        }
    }
    ok
}

fn decode_all(note: &crate::note::Note<'_>, machine: Machine, endian: Endian) -> usize {
    match note.decode(machine, endian) {
        Ok(DecodedNote::VmcoreInfo(v)) => {
            let mut n = 1;
            for e in v.entries() {
                n += 1;
                let _ = (v.page_size(), v.kernel_offset(), v.crash_time());
                let r = match e.key {
                    crate::vmcoreinfo::Key::Symbol(s) => v.symbol(s).is_ok(),
                    crate::vmcoreinfo::Key::Size(s) => v.size(s).is_ok(),
                    crate::vmcoreinfo::Key::Offset(s, m) => v.offset(s, m).is_ok(),
                    crate::vmcoreinfo::Key::Length(s) => v.length(s).is_ok(),
                    crate::vmcoreinfo::Key::Number(s) => v.number_value(s).is_ok(),
                    _ => true,
                };
                n += usize::from(r);
            }
            n
        }
        Ok(DecodedNote::PrStatus(p)) => {
            let _ = (
                p.registers.instruction_pointer(),
                p.registers.stack_pointer(),
            );
            1
        }
        Ok(_) => 1,
        Err(_) => 0,
    }
}
