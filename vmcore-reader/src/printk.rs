//! The kernel log, driven only by VMCOREINFO's `SYMBOL`/`SIZE`/`OFFSET`/`LENGTH` entries:
//! the lockless ring buffer (Linux 5.10 and later), the structured `log_buf` of
//! `struct printk_log` (3.5 to 5.9, `struct log` before 3.11), and the plain character
//! buffer before 3.5.
//!
//! Facts: the kernel's `kernel/printk/printk_ringbuffer.[ch]` (descriptor states in the top
//! two bits of `state_var`, ids masked to the remaining bits, data blocks that start with
//! the descriptor id and wrap to the ring's start), `kernel/printk/printk.c` (a zero-length
//! `printk_log` record marks the wrap) and `kernel/vmcore_info.c`. The text form is what
//! kexec-tools' `vmcore-dmesg` prints (`util_lib/elf_info.c`): `[%5llu.%06llu] `, the text
//! with bytes that are neither printable nor space as `\xNN`, and a newline; data-less
//! records print as an empty line with their timestamp; records not committed or
//! finalized are skipped.

#![forbid(unsafe_code)]

use std::io::{self, Write};

use crate::error::{Error, Result, min_len};
use crate::kernel::{Kernel, uint};

/// Largest ring or buffer this reader allocates (256 MiB; the kernel caps `log_buf_len` at
/// 2^25 times smaller sizes in practice).
const LIMIT: u64 = 256 << 20;

/// Which log layout the kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// The lockless ring buffer (`prb`).
    Lockless,
    /// `log_buf` of `struct printk_log` records.
    Structured,
    /// `log_buf` as a plain character ring.
    Legacy,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogRecord {
    /// Sequence number (lockless ring only).
    pub seq: Option<u64>,
    /// Timestamp in nanoseconds since boot.
    pub ts_nsec: u64,
    /// Syslog level (0 to 7), read next to `text_len`.
    pub level: Option<u8>,
    /// The record's 5 flag bits (`LOG_NEWLINE` 2, `LOG_CONT` 8: a continuation of the
    /// previous record), read next to `text_len`.
    pub flags: Option<u8>,
    /// Syslog facility.
    pub facility: Option<u8>,
    /// `caller_id`: a task id, or `0x80000000 | cpu`.
    pub caller_id: Option<u32>,
    /// The message text (without a trailing newline).
    pub text: Vec<u8>,
    /// Dictionary (structured `log_buf`) or `SUBSYSTEM=`/`DEVICE=` (lockless dev_info) lines.
    pub dict: Vec<Vec<u8>>,
}

/// The whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLog {
    /// The layout found.
    pub kind: LogKind,
    /// Records, oldest first (empty for [`LogKind::Legacy`]).
    pub records: Vec<LogRecord>,
    /// The raw text of a [`LogKind::Legacy`] buffer.
    pub legacy_text: Vec<u8>,
}

impl KernelLog {
    /// Writes the log as kexec-tools' `vmcore-dmesg` does.
    pub fn write_dmesg(&self, out: &mut impl Write) -> io::Result<()> {
        if self.kind == LogKind::Legacy {
            return out.write_all(&self.legacy_text);
        }
        let mut line = Vec::with_capacity(256);
        for r in &self.records {
            line.clear();
            format_record(r, &mut line);
            out.write_all(&line)?;
        }
        Ok(())
    }
}

/// Appends one record in `vmcore-dmesg`'s form.
pub fn format_record(r: &LogRecord, line: &mut Vec<u8>) {
    let secs = r.ts_nsec / 1_000_000_000;
    let usecs = (r.ts_nsec % 1_000_000_000) / 1000;
    let _ = write!(line, "[{secs:5}.{usecs:06}] ");
    for &c in &r.text {
        if (0x20..=0x7e).contains(&c) || (0x09..=0x0d).contains(&c) {
            line.push(c);
        } else {
            let _ = write!(line, "\\x{c:02x}");
        }
    }
    line.push(b'\n');
}

/// Reads the kernel log.
pub fn read_log(k: &Kernel<'_>) -> Result<KernelLog> {
    let info = k.info();
    if info.symbol("prb")?.is_some() {
        read_lockless(k)
    } else if info.symbol("log_first_idx")?.is_some() {
        read_structured(k)
    } else if info.symbol("log_buf")?.is_some() {
        read_legacy(k)
    } else {
        Err(Error::MissingKey {
            key: "SYMBOL(prb) or SYMBOL(log_buf)".into(),
        })
    }
}

struct Layout<'k, 'd> {
    k: &'k Kernel<'d>,
}

/// Offsets and sizes from VMCOREINFO above this are refused: no printk structure comes
/// close, and keeping them small makes every sum below overflow-free.
const MAX_LAYOUT: u64 = 1 << 24;

fn small(v: Option<u64>, key: String) -> Result<Option<u64>> {
    match v {
        Some(x) if x > MAX_LAYOUT => Err(Error::BadValue {
            key,
            value: x.to_string(),
            expected: "an offset or size below 16 MiB",
        }),
        other => Ok(other),
    }
}

impl Layout<'_, '_> {
    fn off(&self, name: &str) -> Result<u64> {
        let key = format!("OFFSET({name})");
        self.k
            .info()
            .require(small(self.k.info().offset(name)?, key.clone()), &key)
    }
    fn opt_off(&self, name: &str) -> Result<Option<u64>> {
        small(self.k.info().offset(name)?, format!("OFFSET({name})"))
    }
    fn opt_len(&self, name: &str) -> Result<Option<u64>> {
        small(self.k.info().length(name)?, format!("LENGTH({name})"))
    }
    fn size(&self, name: &str) -> Result<u64> {
        let key = format!("SIZE({name})");
        self.k
            .info()
            .require(small(self.k.info().size(name)?, key.clone()), &key)
    }
    fn sym(&self, name: &str) -> Result<u64> {
        let i = self.k.info();
        i.require(i.symbol(name), &format!("SYMBOL({name})"))
    }
}

/// A field read with [`field`] as the narrower type its size says (an error naming the
/// buffer offset and the value if it does not fit).
fn narrow<T: TryFrom<u64>>(v: u64, at: u64, what: &'static str) -> Result<T> {
    T::try_from(v).map_err(|_| Error::Printk {
        what,
        vaddr: at,
        value: v,
    })
}

/// `buf[start..end]`, with both ends clamped to `buf` (callers clamp them to its length
/// already; the clamp keeps the conversion to `usize` total).
fn span(buf: &[u8], start: u64, end: u64) -> &[u8] {
    let end = min_len(end, buf.len());
    &buf[min_len(start, end)..end]
}

fn field(k: &Kernel<'_>, buf: &[u8], at: u64, size: u64, what: &'static str) -> Result<u64> {
    let s = usize::try_from(at).ok();
    let e = s.and_then(|s| s.checked_add(usize::try_from(size).ok()?));
    match (s, e) {
        (Some(s), Some(e)) if e <= buf.len() => Ok(uint(k.endian(), &buf[s..e])),
        _ => Err(Error::Printk {
            what,
            vaddr: at,
            value: buf.len() as u64,
        }),
    }
}

fn read_lockless(k: &Kernel<'_>) -> Result<KernelLog> {
    let l = Layout { k };
    let ptr = k.pointer_size();
    let prb_ptr = l.sym("prb")?;
    let prb = k.read_pointer(prb_ptr)?;
    let prb_size = l.size("printk_ringbuffer")?;
    let rb = k.read_virt_vec("printk_ringbuffer", prb, prb_size, 4096)?;
    let desc_ring = l.off("printk_ringbuffer.desc_ring")?;
    let text_ring = l.off("printk_ringbuffer.text_data_ring")?;
    let count_bits = field(
        k,
        &rb,
        desc_ring + l.off("prb_desc_ring.count_bits")?,
        4,
        "prb_desc_ring.count_bits",
    )?;
    if count_bits > 24 {
        return Err(Error::Printk {
            what: "prb_desc_ring.count_bits",
            vaddr: prb,
            value: count_bits,
        });
    }
    let count = 1u64 << count_bits;
    let descs_va = field(
        k,
        &rb,
        desc_ring + l.off("prb_desc_ring.descs")?,
        ptr,
        "prb_desc_ring.descs",
    )?;
    let infos_va = field(
        k,
        &rb,
        desc_ring + l.off("prb_desc_ring.infos")?,
        ptr,
        "prb_desc_ring.infos",
    )?;
    let counter = l.opt_off("atomic_long_t.counter")?.unwrap_or(0);
    let head_id = field(
        k,
        &rb,
        desc_ring + l.off("prb_desc_ring.head_id")? + counter,
        ptr,
        "prb_desc_ring.head_id",
    )?;
    let tail_id = field(
        k,
        &rb,
        desc_ring + l.off("prb_desc_ring.tail_id")? + counter,
        ptr,
        "prb_desc_ring.tail_id",
    )?;
    let size_bits = field(
        k,
        &rb,
        text_ring + l.off("prb_data_ring.size_bits")?,
        4,
        "prb_data_ring.size_bits",
    )?;
    if size_bits > 28 {
        return Err(Error::Printk {
            what: "prb_data_ring.size_bits",
            vaddr: prb,
            value: size_bits,
        });
    }
    let data_size = 1u64 << size_bits;
    let data_va = field(
        k,
        &rb,
        text_ring + l.off("prb_data_ring.data")?,
        ptr,
        "prb_data_ring.data",
    )?;

    let desc_size = l.size("prb_desc")?;
    let info_size = l.size("printk_info")?;
    let descs = k.read_virt_vec("prb descriptors", descs_va, count * desc_size, LIMIT)?;
    let infos = k.read_virt_vec("printk_info array", infos_va, count * info_size, LIMIT)?;
    let data = k.read_virt_vec("printk text ring", data_va, data_size, LIMIT)?;

    let state_off = l.off("prb_desc.state_var")? + counter;
    let lpos = l.off("prb_desc.text_blk_lpos")?;
    let begin_off = lpos + l.off("prb_data_blk_lpos.begin")?;
    let next_off = lpos + l.off("prb_data_blk_lpos.next")?;
    let seq_off = l.off("printk_info.seq")?;
    let ts_off = l.off("printk_info.ts_nsec")?;
    let len_off = l.off("printk_info.text_len")?;
    let caller_off = l.opt_off("printk_info.caller_id")?;
    let dev = dev_info_layout(k)?;

    let sv_bits = ptr * 8;
    let id_mask = (1u64 << (sv_bits - 2)) - 1;
    let mut records = Vec::new();
    let mut id = tail_id & id_mask;
    let head = head_id & id_mask;
    let mut steps = 0u64;
    loop {
        let slot = id % count;
        let d = slot * desc_size;
        let state_var = field(k, &descs, d + state_off, ptr, "prb_desc.state_var")?;
        let committed = state_var & id_mask == id && matches!(state_var >> (sv_bits - 2), 1 | 2);
        if committed {
            let i = slot * info_size;
            let mut r = LogRecord {
                seq: Some(field(k, &infos, i + seq_off, 8, "printk_info.seq")?),
                ts_nsec: field(k, &infos, i + ts_off, 8, "printk_info.ts_nsec")?,
                caller_id: match caller_off {
                    Some(c) => Some(narrow(
                        field(k, &infos, i + c, 4, "printk_info.caller_id")?,
                        i + c,
                        "printk_info.caller_id",
                    )?),
                    None => None,
                },
                ..LogRecord::default()
            };
            // facility and the flags:5/level:3 byte follow the u16 text_len (printk_ringbuffer.h).
            let fac = narrow(
                field(k, &infos, i + len_off + 2, 1, "printk_info.facility")?,
                i + len_off + 2,
                "printk_info.facility",
            )?;
            let lv = narrow(
                field(k, &infos, i + len_off + 3, 1, "printk_info.level")?,
                i + len_off + 3,
                "printk_info.level",
            )?;
            r.facility = Some(fac);
            r.level = Some(level_of(k, lv));
            r.flags = Some(flags_of(k, lv));
            let begin =
                field(k, &descs, d + begin_off, ptr, "prb_data_blk_lpos.begin")? % data_size;
            let next = field(k, &descs, d + next_off, ptr, "prb_data_blk_lpos.next")? % data_size;
            if begin != next {
                let mut len = field(k, &infos, i + len_off, 2, "printk_info.text_len")?;
                let start = if begin > next { 0 } else { begin } + ptr;
                if next >= start && next - start < len {
                    len = next - start;
                }
                let end = start.saturating_add(len).min(data_size);
                if start < end {
                    r.text = span(&data, start, end).to_vec();
                }
            }
            if let Some(dev) = &dev {
                r.dict = dev.read(k, &infos, i)?;
            }
            records.push(r);
        }
        if id == head {
            break;
        }
        id = (id + 1) & id_mask;
        steps += 1;
        if steps > count {
            return Err(Error::Printk {
                what: "prb_desc_ring tail_id..head_id spans more than the ring",
                vaddr: prb,
                value: head_id.wrapping_sub(tail_id),
            });
        }
    }
    Ok(KernelLog {
        kind: LogKind::Lockless,
        records,
        legacy_text: Vec::new(),
    })
}

fn flags_of(k: &Kernel<'_>, byte: u8) -> u8 {
    match k.endian() {
        elfcorehdr::Endian::Little => byte & 0x1f,
        elfcorehdr::Endian::Big => byte >> 3,
    }
}

impl LogRecord {
    /// `LOG_CONT` is set: the text continues the previous record's line.
    pub fn is_continuation(&self) -> bool {
        self.flags.is_some_and(|f| f & 8 != 0)
    }
}

fn level_of(k: &Kernel<'_>, byte: u8) -> u8 {
    // `u8 flags:5; u8 level:3;`: GCC allocates bit-fields from the low bits on little-endian
    // targets and from the high bits on big-endian ones.
    match k.endian() {
        elfcorehdr::Endian::Little => byte >> 5,
        elfcorehdr::Endian::Big => byte & 7,
    }
}

struct DevInfo {
    base: u64,
    subsystem: (u64, u64),
    device: (u64, u64),
}

fn dev_info_layout(k: &Kernel<'_>) -> Result<Option<DevInfo>> {
    let l = Layout { k };
    let (Some(base), Some(so), Some(sl), Some(d_o), Some(dl)) = (
        l.opt_off("printk_info.dev_info")?,
        l.opt_off("dev_printk_info.subsystem")?,
        l.opt_len("printk_info_subsystem")?,
        l.opt_off("dev_printk_info.device")?,
        l.opt_len("printk_info_device")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(DevInfo {
        base,
        subsystem: (so, sl),
        device: (d_o, dl),
    }))
}

impl DevInfo {
    fn read(&self, k: &Kernel<'_>, infos: &[u8], i: u64) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for (key, (o, len)) in [("SUBSYSTEM=", self.subsystem), ("DEVICE=", self.device)] {
            let s = i + self.base + o;
            let e = s + len;
            let bytes = usize::try_from(s)
                .ok()
                .zip(usize::try_from(e).ok())
                .and_then(|(s, e)| infos.get(s..e));
            let Some(bytes) = bytes else {
                return Err(Error::Printk {
                    what: "printk_info.dev_info",
                    vaddr: s,
                    value: len,
                });
            };
            let _ = k;
            let n = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            if n > 0 {
                let mut v = key.as_bytes().to_vec();
                v.extend_from_slice(&bytes[..n]);
                out.push(v);
            }
        }
        Ok(out)
    }
}

fn read_structured(k: &Kernel<'_>) -> Result<KernelLog> {
    let l = Layout { k };
    let i = k.info();
    // `struct printk_log` since 3.11, `struct log` in 3.5 to 3.10.
    let name = if i.size("printk_log")?.is_some() {
        "printk_log"
    } else {
        "log"
    };
    let hdr = l.size(name)?;
    let ts_off = l.off(&format!("{name}.ts_nsec"))?;
    let len_off = l.off(&format!("{name}.len"))?;
    let text_len_off = l.off(&format!("{name}.text_len"))?;
    let buf_va = k.read_pointer(l.sym("log_buf")?)?;
    let buf_len = k.read_uint(l.sym("log_buf_len")?, 4)?;
    let first = k.read_uint(l.sym("log_first_idx")?, 4)?;
    let next = k.read_uint(l.sym("log_next_idx")?, 4)?;
    let buf = k.read_virt_vec("log_buf", buf_va, buf_len, LIMIT)?;
    let mut records = Vec::new();
    let mut idx = first;
    let mut wrapped = false;
    while idx != next {
        let h = |off: u64, size: u64, what| field(k, &buf, idx + off, size, what);
        if idx.checked_add(hdr).is_none_or(|e| e > buf_len) {
            return Err(Error::Printk {
                what: "log record index past log_buf_len",
                vaddr: buf_va,
                value: idx,
            });
        }
        let len = h(len_off, 2, "printk_log.len")?;
        if len == 0 {
            if wrapped {
                return Err(Error::Printk {
                    what: "log_buf wraps twice",
                    vaddr: buf_va,
                    value: idx,
                });
            }
            wrapped = true;
            idx = 0;
            continue;
        }
        let text_len = h(text_len_off, 2, "printk_log.text_len")?;
        let dict_len = h(text_len_off + 2, 2, "printk_log.dict_len")?;
        let fac = narrow(
            h(text_len_off + 4, 1, "printk_log.facility")?,
            idx + text_len_off + 4,
            "printk_log.facility",
        )?;
        let lv = narrow(
            h(text_len_off + 5, 1, "printk_log.level")?,
            idx + text_len_off + 5,
            "printk_log.level",
        )?;
        let ts = h(ts_off, 8, "printk_log.ts_nsec")?;
        let text_start = idx + hdr;
        let text_end = (text_start + text_len).min(buf_len);
        let dict_end = (text_end + dict_len).min(buf_len);
        let dict = span(&buf, text_end, dict_end)
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        records.push(LogRecord {
            seq: None,
            ts_nsec: ts,
            level: Some(level_of(k, lv)),
            flags: Some(flags_of(k, lv)),
            facility: Some(fac),
            caller_id: None,
            text: span(&buf, text_start, text_end).to_vec(),
            dict,
        });
        idx += len;
        if idx >= buf_len {
            idx = 0;
        }
        if records.len() as u64 > buf_len {
            break;
        }
    }
    Ok(KernelLog {
        kind: LogKind::Structured,
        records,
        legacy_text: Vec::new(),
    })
}

fn read_legacy(k: &Kernel<'_>) -> Result<KernelLog> {
    let l = Layout { k };
    let buf_va = k.read_pointer(l.sym("log_buf")?)?;
    let buf_len = k.read_uint(l.sym("log_buf_len")?, 4)?;
    let log_end = k.read_uint(l.sym("log_end")?, 4)?;
    if buf_len == 0 {
        return Err(Error::Printk {
            what: "log_buf_len",
            vaddr: buf_va,
            value: 0,
        });
    }
    let buf = k.read_virt_vec("log_buf", buf_va, buf_len, LIMIT)?;
    // Rotate so the oldest byte comes first, then keep the last min(log_end, len) bytes.
    // `buf` holds `buf_len` bytes, so both indices below are within it.
    let wrap = min_len(log_end % buf_len, buf.len());
    let mut text = buf[wrap..].to_vec();
    text.extend_from_slice(&buf[..wrap]);
    let keep = min_len(log_end, buf.len());
    let legacy_text = text[text.len() - keep..].to_vec();
    Ok(KernelLog {
        kind: LogKind::Legacy,
        records: Vec::new(),
        legacy_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_print_like_vmcore_dmesg() {
        let mut line = Vec::new();
        let r = LogRecord {
            ts_nsec: 123_456_789_999,
            text: b"a\tb\x1b\x80\n c".to_vec(),
            ..LogRecord::default()
        };
        format_record(&r, &mut line);
        assert_eq!(line, b"[  123.456789] a\tb\\x1b\\x80\n c\n");
        line.clear();
        format_record(
            &LogRecord {
                ts_nsec: 100_000_000_000_000,
                ..LogRecord::default()
            },
            &mut line,
        );
        assert_eq!(line, b"[100000.000000] \n");
    }
}
