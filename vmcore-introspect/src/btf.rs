//! BTF, the kernel's own type information (`CONFIG_DEBUG_INFO_BTF=y`), read from the dumped
//! kernel's memory between `__start_BTF` and `__stop_BTF`, so that struct member offsets
//! come from the kernel that crashed and none is hard-coded.
//!
//! Format facts from the kernel's `include/uapi/linux/btf.h` and `Documentation/bpf/btf.rst`:
//! a 24-byte header (`magic` 0xeB9F in the producer's byte order, `version` 1, `flags`,
//! `hdr_len`, then `type_off`, `type_len`, `str_off`, `str_len`, offsets from the header's
//! end); the type section is a sequence of 12-byte `btf_type` records (`name_off`, `info`:
//! `vlen` in bits 0-15, kind in bits 24-28, `kind_flag` bit 31; `size` or `type`), each
//! followed by kind-specific data; type ids count from 1 in that order; the string section
//! is NUL-terminated strings.
//!
//! Not `btf-rs`: it is LGPL-2.1-or-later (this workspace is MIT OR Apache-2.0, and a
//! statically linked LGPL crate would put relinking terms on every user of ours), it
//! declares no MSRV, and it only needs the few kinds a member-offset lookup touches; this
//! parser is small, checks every offset and count against the section it reads, and never
//! panics on hostile input.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::kallsyms::Kallsyms;
use crate::mem::{ByteOrder, Memory, MemoryExt};

/// The largest BTF section read from a dump (Debian's 6.1 amd64 vmlinux has 4.4 MB).
pub const MAX_BTF: u64 = 64 << 20;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

#[derive(Debug, Clone, Copy)]
struct TypeRec {
    kind: u8,
    name_off: u32,
    vlen: u16,
    kflag: bool,
    size_or_type: u32,
    /// Offset in `data` of the kind-specific data after the record.
    extra: usize,
}

/// A parsed BTF blob.
#[derive(Clone)]
pub struct Btf {
    data: Vec<u8>,
    order: ByteOrder,
    strings: (usize, usize),
    /// `types[id - 1]`.
    types: Vec<TypeRec>,
    /// Struct and union ids by name (complete definitions only).
    aggregates: HashMap<String, Vec<u32>>,
    pointer_size: u64,
}

/// A struct member found by [`Btf::member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Byte offset from the start of the outermost struct.
    pub offset: u64,
    /// Its type id.
    pub type_id: u32,
    /// Its size in bytes.
    pub size: u64,
}

impl core::fmt::Debug for Btf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Btf")
            .field("bytes", &self.data.len())
            .field("types", &self.types.len())
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

fn btf_err(msg: String) -> Error {
    Error::Btf(msg)
}

impl Btf {
    /// Reads the BTF of the dumped kernel: the bytes between `__start_BTF` and `__stop_BTF`,
    /// or, when kallsyms lacks them, the section [`crate::scan::find_btf`] finds.
    pub fn from_kernel(mem: &dyn Memory, syms: &Kallsyms) -> Result<Btf> {
        let (start, len) = match (syms.lookup("__start_BTF"), syms.lookup("__stop_BTF")) {
            (Some(a), Some(b)) => {
                let (start, stop) = (a.address, b.address);
                let len = stop
                    .checked_sub(start)
                    .filter(|l| (24..=MAX_BTF).contains(l))
                    .ok_or_else(|| {
                        crate::error::bad(
                            "__stop_BTF",
                            stop,
                            stop.wrapping_sub(start),
                            format!("24 to {MAX_BTF} bytes after __start_BTF {start:#x}"),
                        )
                    })?;
                (start, len)
            }
            // Kernels without CONFIG_KALLSYMS_ALL: the section's header, found by a scan.
            _ => crate::scan::find_btf(mem, syms)?,
        };
        let mut data = vec![0u8; crate::error::to_usize("BTF", start, len)?];
        mem.bytes("BTF section", start, &mut data)?;
        Btf::parse(data, mem.pointer_size())
    }

    /// Parses a BTF blob (header, type and string sections).
    pub fn parse(data: Vec<u8>, pointer_size: u64) -> Result<Btf> {
        let order = match data.get(0..2) {
            Some([0x9f, 0xeb]) => ByteOrder::Little,
            Some([0xeb, 0x9f]) => ByteOrder::Big,
            _ => {
                return Err(btf_err(format!(
                    "magic at offset 0 is {:02x?}, expected 0xeB9F",
                    data.get(0..2)
                )));
            }
        };
        let mut b = Btf {
            data,
            order,
            strings: (0, 0),
            types: Vec::new(),
            aggregates: HashMap::new(),
            pointer_size,
        };
        let version = b.data.get(2).copied().unwrap_or(0);
        if version != 1 {
            return Err(btf_err(format!(
                "version at offset 2 is {version}, expected 1"
            )));
        }
        let hdr_len = b.u32_at(4)?;
        let [type_off, type_len, str_off, str_len] =
            [b.u32_at(8)?, b.u32_at(12)?, b.u32_at(16)?, b.u32_at(20)?];
        if hdr_len < 24 {
            return Err(btf_err(format!(
                "hdr_len at offset 4 is {hdr_len}, expected at least 24"
            )));
        }
        let section = |what: &str, off: u32, len: u32| -> Result<(usize, usize)> {
            let start = u64::from(hdr_len) + u64::from(off);
            let end = start + u64::from(len);
            if end > u64::try_from(b.data.len()).unwrap_or(u64::MAX) {
                return Err(btf_err(format!(
                    "{what} section {start:#x}..{end:#x} ends past the {:#x} bytes of BTF",
                    b.data.len()
                )));
            }
            let s = usize::try_from(start).map_err(|_| btf_err("offset".into()))?;
            let e = usize::try_from(end).map_err(|_| btf_err("offset".into()))?;
            Ok((s, e))
        };
        let (ts, te) = section("type", type_off, type_len)?;
        b.strings = section("string", str_off, str_len)?;
        let mut at = ts;
        while at < te {
            if at + 12 > te {
                return Err(btf_err(format!(
                    "type record at offset {at:#x} runs past the type section end {te:#x}"
                )));
            }
            let name_off = b.u32_at(at)?;
            let info = b.u32_at(at + 4)?;
            let size_or_type = b.u32_at(at + 8)?;
            let kind = u8::try_from((info >> 24) & 0x1f).unwrap_or(0);
            let vlen = u16::try_from(info & 0xffff).unwrap_or(0);
            let n = usize::from(vlen);
            let extra_len = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * n,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * n,
                k => {
                    return Err(btf_err(format!(
                        "type {} at offset {at:#x} has unknown kind {k}",
                        b.types.len() + 1
                    )));
                }
            };
            let extra = at + 12;
            if extra + extra_len > te {
                return Err(btf_err(format!(
                    "type {} at offset {at:#x} ({extra_len} bytes of members) runs past the type section end {te:#x}",
                    b.types.len() + 1
                )));
            }
            b.types.push(TypeRec {
                kind,
                name_off,
                vlen,
                kflag: info & (1 << 31) != 0,
                size_or_type,
                extra,
            });
            at = extra + extra_len;
        }
        for i in 0..b.types.len() {
            let t = b.types[i];
            if t.kind == KIND_STRUCT || t.kind == KIND_UNION {
                let name = b.name(t.name_off)?;
                if !name.is_empty() {
                    let id = u32::try_from(i + 1).map_err(|_| btf_err("too many types".into()))?;
                    b.aggregates.entry(name.to_owned()).or_default().push(id);
                }
            }
        }
        Ok(b)
    }

    fn u32_at(&self, at: usize) -> Result<u32> {
        let s = self.data.get(at..at.saturating_add(4)).ok_or_else(|| {
            btf_err(format!(
                "u32 at offset {at:#x} is past the end {:#x}",
                self.data.len()
            ))
        })?;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(match self.order {
            ByteOrder::Little => u32::from_le_bytes(a),
            ByteOrder::Big => u32::from_be_bytes(a),
        })
    }

    /// The string at `off` in the string section.
    fn name(&self, off: u32) -> Result<&str> {
        let (s, e) = self.strings;
        let start = usize::try_from(off)
            .ok()
            .and_then(|o| s.checked_add(o))
            .filter(|&p| p < e)
            .ok_or_else(|| {
                btf_err(format!(
                    "name offset {off:#x} is outside the {:#x}-byte string section",
                    e - s
                ))
            })?;
        let bytes = &self.data[start..e];
        let len = bytes
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| btf_err(format!("string at name offset {off:#x} has no NUL")))?;
        core::str::from_utf8(&bytes[..len])
            .map_err(|_| btf_err(format!("string at name offset {off:#x} is not UTF-8")))
    }

    fn rec(&self, id: u32) -> Result<TypeRec> {
        id.checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.types.get(i).copied())
            .ok_or_else(|| {
                btf_err(format!(
                    "type id {id} is not among the {} types",
                    self.types.len()
                ))
            })
    }

    /// Number of types.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// The type behind typedefs and qualifiers.
    pub fn resolve(&self, mut id: u32) -> Result<u32> {
        for _ in 0..64 {
            let t = self.rec(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Ok(id),
            }
        }
        Err(btf_err(format!(
            "type {id}: more than 64 typedefs and qualifiers (a loop)"
        )))
    }

    /// Size in bytes of a type.
    pub fn size_of(&self, id: u32) -> Result<u64> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: u32, depth: u32) -> Result<u64> {
        if depth > 32 {
            return Err(btf_err(format!(
                "type {id}: arrays nested more than 32 deep"
            )));
        }
        let id = self.resolve(id)?;
        let t = self.rec(id)?;
        match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT
            | KIND_DATASEC => Ok(u64::from(t.size_or_type)),
            KIND_PTR => Ok(self.pointer_size),
            KIND_ARRAY => {
                let elem = self.u32_at(t.extra)?;
                let n = self.u32_at(t.extra + 8)?;
                self.size_of_depth(elem, depth + 1)?
                    .checked_mul(u64::from(n))
                    .ok_or_else(|| btf_err(format!("array type {id} of {n} elements overflows")))
            }
            k => Err(btf_err(format!("type {id} of kind {k} has no size"))),
        }
    }

    /// The id of the complete struct or union `name`.
    pub fn aggregate(&self, name: &str) -> Result<u32> {
        self.aggregates
            .get(name)
            .and_then(|v| v.first().copied())
            .ok_or_else(|| Error::Missing {
                what: format!("struct {name} in BTF"),
                why: "the kernel's type layout",
            })
    }

    /// `sizeof(struct name)`.
    pub fn struct_size(&self, name: &str) -> Result<u64> {
        self.size_of(self.aggregate(name)?)
    }

    /// The member at `path` (`thread_info.cpu`) of struct `name`: members of anonymous
    /// structs and unions are found as the C compiler finds them, and a path through an
    /// array member goes into its first element (`mem.base` is `mem[0].base`).
    pub fn member(&self, name: &str, path: &str) -> Result<Member> {
        let mut id = self.aggregate(name)?;
        let mut offset = 0u64;
        let mut size = 0;
        for part in path.split('.') {
            let r = self.resolve(id)?;
            let t = self.rec(r)?;
            if t.kind == KIND_ARRAY {
                id = self.u32_at(t.extra)?;
            }
            let (off, mid) = self
                .find_member(id, part, 0)?
                .ok_or_else(|| Error::Missing {
                    what: format!("member {name}.{path} in BTF"),
                    why: "the kernel's type layout",
                })?;
            offset = offset
                .checked_add(off)
                .ok_or_else(|| btf_err(format!("{name}.{path}: offset overflows")))?;
            size = self.size_of(mid)?;
            id = mid;
        }
        Ok(Member {
            offset,
            type_id: id,
            size,
        })
    }

    /// Whether struct `name` has the member at `path`.
    pub fn has_member(&self, name: &str, path: &str) -> bool {
        self.member(name, path).is_ok()
    }

    /// `(byte offset, type id)` of member `want` in the aggregate `id`.
    fn find_member(&self, id: u32, want: &str, depth: u32) -> Result<Option<(u64, u32)>> {
        if depth > 16 {
            return Ok(None);
        }
        let id = self.resolve(id)?;
        let t = self.rec(id)?;
        if t.kind != KIND_STRUCT && t.kind != KIND_UNION {
            return Err(btf_err(format!(
                "type {id} (kind {}) has no members; looking for {want}",
                t.kind
            )));
        }
        for i in 0..usize::from(t.vlen) {
            let at = t.extra + 12 * i;
            let name = self.name(self.u32_at(at)?)?;
            let mtype = self.u32_at(at + 4)?;
            let raw = self.u32_at(at + 8)?;
            let bits = if t.kflag { raw & 0x00ff_ffff } else { raw };
            let off = u64::from(bits / 8);
            if name == want {
                return Ok(Some((off, mtype)));
            }
            if name.is_empty() {
                let inner = self.resolve(mtype)?;
                let k = self.rec(inner)?.kind;
                if k == KIND_STRUCT || k == KIND_UNION {
                    if let Some((o, ty)) = self.find_member(inner, want, depth + 1)? {
                        return Ok(Some((off + o, ty)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The type a pointer type points at.
    pub fn pointee(&self, id: u32) -> Result<u32> {
        let id = self.resolve(id)?;
        let t = self.rec(id)?;
        if t.kind != KIND_PTR {
            return Err(btf_err(format!(
                "type {id} is kind {}, not a pointer",
                t.kind
            )));
        }
        Ok(t.size_or_type)
    }
}
