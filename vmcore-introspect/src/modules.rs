//! Loaded modules: the `modules` list (`struct module.list`), each with its name and the
//! base and size of its core image (`core_layout.base`/`.size` before Linux 6.4,
//! `mem[MOD_TEXT].base`/`.size` since), offsets from BTF.

use crate::btf::Btf;
use crate::error::{Result, add};
use crate::kallsyms::Kallsyms;
use crate::mem::{Memory, MemoryExt};
use crate::tasks::list_nodes;

/// More modules than any kernel loads (the list is bounded by it).
pub const MAX_MODULES: u64 = 65_536;

/// One loaded module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Address of its `struct module`.
    pub address: u64,
    /// `name`.
    pub name: String,
    /// Base of its core image (text first).
    pub base: u64,
    /// Size of its core image (`core_layout.size`; `mem[MOD_TEXT].size` on 6.4 and later).
    pub size: u64,
}

/// The loaded modules, in list order (most recently loaded first).
pub fn modules(mem: &dyn Memory, syms: &Kallsyms, btf: &Btf) -> Result<Vec<Module>> {
    let list = btf.member("module", "list")?.offset;
    let head = match syms.lookup("modules") {
        Some(s) => s.address,
        // Kernels without CONFIG_KALLSYMS_ALL: found by a validated scan.
        None => crate::scan::find_modules_head(
            mem,
            syms,
            crate::scan::ModuleFields {
                list,
                name: btf.member("module", "name")?.offset,
                state: btf.member("module", "state")?.offset,
            },
        )?,
    };
    let name = btf.member("module", "name")?;
    let (base, size) = match (
        btf.member("module", "core_layout.base"),
        btf.member("module", "core_layout.size"),
    ) {
        (Ok(b), Ok(s)) => (b, s),
        // Linux 6.4+: struct module_memory mem[MOD_MEM_NUM_TYPES], MOD_TEXT first.
        _ => (
            btf.member("module", "mem.base")?,
            btf.member("module", "mem.size")?,
        ),
    };
    let mut out = Vec::new();
    for node in list_nodes(mem, "modules", head, MAX_MODULES)? {
        let m = node.wrapping_sub(list);
        let mut raw = vec![0u8; usize::try_from(name.size.min(256)).unwrap_or(56)];
        mem.bytes("module.name", add("module.name", m, name.offset)?, &mut raw)?;
        let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        out.push(Module {
            address: m,
            name: String::from_utf8_lossy(&raw[..end]).into_owned(),
            base: mem.pointer("module base", add("module base", m, base.offset)?)?,
            size: mem.uint(
                "module size",
                add("module size", m, size.offset)?,
                usize::try_from(size.size.min(8)).unwrap_or(4),
            )?,
        });
    }
    Ok(out)
}
