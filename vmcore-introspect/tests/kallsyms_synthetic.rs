//! Kallsyms tables built here in the kernel's layout (scripts/kallsyms.c's output order for
//! 6.1: offsets, relative_base, num_syms, names, token_table, token_index), decoded back,
//! and then corrupted: every corruption is an error or a decode, never a panic or a hang.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "test tables are built from small constants"
)]

use proptest::prelude::*;
use vmcore_introspect::kallsyms::{AddressEncoding, NameLengths};
use vmcore_introspect::{ByteOrder, Error, FlatMemory, Kallsyms, KallsymsLocations};

const BASE: u64 = 0xffff_ffff_8100_0000;
/// Multi-character tokens in slots 1..=4, single characters elsewhere.
const WORDS: [&[u8]; 4] = [b"_s", b"lock", b"text", b"kmem_"];

fn token(slot: u8) -> Vec<u8> {
    match slot {
        1..=4 => WORDS[usize::from(slot - 1)].to_vec(),
        0x21..=0x7e => vec![slot],
        _ => b"?".to_vec(),
    }
}

fn encode_name(kind: u8, name: &str) -> Vec<u8> {
    let mut toks = vec![kind];
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if let Some(w) = (1..=4u8).find(|&s| b[i..].starts_with(WORDS[usize::from(s - 1)])) {
            toks.push(w);
            i += WORDS[usize::from(w - 1)].len();
        } else {
            toks.push(b[i]);
            i += 1;
        }
    }
    toks
}

struct Built {
    mem: FlatMemory,
    loc: KallsymsLocations,
}

/// `syms`: (type, name, address). With `percpu`, addresses below 2^31 are stored as absolute
/// per-CPU values and the others as negative offsets from the base.
fn build(syms: &[(u8, String, u64)], big: bool, percpu: bool) -> Built {
    let relative_base = BASE;
    let n = syms.len() as u64;
    let mut img = Vec::new();
    let offsets = BASE + img.len() as u64;
    for (_, _, a) in syms {
        let v: u32 = if percpu {
            if *a < (1 << 31) {
                *a as u32
            } else {
                (relative_base as i64 - 1 - *a as i64) as i32 as u32
            }
        } else {
            (*a - relative_base) as u32
        };
        img.extend_from_slice(&v.to_le_bytes());
    }
    while img.len() % 8 != 0 {
        img.push(0);
    }
    let rb = BASE + img.len() as u64;
    img.extend_from_slice(&relative_base.to_le_bytes());
    let num = BASE + img.len() as u64;
    img.extend_from_slice(&(n as u32).to_le_bytes());
    img.extend_from_slice(&[0; 4]);
    let names = BASE + img.len() as u64;
    for (k, name, _) in syms {
        let t = encode_name(*k, name);
        let len = t.len();
        if big && len > 0x7f {
            img.push(0x80 | (len & 0x7f) as u8);
            img.push((len >> 7) as u8);
        } else {
            img.push(len as u8);
        }
        img.extend_from_slice(&t);
    }
    while img.len() % 8 != 0 {
        img.push(0);
    }
    let token_table = BASE + img.len() as u64;
    let mut index = Vec::new();
    let start = img.len();
    for slot in 0..=255u8 {
        index.push((img.len() - start) as u16);
        img.extend_from_slice(&token(slot));
        img.push(0);
    }
    while img.len() % 8 != 0 {
        img.push(0);
    }
    let token_index = BASE + img.len() as u64;
    for i in index {
        img.extend_from_slice(&i.to_le_bytes());
    }
    let stext = syms.iter().find(|s| s.1 == "_stext").map(|s| s.2);
    Built {
        mem: FlatMemory {
            base: BASE,
            bytes: img,
            order: ByteOrder::Little,
        },
        loc: KallsymsLocations {
            names,
            num_syms: num,
            token_table,
            token_index,
            offsets: Some(offsets),
            relative_base: Some(rb),
            stext,
            ..KallsymsLocations::default()
        },
    }
}

fn sample() -> Vec<(u8, String, u64)> {
    vec![
        (b'T', "_stext".into(), BASE + 0x1000),
        (b't', "kmem_cache_lock".into(), BASE + 0x1040),
        (b'T', "text_poke".into(), BASE + 0x2000),
        (b'T', "alias_of_text_poke".into(), BASE + 0x2000),
        (b'D', "init_task".into(), BASE + 0x9000),
        (b'B', "_end".into(), BASE + 0xa000),
    ]
}

#[test]
fn decodes_names_types_and_base_relative_addresses() {
    let b = build(&sample(), true, false);
    let k = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big).unwrap();
    assert_eq!(k.encoding(), AddressEncoding::BaseRelative);
    let got: Vec<(char, String, u64)> = k
        .symbols()
        .iter()
        .map(|s| (s.kind, s.name.clone(), s.address))
        .collect();
    let want: Vec<(char, String, u64)> = sample()
        .into_iter()
        .map(|(c, n, a)| (char::from(c), n, a))
        .collect();
    assert_eq!(got, want);
    assert_eq!(k.lookup("init_task").unwrap().address, BASE + 0x9000);
    let at = k.locate(BASE + 0x2010).unwrap();
    assert_eq!(at.symbol.name, "text_poke", "the first alias at an address");
    assert_eq!((at.offset, at.size), (0x10, Some(0x7000)));
    assert!(k.locate(BASE).is_none(), "below the first symbol");
    assert_eq!(k.locate(BASE + 0xa000).unwrap().size, None);
    assert!(k.locate(BASE + 0xa001).is_none(), "past the last symbol");
}

#[test]
fn absolute_percpu_encoding_is_chosen_by_stext() {
    let mut syms = vec![
        (b'A', "fixed_percpu_data".into(), 0),
        (b'A', "runqueues".into(), 0x31c40),
    ];
    syms.extend(sample());
    let b = build(&syms, true, true);
    let k = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big).unwrap();
    assert_eq!(k.encoding(), AddressEncoding::AbsolutePercpu);
    assert_eq!(k.lookup("runqueues").unwrap().address, 0x31c40);
    assert_eq!(k.lookup("_stext").unwrap().address, BASE + 0x1000);
    // Without _stext the sorted interpretation is taken.
    let mut loc = b.loc.clone();
    loc.stext = None;
    let k = Kallsyms::load(&b.mem, &loc, NameLengths::Big).unwrap();
    assert_eq!(k.encoding(), AddressEncoding::AbsolutePercpu);
}

#[test]
fn two_byte_lengths_and_the_fallback_to_one_byte() {
    let long = "x".repeat(300);
    let mut syms = sample();
    syms.insert(1, (b't', long.clone(), BASE + 0x1020));
    let b = build(&syms, true, false);
    let k = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big).unwrap();
    assert_eq!(k.lookup(&long).unwrap().address, BASE + 0x1020);
    // Tables without long names decode when the release guess says "big" (and vice versa).
    let b = build(&sample(), false, false);
    let k = Kallsyms::load(&b.mem, &b.loc, NameLengths::OneByte).unwrap();
    assert_eq!(k.symbols().len(), 6);
}

#[test]
fn release_decides_the_name_length_guess() {
    assert_eq!(NameLengths::for_release("6.1.0-57-amd64"), NameLengths::Big);
    assert_eq!(
        NameLengths::for_release("6.12.118+deb13-riscv64"),
        NameLengths::Big
    );
    assert_eq!(
        NameLengths::for_release("5.15.0-1-amd64"),
        NameLengths::OneByte
    );
    assert_eq!(NameLengths::for_release("6.0.12"), NameLengths::OneByte);
    assert_eq!(NameLengths::for_release(""), NameLengths::OneByte);
}

#[test]
fn huge_num_syms_is_an_error_naming_the_address() {
    let mut b = build(&sample(), true, false);
    let at = usize::try_from(b.loc.num_syms - BASE).unwrap();
    b.mem.bytes[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let e = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big).unwrap_err();
    assert!(
        matches!(e, Error::Bad { what: "kallsyms_num_syms", vaddr, value: 0x7fff_ffff, .. } if vaddr == b.loc.num_syms),
        "{e}"
    );
    // A count under MAX_SYMS but larger than the table holds.
    b.mem.bytes[at..at + 4].copy_from_slice(&100_000u32.to_le_bytes());
    let e = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big).unwrap_err();
    assert!(matches!(e, Error::Bad { .. }), "{e}");
}

#[test]
fn token_index_out_of_the_table_is_an_error() {
    let mut b = build(&sample(), true, false);
    let at = usize::try_from(b.loc.token_index - BASE).unwrap() + 2 * usize::from(b'T');
    b.mem.bytes[at..at + 2].copy_from_slice(&0xfff0u16.to_le_bytes());
    let e = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Bad {
                what: "kallsyms_token_index entry",
                value: 0xfff0,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn missing_vmcoreinfo_keys_are_named() {
    let info = vmcore_reader::KernelInfo::parse(
        b"OSRELEASE=6.1.0\nSYMBOL(kallsyms_names)=ffffffff81000000\n",
    )
    .unwrap();
    let e = KallsymsLocations::from_vmcoreinfo(&info).unwrap_err();
    assert!(e.to_string().contains("SYMBOL(kallsyms_num_syms)"), "{e}");
}

fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z_][a-z0-9_.]{0,40}|x{120,200}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(names in proptest::collection::vec(name(), 1..40), gaps in proptest::collection::vec(0u64..0x100, 40)) {
        let mut syms = vec![(b'T', "_stext".to_owned(), BASE + 0x100)];
        let mut a = BASE + 0x100;
        for (i, n) in names.iter().enumerate() {
            a += gaps[i];
            syms.push((if i % 2 == 0 { b't' } else { b'D' }, n.clone(), a));
        }
        let b = build(&syms, true, false);
        let k = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big).unwrap();
        prop_assert_eq!(k.symbols().len(), syms.len());
        for (s, (kind, n, addr)) in k.symbols().iter().zip(&syms) {
            prop_assert_eq!(&s.name, n);
            prop_assert_eq!(s.kind, char::from(*kind));
            prop_assert_eq!(s.address, *addr);
        }
    }

    /// Any byte of the tables changed to anything: an error or a decode, never a panic.
    #[test]
    fn corrupted_tables_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut b = build(&sample(), true, true);
        for (i, v) in edits {
            let at = i.index(b.mem.bytes.len());
            b.mem.bytes[at] = v;
        }
        let _ = Kallsyms::load(&b.mem, &b.loc, NameLengths::Big);
    }

    /// Table addresses anywhere (overlapping, past the memory, wrapping): never a panic.
    #[test]
    fn hostile_locations_never_panic(shift in proptest::collection::vec(any::<i16>(), 6), stext in any::<Option<u64>>()) {
        let b = build(&sample(), true, false);
        let mut loc = b.loc.clone();
        let f = |a: u64, d: i16| a.wrapping_add_signed(i64::from(d));
        loc.names = f(loc.names, shift[0]);
        loc.num_syms = f(loc.num_syms, shift[1]);
        loc.token_table = f(loc.token_table, shift[2]);
        loc.token_index = f(loc.token_index, shift[3]);
        loc.offsets = loc.offsets.map(|a| f(a, shift[4]));
        loc.relative_base = loc.relative_base.map(|a| f(a, shift[5]));
        loc.stext = stext;
        let _ = Kallsyms::load(&b.mem, &loc, NameLengths::Big);
    }
}
