//! The kernel's symbol table, decoded from the compressed kallsyms tables in the dumped
//! kernel's memory at the addresses VMCOREINFO gives (`SYMBOL(kallsyms_names)` and friends,
//! exported since Linux 6.0 and in Debian's and RHEL's kernels).
//!
//! Layout facts (from the kernel's `scripts/kallsyms.c`, `kernel/kallsyms.c`,
//! `kernel/vmcore_info.c`; drgn's `libdrgn/kallsyms.c` for the history of the encodings):
//!
//! * `kallsyms_num_syms`: `unsigned int`, the number of symbols.
//! * `kallsyms_names`: one record per symbol, in address order: a length (one byte; since
//!   Linux 6.1, commit 73bbb94466fd, a first byte with bit 7 set is followed by a second,
//!   length = `(b0 & 0x7f) | (b1 << 7)`), then that many token numbers. The expansion's first
//!   character is the symbol's type (`T`, `t`, `D`, ...), the rest its name.
//! * `kallsyms_token_table`: 256 NUL-terminated strings; `kallsyms_token_index`: 256 `u16`
//!   offsets of them into the table.
//! * Addresses, one of four encodings: `kallsyms_addresses[]` (absolute `unsigned long`s,
//!   before 6.11); `kallsyms_offsets[]` (`int`) from `kallsyms_relative_base`
//!   (`CONFIG_KALLSYMS_BASE_RELATIVE`, 4.6 to 6.19); the same with
//!   `CONFIG_KALLSYMS_ABSOLUTE_PERCPU` (x86_64 SMP, 4.6 to 6.14): an offset `>= 0` is an
//!   absolute address (the per-CPU symbols near 0) and a negative one means
//!   `relative_base - 1 - offset`; and place-relative (7.0): `&kallsyms_offsets[i] + offset`.
//!   Nothing in the dump names the encoding, so the one that puts `_stext` where
//!   `SYMBOL(_stext)` says is taken (without `_stext`, the one whose addresses are sorted).
//!
//! The tables live in the running kernel's memory, already relocated: the addresses decoded
//! are the randomised (KASLR) run-time ones. [`Kallsyms::kernel_offset`] (VMCOREINFO's
//! `KERNELOFFSET`) turns a kernel-image address back into the link-time one `System.map`
//! and the `-dbg` vmlinux show ([`Kallsyms::link_address`]).
//!
//! Every count and offset read from the dump is bounded before use: `num_syms` by the space
//! to the next table and [`MAX_SYMS`], names by the space to the next table, token numbers
//! index a 256-entry table, token offsets must point inside the token table and end in NUL.

use std::collections::HashMap;

use vmcore_reader::KernelInfo;

use crate::error::{Error, Result, bad, to_usize};
use crate::mem::{Memory, MemoryExt};

/// More symbols than any kernel has (Debian's 6.1 amd64 kernel has about 190 000).
pub const MAX_SYMS: u64 = 1 << 22;
/// Longest symbol name accepted, type character included (the kernel's `KSYM_NAME_LEN`
/// is 512 since 6.1).
pub const MAX_NAME: usize = 1024;
/// Bound on a table whose end no other known table marks.
const DEFAULT_TABLE_BOUND: u64 = 64 << 20;
/// Bound on the token table.
const TOKEN_TABLE_BOUND: u64 = 1 << 16;

/// Where the kallsyms tables are in the dumped kernel's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KallsymsLocations {
    /// `kallsyms_names`.
    pub names: u64,
    /// `kallsyms_num_syms`.
    pub num_syms: u64,
    /// `kallsyms_token_table`.
    pub token_table: u64,
    /// `kallsyms_token_index`.
    pub token_index: u64,
    /// `kallsyms_offsets`, in base- and place-relative kernels.
    pub offsets: Option<u64>,
    /// `kallsyms_relative_base`, in base-relative kernels.
    pub relative_base: Option<u64>,
    /// `kallsyms_addresses`, in absolute kernels.
    pub addresses: Option<u64>,
    /// `kallsyms_markers`, when known (bounds the names table).
    pub markers: Option<u64>,
    /// `kallsyms_seqs_of_names`, when known (bounds the table before it).
    pub seqs_of_names: Option<u64>,
    /// `_stext` (VMCOREINFO's `SYMBOL(_stext)`), which picks the address encoding.
    pub stext: Option<u64>,
}

impl KallsymsLocations {
    /// The locations VMCOREINFO gives. A dump without them gets [`Error::Missing`] naming
    /// the first key that is absent.
    pub fn from_vmcoreinfo(info: &KernelInfo) -> Result<KallsymsLocations> {
        let sym = |name: &str| info.symbol(name).map_err(Error::Vmcoreinfo);
        let need = |name: &'static str| -> Result<u64> {
            sym(name)?.ok_or_else(|| Error::Missing {
                what: format!("SYMBOL({name}) in VMCOREINFO"),
                why: "kallsyms (exported by Linux 6.0 and later, and by Debian's and RHEL's kernels)",
            })
        };
        let loc = KallsymsLocations {
            names: need("kallsyms_names")?,
            num_syms: need("kallsyms_num_syms")?,
            token_table: need("kallsyms_token_table")?,
            token_index: need("kallsyms_token_index")?,
            offsets: sym("kallsyms_offsets")?,
            relative_base: sym("kallsyms_relative_base")?,
            addresses: sym("kallsyms_addresses")?,
            markers: sym("kallsyms_markers")?,
            seqs_of_names: sym("kallsyms_seqs_of_names")?,
            stext: sym("_stext")?,
        };
        if loc.offsets.is_none() && loc.addresses.is_none() {
            return Err(Error::Missing {
                what: "SYMBOL(kallsyms_offsets) or SYMBOL(kallsyms_addresses) in VMCOREINFO".into(),
                why: "kallsyms addresses",
            });
        }
        Ok(loc)
    }

    fn all(&self) -> Vec<u64> {
        let mut v = vec![
            self.names,
            self.num_syms,
            self.token_table,
            self.token_index,
        ];
        v.extend(
            [
                self.offsets,
                self.relative_base,
                self.addresses,
                self.markers,
                self.seqs_of_names,
            ]
            .into_iter()
            .flatten(),
        );
        v
    }

    /// Bytes from `start` to the next table above it (the tables are emitted one after
    /// another into one section), or `default` when none is above.
    fn bound(&self, start: u64, default: u64) -> u64 {
        self.all()
            .into_iter()
            .filter(|&a| a > start)
            .map(|a| a - start)
            .min()
            .unwrap_or(default)
            .min(default)
    }
}

/// How `kallsyms_names` stores a symbol's token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameLengths {
    /// One byte (before Linux 6.1).
    OneByte,
    /// One byte, or two when bit 7 of the first is set (Linux 6.1 and later).
    Big,
}

impl NameLengths {
    /// The encoding a kernel release (`OSRELEASE`, e.g. `6.1.0-57-amd64`) uses: the change
    /// came in 6.1 with no marker in the tables, so the version decides (the other encoding
    /// is tried when this one does not decode).
    pub fn for_release(release: &str) -> NameLengths {
        let mut it = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let minor: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if major > 6 || (major == 6 && minor >= 1) {
            NameLengths::Big
        } else {
            NameLengths::OneByte
        }
    }

    fn other(self) -> NameLengths {
        match self {
            NameLengths::OneByte => NameLengths::Big,
            NameLengths::Big => NameLengths::OneByte,
        }
    }
}

/// How the address table is encoded (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressEncoding {
    /// `kallsyms_addresses[]`.
    Absolute,
    /// `relative_base + (u32)offset`.
    BaseRelative,
    /// `offset >= 0 ? offset : relative_base - 1 - offset`.
    AbsolutePercpu,
    /// `&kallsyms_offsets[i] + offset`.
    PlaceRelative,
}

/// One kernel symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Its name.
    pub name: String,
    /// Its type character as `/proc/kallsyms` and `nm` print it (`T`, `t`, `D`, `b`, ...).
    pub kind: char,
    /// Its run-time address.
    pub address: u64,
}

/// The symbol an address falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<'a> {
    /// The symbol.
    pub symbol: &'a Symbol,
    /// Bytes from its start.
    pub offset: u64,
    /// Bytes to the next symbol at a higher address (`None` for the last symbol).
    pub size: Option<u64>,
}

/// The decoded symbol table.
#[derive(Debug, Clone)]
pub struct Kallsyms {
    /// In table order (address order, as the kernel sorts them).
    symbols: Vec<Symbol>,
    /// Indices of `symbols` sorted by address (stable).
    by_address: Vec<usize>,
    by_name: HashMap<String, Vec<usize>>,
    encoding: AddressEncoding,
    name_lengths: NameLengths,
    kernel_offset: Option<u64>,
}

impl Kallsyms {
    /// Decodes the tables of a dumped kernel: locations and `KERNELOFFSET` from its
    /// VMCOREINFO, name-length encoding from its `OSRELEASE`.
    pub fn from_kernel(kernel: &vmcore_reader::Kernel<'_>) -> Result<Kallsyms> {
        let info = kernel.info();
        let loc = KallsymsLocations::from_vmcoreinfo(info)?;
        let lengths = NameLengths::for_release(info.osrelease().unwrap_or(""));
        let mut k = Kallsyms::load(kernel, &loc, lengths)?;
        k.kernel_offset = info.kernel_offset().map_err(Error::Vmcoreinfo)?;
        Ok(k)
    }

    /// Decodes the tables at `loc` in `mem`, trying `lengths` first and the other name-length
    /// encoding when that fails.
    pub fn load(
        mem: &dyn Memory,
        loc: &KallsymsLocations,
        lengths: NameLengths,
    ) -> Result<Kallsyms> {
        match Kallsyms::load_with(mem, loc, lengths) {
            Ok(k) => Ok(k),
            Err(first) => Kallsyms::load_with(mem, loc, lengths.other()).map_err(|_| first),
        }
    }

    /// Decodes with exactly this name-length encoding.
    pub fn load_with(
        mem: &dyn Memory,
        loc: &KallsymsLocations,
        lengths: NameLengths,
    ) -> Result<Kallsyms> {
        let n = u64::from(mem.u32("kallsyms_num_syms", loc.num_syms)?);
        if n == 0 || n > MAX_SYMS {
            return Err(bad(
                "kallsyms_num_syms",
                loc.num_syms,
                n,
                format!("1 to {MAX_SYMS} symbols"),
            ));
        }
        let names = decode_names(mem, loc, n, lengths)?;
        let (encoding, addresses) = decode_addresses(mem, loc, n, &names)?;
        let symbols: Vec<Symbol> = names
            .into_iter()
            .zip(addresses)
            .map(|((kind, name), address)| Symbol {
                name,
                kind,
                address,
            })
            .collect();
        let mut by_address: Vec<usize> = (0..symbols.len()).collect();
        by_address.sort_by_key(|&i| symbols[i].address);
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in symbols.iter().enumerate() {
            by_name.entry(s.name.clone()).or_default().push(i);
        }
        Ok(Kallsyms {
            symbols,
            by_address,
            by_name,
            encoding,
            name_lengths: lengths,
            kernel_offset: None,
        })
    }

    /// A table from symbols known another way (a `System.map`, tests), with no encoding of
    /// its own (reported as [`AddressEncoding::Absolute`]) and no `KERNELOFFSET`.
    pub fn from_symbols(mut symbols: Vec<Symbol>) -> Kallsyms {
        symbols.sort_by_key(|s| s.address);
        let by_address: Vec<usize> = (0..symbols.len()).collect();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in symbols.iter().enumerate() {
            by_name.entry(s.name.clone()).or_default().push(i);
        }
        Kallsyms {
            symbols,
            by_address,
            by_name,
            encoding: AddressEncoding::Absolute,
            name_lengths: NameLengths::OneByte,
            kernel_offset: None,
        }
    }

    /// Every symbol, in table (address) order.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The address encoding the tables use.
    pub fn encoding(&self) -> AddressEncoding {
        self.encoding
    }

    /// The name-length encoding the names table uses.
    pub fn name_lengths(&self) -> NameLengths {
        self.name_lengths
    }

    /// VMCOREINFO's `KERNELOFFSET` (the KASLR shift of the kernel image), when known.
    pub fn kernel_offset(&self) -> Option<u64> {
        self.kernel_offset
    }

    /// The link-time address (as in `System.map`) of a symbol: its run-time address less
    /// `KERNELOFFSET`, except for absolute per-CPU symbols (x86_64's, below the kernel
    /// image), which KASLR does not move.
    pub fn link_address(&self, sym: &Symbol) -> u64 {
        let shifted = self.encoding == AddressEncoding::AbsolutePercpu && sym.address < (1 << 32);
        match self.kernel_offset {
            Some(off) if !shifted => sym.address.wrapping_sub(off),
            _ => sym.address,
        }
    }

    /// The first symbol of this name (names repeat for static symbols of different files).
    pub fn lookup(&self, name: &str) -> Option<&Symbol> {
        self.by_name
            .get(name)
            .and_then(|v| v.first())
            .map(|&i| &self.symbols[i])
    }

    /// Every symbol of this name.
    pub fn lookup_all(&self, name: &str) -> Vec<&Symbol> {
        self.by_name
            .get(name)
            .map(|v| v.iter().map(|&i| &self.symbols[i]).collect())
            .unwrap_or_default()
    }

    /// The address of `name`, or [`Error::Missing`] saying `why` it was needed.
    pub fn address_of(&self, name: &str, why: &'static str) -> Result<u64> {
        self.lookup(name)
            .map(|s| s.address)
            .ok_or_else(|| Error::Missing {
                what: format!("symbol {name} in kallsyms"),
                why,
            })
    }

    /// The symbol `addr` falls in: the last at or below it (the first of aliases at the same
    /// address), with the offset into it and the size to the next higher symbol. `None`
    /// below the first symbol and past the last one (other than at its address).
    pub fn locate(&self, addr: u64) -> Option<Located<'_>> {
        let pos = self
            .by_address
            .partition_point(|&i| self.symbols[i].address <= addr);
        if pos == 0 {
            return None;
        }
        let at = self.symbols[self.by_address[pos - 1]].address;
        let first = self
            .by_address
            .partition_point(|&i| self.symbols[i].address < at);
        let symbol = &self.symbols[self.by_address[first]];
        let size = self
            .by_address
            .get(pos)
            .map(|&i| self.symbols[i].address - at);
        let offset = addr - at;
        if size.is_none() && offset != 0 {
            return None;
        }
        Some(Located {
            symbol,
            offset,
            size,
        })
    }

    /// Bytes from `sym` to the next symbol at a higher address.
    pub fn size_of(&self, sym: &Symbol) -> Option<u64> {
        self.locate(sym.address).and_then(|l| l.size)
    }
}

/// Bytes of one table read a page at a time, up to a bound, so that a table whose exact
/// end is unknown is read no further than needed and never past its bound.
struct PagedTable<'m> {
    mem: &'m dyn Memory,
    what: &'static str,
    base: u64,
    limit: u64,
    page_start: u64,
    page: Vec<u8>,
}

const PAGE: u64 = 4096;

impl<'m> PagedTable<'m> {
    fn new(mem: &'m dyn Memory, what: &'static str, base: u64, limit: u64) -> Self {
        PagedTable {
            mem,
            what,
            base,
            limit,
            page_start: 0,
            page: Vec::new(),
        }
    }

    fn byte(&mut self, off: u64) -> Result<u8> {
        if off >= self.limit {
            return Err(bad(
                self.what,
                self.base.wrapping_add(off),
                off,
                format!(
                    "an offset below the table's bound of {:#x} bytes",
                    self.limit
                ),
            ));
        }
        let in_page = off.wrapping_sub(self.page_start);
        if off < self.page_start || in_page >= u64::try_from(self.page.len()).unwrap_or(0) {
            let va = self.base.checked_add(off).ok_or_else(|| {
                bad(
                    self.what,
                    self.base,
                    off,
                    "an address that does not overflow",
                )
            })?;
            // From this address to the end of its page (or the bound).
            let len = (PAGE - va % PAGE).min(self.limit - off);
            let mut buf = vec![0u8; to_usize(self.what, va, len)?];
            self.mem.bytes(self.what, va, &mut buf)?;
            self.page = buf;
            self.page_start = off;
        }
        let i = to_usize(self.what, self.base, off - self.page_start)?;
        Ok(self.page[i])
    }
}

struct Tokens<'m> {
    table: PagedTable<'m>,
    index: [u16; 256],
    index_addr: u64,
    cache: Vec<Option<Vec<u8>>>,
}

impl Tokens<'_> {
    fn get(&mut self, t: u8) -> Result<&[u8]> {
        let slot = usize::from(t);
        if self.cache[slot].is_none() {
            let start = u64::from(self.index[slot]);
            let entry = self.index_addr + 2 * u64::from(t);
            let mut s = Vec::new();
            let mut off = start;
            loop {
                let b = self.table.byte(off).map_err(|_| {
                    bad(
                        "kallsyms_token_index entry",
                        entry,
                        start,
                        format!(
                            "an offset of a NUL-terminated token inside kallsyms_token_table's {:#x} bytes",
                            self.table.limit
                        ),
                    )
                })?;
                if b == 0 {
                    break;
                }
                s.push(b);
                off += 1;
            }
            self.cache[slot] = Some(s);
        }
        Ok(self.cache[slot].as_deref().unwrap_or(&[]))
    }
}

/// `(type, name)` of each of the `n` symbols.
fn decode_names(
    mem: &dyn Memory,
    loc: &KallsymsLocations,
    n: u64,
    lengths: NameLengths,
) -> Result<Vec<(char, String)>> {
    let mut raw = [0u8; 512];
    mem.bytes("kallsyms_token_index", loc.token_index, &mut raw)?;
    let mut index = [0u16; 256];
    for (i, v) in index.iter_mut().enumerate() {
        let b = [raw[2 * i], raw[2 * i + 1]];
        *v = match mem.byte_order() {
            crate::mem::ByteOrder::Little => u16::from_le_bytes(b),
            crate::mem::ByteOrder::Big => u16::from_be_bytes(b),
        };
    }
    let token_limit = loc.bound(loc.token_table, TOKEN_TABLE_BOUND);
    let mut tokens = Tokens {
        table: PagedTable::new(mem, "kallsyms_token_table", loc.token_table, token_limit),
        index,
        index_addr: loc.token_index,
        cache: vec![None; 256],
    };
    let names_limit = loc.bound(loc.names, DEFAULT_TABLE_BOUND);
    let mut names = PagedTable::new(mem, "kallsyms_names", loc.names, names_limit);
    let mut out = Vec::with_capacity(to_usize("kallsyms_num_syms", loc.num_syms, n)?);
    let mut pos = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    for _ in 0..n {
        let at = loc.names + pos;
        let b0 = names.byte(pos)?;
        pos += 1;
        let mut len = usize::from(b0);
        if lengths == NameLengths::Big && b0 & 0x80 != 0 {
            let b1 = names.byte(pos)?;
            pos += 1;
            if b1 & 0x80 != 0 {
                return Err(bad(
                    "kallsyms_names length",
                    at,
                    u64::from(b0) | (u64::from(b1) << 8),
                    "a length of one or two bytes",
                ));
            }
            len = usize::from(b0 & 0x7f) | (usize::from(b1) << 7);
        }
        if len == 0 {
            return Err(bad(
                "kallsyms_names length",
                at,
                0,
                "at least one token (the type character)",
            ));
        }
        buf.clear();
        for _ in 0..len {
            let t = names.byte(pos)?;
            pos += 1;
            buf.extend_from_slice(tokens.get(t)?);
            if buf.len() > MAX_NAME {
                return Err(bad(
                    "kallsyms_names symbol",
                    at,
                    u64::try_from(buf.len()).unwrap_or(u64::MAX),
                    format!("a name of at most {MAX_NAME} bytes"),
                ));
            }
        }
        let Some((&kind, name)) = buf.split_first() else {
            return Err(bad("kallsyms_names symbol", at, 0, "a type character"));
        };
        if !kind.is_ascii_graphic() {
            return Err(bad(
                "kallsyms_names type character",
                at,
                u64::from(kind),
                "a printable ASCII type character",
            ));
        }
        out.push((char::from(kind), String::from_utf8_lossy(name).into_owned()));
    }
    Ok(out)
}

fn decode_addresses(
    mem: &dyn Memory,
    loc: &KallsymsLocations,
    n: u64,
    names: &[(char, String)],
) -> Result<(AddressEncoding, Vec<u64>)> {
    let stext_idx = names.iter().position(|(_, s)| s == "_stext");
    if let Some(table) = loc.addresses {
        let ps = mem.pointer_size();
        let len = n
            .checked_mul(ps)
            .filter(|&l| l <= loc.bound(table, DEFAULT_TABLE_BOUND))
            .ok_or_else(|| {
                bad(
                    "kallsyms_num_syms",
                    loc.num_syms,
                    n,
                    "a count whose kallsyms_addresses fit before the next table",
                )
            })?;
        let mut raw = vec![0u8; to_usize("kallsyms_addresses", table, len)?];
        mem.bytes("kallsyms_addresses", table, &mut raw)?;
        let step = to_usize("pointer size", table, ps)?;
        let v: Vec<u64> = raw
            .chunks_exact(step)
            .map(|c| crate::mem::decode_uint(mem.byte_order(), c))
            .collect();
        return Ok((AddressEncoding::Absolute, v));
    }
    let table = loc.offsets.ok_or_else(|| Error::Missing {
        what: "SYMBOL(kallsyms_offsets) in VMCOREINFO".into(),
        why: "kallsyms addresses",
    })?;
    let len = n
        .checked_mul(4)
        .filter(|&l| l <= loc.bound(table, DEFAULT_TABLE_BOUND))
        .ok_or_else(|| {
            bad(
                "kallsyms_num_syms",
                loc.num_syms,
                n,
                format!(
                    "a count whose kallsyms_offsets fit in the {:#x} bytes before the next table",
                    loc.bound(table, DEFAULT_TABLE_BOUND)
                ),
            )
        })?;
    let mut raw = vec![0u8; to_usize("kallsyms_offsets", table, len)?];
    mem.bytes("kallsyms_offsets", table, &mut raw)?;
    let offs: Vec<u32> = raw
        .chunks_exact(4)
        .map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            match mem.byte_order() {
                crate::mem::ByteOrder::Little => u32::from_le_bytes(b),
                crate::mem::ByteOrder::Big => u32::from_be_bytes(b),
            }
        })
        .collect();
    let base = match loc.relative_base {
        Some(rb) => Some(mem.pointer("kallsyms_relative_base", rb)?),
        None => None,
    };
    let decode = |enc: AddressEncoding, i: usize, off: u32| -> u64 {
        let signed = i64::from(i32::from_ne_bytes(off.to_ne_bytes()));
        match enc {
            AddressEncoding::BaseRelative => base.unwrap_or(0).wrapping_add(u64::from(off)),
            AddressEncoding::AbsolutePercpu => {
                if signed >= 0 {
                    u64::from(off)
                } else {
                    // relative_base - 1 - offset, with offset < 0.
                    base.unwrap_or(0)
                        .wrapping_sub(1)
                        .wrapping_add(signed.unsigned_abs())
                }
            }
            AddressEncoding::PlaceRelative | AddressEncoding::Absolute => {
                let at = table.wrapping_add(4u64.wrapping_mul(u64::try_from(i).unwrap_or(0)));
                at.wrapping_add_signed(signed)
            }
        }
    };
    let mut candidates = Vec::new();
    if base.is_some() {
        candidates.push(AddressEncoding::BaseRelative);
        candidates.push(AddressEncoding::AbsolutePercpu);
    }
    candidates.push(AddressEncoding::PlaceRelative);
    let chosen = match (stext_idx, loc.stext) {
        (Some(i), Some(want)) => candidates
            .iter()
            .copied()
            .find(|&e| decode(e, i, offs[i]) == want)
            .ok_or_else(|| {
                bad(
                    "kallsyms_offsets entry of _stext",
                    table + 4 * u64::try_from(i).unwrap_or(0),
                    u64::from(offs[i]),
                    format!(
                        "an offset that decodes to SYMBOL(_stext) {want:#x} in one of the encodings {candidates:?}"
                    ),
                )
            })?,
        _ => candidates
            .iter()
            .copied()
            .find(|&e| {
                let mut prev = 0u64;
                offs.iter().enumerate().all(|(i, &o)| {
                    let a = decode(e, i, o);
                    let ok = a >= prev;
                    prev = a;
                    ok
                })
            })
            .ok_or_else(|| {
                bad(
                    "kallsyms_offsets",
                    table,
                    n,
                    "offsets sorted by address in one encoding (no _stext to choose by)",
                )
            })?,
    };
    let v = offs
        .iter()
        .enumerate()
        .map(|(i, &o)| decode(chosen, i, o))
        .collect();
    Ok((chosen, v))
}
