//! Finding what kallsyms does not name, for kernels built without `CONFIG_KALLSYMS_ALL`
//! (Debian's arm64 kernels): their kallsyms holds text symbols only, so `__start_BTF` and
//! `init_task` are found by scanning the kernel image after `_etext` (read-only data, then
//! init, then data; Debian's 6.1 arm64 image puts `.BTF` 4.7 MiB and `init_task` 16 MiB
//! past `_etext`), a page at a time, at most [`SCAN_LIMIT`] bytes, each hit validated
//! before use.

use crate::error::{Error, Result};
use crate::kallsyms::Kallsyms;
use crate::mem::{Memory, MemoryExt};

/// How far past `_etext` a scan looks.
pub const SCAN_LIMIT: u64 = 128 << 20;
const PAGE: u64 = 4096;

/// Calls `hit(va, window)` for every `step`-aligned address from `start` (page aligned) to
/// `start + SCAN_LIMIT`, where `window` holds the bytes from `va` to the end of the next
/// page (at least one page); stops at the first `Some`. Pages that cannot be read are
/// skipped.
fn scan<T>(
    mem: &dyn Memory,
    start: u64,
    step: usize,
    mut hit: impl FnMut(u64, &[u8]) -> Option<T>,
) -> Option<T> {
    let start = start - start % PAGE;
    let mut prev: Option<(u64, Vec<u8>)> = None;
    let mut va = start;
    while va < start.saturating_add(SCAN_LIMIT) {
        let mut page = vec![0u8; 4096];
        let cur = mem
            .bytes("kernel image scan", va, &mut page)
            .ok()
            .map(|()| page);
        if let (Some((pva, p)), Some(c)) = (&prev, &cur) {
            let mut both = p.clone();
            both.extend_from_slice(c);
            for at in (0..p.len()).step_by(step) {
                if let Some(t) = hit(pva + u64::try_from(at).unwrap_or(0), &both[at..]) {
                    return Some(t);
                }
            }
        }
        prev = cur.map(|c| (va, c));
        va = va.checked_add(PAGE)?;
    }
    None
}

fn scan_start(syms: &Kallsyms, why: &'static str) -> Result<u64> {
    syms.lookup("_etext")
        .or_else(|| syms.lookup("_stext"))
        .map(|s| s.address)
        .ok_or(Error::Missing {
            what: "symbol _etext or _stext in kallsyms".into(),
            why,
        })
}

/// `(address, length)` of the BTF section: a header with magic 0xeB9F, version 1,
/// `hdr_len` 24, `type_off` 0 and the strings right after the types, the first after
/// `_etext`.
pub fn find_btf(mem: &dyn Memory, syms: &Kallsyms) -> Result<(u64, u64)> {
    let why = "BTF without __start_BTF in kallsyms (no CONFIG_KALLSYMS_ALL)";
    let start = scan_start(syms, why)?;
    let le = matches!(mem.byte_order(), crate::mem::ByteOrder::Little);
    scan(mem, start, 4, |va, w| {
        let magic: [u8; 2] = if le { [0x9f, 0xeb] } else { [0xeb, 0x9f] };
        if w.len() < 24 || w[0..2] != magic || w[2] != 1 {
            return None;
        }
        let f = |i: usize| {
            let b = [w[i], w[i + 1], w[i + 2], w[i + 3]];
            u64::from(if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            })
        };
        let (hdr, toff, tlen, soff, slen) = (f(4), f(8), f(12), f(16), f(20));
        let len = hdr + soff + slen;
        (hdr == 24 && toff == 0 && soff == tlen && slen > 0 && len <= crate::btf::MAX_BTF)
            .then_some((va, len))
    })
    .ok_or(Error::Missing {
        what: format!("a BTF header in the {SCAN_LIMIT:#x} bytes after {start:#x}"),
        why,
    })
}

/// The address of `init_task`: a task_struct whose `comm` is `swapper/0` or `swapper`,
/// whose `pid` is 0, and whose `tasks.next->prev` points back at its `tasks`.
pub fn find_init_task(
    mem: &dyn Memory,
    syms: &Kallsyms,
    comm_off: u64,
    pid_off: u64,
    tasks_off: u64,
) -> Result<u64> {
    let why = "the task list without init_task in kallsyms (no CONFIG_KALLSYMS_ALL)";
    let start = scan_start(syms, why)?;
    let ps = mem.pointer_size();
    scan(mem, start, 8, |va, w| {
        if !(w.starts_with(b"swapper/0\0") || w.starts_with(b"swapper\0")) {
            return None;
        }
        let task = va.checked_sub(comm_off)?;
        if mem.u32("init_task.pid", task.checked_add(pid_off)?).ok()? != 0 {
            return None;
        }
        let head = task.checked_add(tasks_off)?;
        let next = mem.pointer("init_task.tasks.next", head).ok()?;
        let back = mem
            .pointer("tasks.next->prev", next.checked_add(ps)?)
            .ok()?;
        (back == head).then_some(task)
    })
    .ok_or(Error::Missing {
        what: format!("init_task (comm swapper/0) in the {SCAN_LIMIT:#x} bytes after {start:#x}"),
        why,
    })
}

/// Offsets of `struct module` a scan for the module list checks.
#[derive(Debug, Clone, Copy)]
pub struct ModuleFields {
    /// `list`.
    pub list: u64,
    /// `name`.
    pub name: u64,
    /// `state` (`MODULE_STATE_LIVE` 0 to `MODULE_STATE_UNFORMED` 3).
    pub state: u64,
}

fn plausible_module(mem: &dyn Memory, node: u64, f: ModuleFields) -> Option<()> {
    let m = node.checked_sub(f.list)?;
    if mem.u32("module.state", m.checked_add(f.state)?).ok()? > 3 {
        return None;
    }
    let mut name = [0u8; 56];
    mem.bytes("module.name", m.checked_add(f.name)?, &mut name)
        .ok()?;
    let len = name.iter().position(|&c| c == 0)?;
    (len > 0
        && name[..len]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
    .then_some(())
}

/// The address of the `modules` list head: a `list_head` after `_etext` whose ring leaves
/// the kernel image, returns to it, and links only plausible modules (a state of 0 to 3, a
/// name of `[A-Za-z0-9_-]`) — at most [`crate::modules::MAX_MODULES`] of them.
pub fn find_modules_head(mem: &dyn Memory, syms: &Kallsyms, f: ModuleFields) -> Result<u64> {
    let why = "the module list without `modules` in kallsyms (no CONFIG_KALLSYMS_ALL)";
    let start = scan_start(syms, why)?;
    let image = start..start.saturating_add(SCAN_LIMIT);
    let ps = mem.pointer_size();
    let le = matches!(mem.byte_order(), crate::mem::ByteOrder::Little);
    scan(mem, start, 8, |va, w| {
        let b: [u8; 8] = w.get(..8)?.try_into().ok()?;
        let next = if le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        };
        // A head's next is outside the image (a module) and in the kernel's half.
        if next & (1 << 63) == 0 || image.contains(&next) || next % 8 != 0 {
            return None;
        }
        plausible_module(mem, next, f)?;
        if mem.pointer("list.prev", next.checked_add(ps)?).ok()? != va {
            return None;
        }
        let nodes =
            crate::tasks::list_nodes(mem, "modules", va, crate::modules::MAX_MODULES).ok()?;
        nodes
            .iter()
            .all(|&n| !image.contains(&n) && plausible_module(mem, n, f).is_some())
            .then_some(va)
    })
    .ok_or(Error::Missing {
        what: format!("the modules list in the {SCAN_LIMIT:#x} bytes after {start:#x}"),
        why,
    })
}
