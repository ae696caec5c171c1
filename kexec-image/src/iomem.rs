//! The system memory map: `/proc/iomem` as a tree of nested resources,
//! `/sys/firmware/memmap`, the crash kernel regions and the RAM total.
//!
//! Formats from `kernel/resource.c` (`r_show`: two spaces of indent per
//! nesting level, "`start-end : name`" with inclusive hex bounds) and
//! `drivers/firmware/memmap.c` (one directory per entry with `start`, `end`
//! and `type`). Resource names as the kernel registers them: "System RAM",
//! "System RAM (kmem)" (dax/kmem hot-plugged memory), "Crash kernel" (every
//! crash region, low and high), "Kernel code", "Kernel data", "Kernel bss".
//! Without root the kernel prints every address as zero; [`Iomem::addresses_hidden`] tells.

use std::path::Path;

use crate::error::{Error, Result};

/// Deepest nesting accepted (real trees are under 8 levels).
pub const MAX_DEPTH: usize = 32;

/// A physical address range, both ends inclusive (as `/proc/iomem` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemRange {
    /// First byte.
    pub start: u64,
    /// Last byte.
    pub end: u64,
}

impl MemRange {
    /// Size in bytes (saturating for the full 64-bit range; 0 for an
    /// inverted range, which the parsers never produce).
    pub fn size(&self) -> u64 {
        match self.end.checked_sub(self.start) {
            Some(d) => d.saturating_add(1),
            None => 0,
        }
    }
}

/// One resource and the resources nested in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The range.
    pub range: MemRange,
    /// The name after " : ".
    pub name: String,
    /// Nested resources, in file order.
    pub children: Vec<Resource>,
}

/// `/proc/iomem` parsed into a tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Iomem {
    /// Top-level resources.
    pub roots: Vec<Resource>,
}

fn clip(line: &str) -> String {
    let mut end = line.len().min(80);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

fn parse_line(line: &str, n: usize) -> Result<(usize, Resource)> {
    let err = |reason| Error::MemoryMap {
        line: n,
        text: clip(line),
        reason,
    };
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    if indent % 2 != 0 {
        return Err(err("indent is not a multiple of two spaces"));
    }
    let (range, name) = body
        .split_once(" : ")
        .ok_or_else(|| err("expected \"start-end : name\""))?;
    let (a, b) = range
        .split_once('-')
        .ok_or_else(|| err("expected \"start-end\""))?;
    let hex = |s: &str| {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(err("address is not hexadecimal"));
        }
        u64::from_str_radix(s, 16).map_err(|_| err("address does not fit 64 bits"))
    };
    let (start, end) = (hex(a)?, hex(b)?);
    if end < start {
        return Err(err("end below start"));
    }
    Ok((
        indent / 2,
        Resource {
            range: MemRange { start, end },
            name: name.to_owned(),
            children: Vec::new(),
        },
    ))
}

impl Iomem {
    /// Parses the text of `/proc/iomem`.
    pub fn parse(text: &str) -> Result<Iomem> {
        let mut roots: Vec<Resource> = Vec::new();
        let mut open: Vec<Resource> = Vec::new();
        fn close(open: &mut Vec<Resource>, roots: &mut Vec<Resource>) {
            if let Some(done) = open.pop() {
                match open.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => roots.push(done),
                }
            }
        }
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (depth, res) = parse_line(line, i + 1)?;
            if depth >= MAX_DEPTH {
                return Err(Error::MemoryMap {
                    line: i + 1,
                    text: clip(line),
                    reason: "nesting deeper than 32 levels",
                });
            }
            if depth > open.len() {
                return Err(Error::MemoryMap {
                    line: i + 1,
                    text: clip(line),
                    reason: "indent skips a nesting level",
                });
            }
            while open.len() > depth {
                close(&mut open, &mut roots);
            }
            if let Some(parent) = open.last() {
                let p = parent.range;
                if res.range.start < p.start || res.range.end > p.end {
                    return Err(Error::MemoryMap {
                        line: i + 1,
                        text: clip(line),
                        reason: "nested resource lies outside its parent",
                    });
                }
            }
            open.push(res);
        }
        while !open.is_empty() {
            close(&mut open, &mut roots);
        }
        Ok(Iomem { roots })
    }

    /// Reads `<root>/proc/iomem`.
    pub fn read(root: &Path) -> Result<Iomem> {
        let path = root.join("proc/iomem");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })?;
        Self::parse(&text)
    }

    /// Every resource with its depth, depth first in file order.
    pub fn walk(&self) -> Vec<(usize, &Resource)> {
        let mut out = Vec::new();
        let mut stack: Vec<(usize, &Resource)> = self.roots.iter().rev().map(|r| (0, r)).collect();
        while let Some((d, r)) = stack.pop() {
            out.push((d, r));
            stack.extend(r.children.iter().rev().map(|c| (d + 1, c)));
        }
        out
    }

    /// The ranges of every resource called exactly `name`, at any depth.
    pub fn ranges_named(&self, name: &str) -> Vec<MemRange> {
        self.walk()
            .into_iter()
            .filter(|(_, r)| r.name == name)
            .map(|(_, r)| r.range)
            .collect()
    }

    /// The crash kernel regions ("Crash kernel"), low and high, in address order.
    pub fn crash_regions(&self) -> Vec<MemRange> {
        let mut v = self.ranges_named("Crash kernel");
        v.sort();
        v
    }

    /// Total bytes reserved for crash kernels.
    pub fn crash_size(&self) -> u64 {
        self.crash_regions().iter().map(MemRange::size).sum()
    }

    /// "System RAM" ranges not nested in another "System RAM" (boot memory;
    /// "System RAM (kmem)" hot-plugged later is left out).
    pub fn system_ram(&self) -> Vec<MemRange> {
        let mut out = Vec::new();
        let mut stack: Vec<&Resource> = self.roots.iter().collect();
        while let Some(r) = stack.pop() {
            if r.name == "System RAM" {
                out.push(r.range);
            } else {
                stack.extend(r.children.iter());
            }
        }
        out.sort();
        out
    }

    /// Total RAM as the kernel counts it for `crashkernel=`: the sum of the
    /// boot "System RAM" ranges, which is what `memblock_phys_mem_size()`
    /// adds up on x86, arm64 and riscv. The kernel then rounds this up to
    /// 128 MiB for the range syntax (see `crashkernel-param`).
    pub fn total_system_ram(&self) -> u64 {
        self.system_ram().iter().map(MemRange::size).sum()
    }

    /// Hot-plugged memory ("System RAM (kmem)").
    pub fn kmem_ram(&self) -> Vec<MemRange> {
        self.ranges_named("System RAM (kmem)")
    }

    /// The running kernel's image ("Kernel code", "Kernel rodata", "Kernel data", "Kernel bss").
    pub fn kernel_image(&self) -> Vec<(String, MemRange)> {
        self.walk()
            .into_iter()
            .filter(|(_, r)| r.name.starts_with("Kernel "))
            .map(|(_, r)| (r.name.clone(), r.range))
            .collect()
    }

    /// Whether every address is zero: the file was read without
    /// `CAP_SYS_ADMIN`, and its ranges mean nothing.
    pub fn addresses_hidden(&self) -> bool {
        let all = self.walk();
        !all.is_empty()
            && all
                .iter()
                .all(|(_, r)| r.range.start == 0 && r.range.end == 0)
    }
}

/// One `/sys/firmware/memmap` entry (the firmware's map, e820 on x86).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareMapEntry {
    /// Directory index.
    pub index: u32,
    /// The range.
    pub range: MemRange,
    /// The type ("System RAM", "Reserved", "ACPI Tables", ...).
    pub kind: String,
}

/// Reads `<root>/sys/firmware/memmap/*` in index order.
pub fn read_firmware_memmap(root: &Path) -> Result<Vec<FirmwareMapEntry>> {
    let dir = root.join("sys/firmware/memmap");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let entry = entry.map_err(io(&dir))?;
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let read = |f: &str| {
            let p = entry.path().join(f);
            std::fs::read_to_string(&p).map_err(io(&p))
        };
        let hex = |f: &str| -> Result<u64> {
            let t = read(f)?;
            let v = t.trim();
            let h = v.strip_prefix("0x").unwrap_or(v);
            u64::from_str_radix(h, 16).map_err(|_| Error::MemoryMap {
                line: index as usize,
                text: clip(v),
                reason: "memmap address is not hexadecimal",
            })
        };
        let (start, end) = (hex("start")?, hex("end")?);
        if end < start {
            return Err(Error::MemoryMap {
                line: index as usize,
                text: format!("{start:#x}-{end:#x}"),
                reason: "memmap end below start",
            });
        }
        out.push(FirmwareMapEntry {
            index,
            range: MemRange { start, end },
            kind: read("type")?.trim_end_matches('\n').to_owned(),
        });
    }
    out.sort_by_key(|e| e.index);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const X86: &str = "\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-7ffdefff : System RAM
  2a000000-2bffffff : Crash kernel
  52a00000-53802fff : Kernel code
  53a00000-5408afff : Kernel rodata
  54200000-5454d3ff : Kernel data
  54b3a000-54ffffff : Kernel bss
7ffdf000-7fffffff : Reserved
100000000-27fffffff : System RAM
  270000000-27fffffff : Crash kernel
380000000-3ffffffff : dax0.0
  380000000-3ffffffff : System RAM (kmem)
";

    #[test]
    fn x86_tree() {
        let m = Iomem::parse(X86).unwrap();
        assert_eq!(m.roots.len(), 8);
        assert_eq!(m.roots[3].children.len(), 1);
        assert_eq!(m.roots[4].children.len(), 5);
        assert_eq!(
            m.crash_regions(),
            vec![
                MemRange {
                    start: 0x2a00_0000,
                    end: 0x2bff_ffff
                },
                MemRange {
                    start: 0x2_7000_0000,
                    end: 0x2_7fff_ffff
                },
            ]
        );
        assert_eq!(m.crash_size(), (32 << 20) + (256 << 20));
        let ram = (0x9fbff - 0x1000 + 1)
            + (0x7ffdefff - 0x100000 + 1)
            + (0x27fffffffu64 - 0x100000000 + 1);
        assert_eq!(m.total_system_ram(), ram);
        assert_eq!(
            m.kmem_ram(),
            vec![MemRange {
                start: 0x3_8000_0000,
                end: 0x3_ffff_ffff
            }]
        );
        assert_eq!(m.kernel_image().len(), 4);
        assert!(!m.addresses_hidden());
    }

    #[test]
    fn bad_lines() {
        for (text, reason) in [
            ("0-f System RAM\n", "expected \"start-end : name\""),
            ("0-g : x\n", "address is not hexadecimal"),
            ("f-0 : x\n", "end below start"),
            ("0-f : a\n    0-1 : b\n", "indent skips a nesting level"),
            (
                "0-f : a\n  0-1f : b\n",
                "nested resource lies outside its parent",
            ),
            (" 0-f : a\n", "indent is not a multiple of two spaces"),
            ("0-11111111111111111 : a\n", "address does not fit 64 bits"),
        ] {
            match Iomem::parse(text) {
                Err(Error::MemoryMap {
                    reason: r, line, ..
                }) => {
                    assert_eq!(r, reason, "{text}");
                    assert!(line >= 1);
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let hidden =
            Iomem::parse("00000000-00000000 : System RAM\n  00000000-00000000 : Kernel code\n")
                .unwrap();
        assert!(hidden.addresses_hidden());
    }

    fn render(m: &Iomem) -> String {
        let mut s = String::new();
        for (d, r) in m.walk() {
            s.push_str(&format!(
                "{:w$}{:08x}-{:08x} : {}\n",
                "",
                r.range.start,
                r.range.end,
                r.name,
                w = d * 2
            ));
        }
        s
    }

    proptest! {
        #[test]
        fn render_parse_round_trip(ranges in proptest::collection::vec((0u64..1 << 40, 1u64..1 << 30, 0usize..3), 0..20)) {
            // Build a valid tree: each top range gets up to 2 children inside it.
            let mut m = Iomem::default();
            let mut base = 0u64;
            for (gap, len, kids) in ranges {
                let start = base + gap;
                let end = start + len;
                let mut r = Resource { range: MemRange { start, end }, name: "System RAM".into(), children: vec![] };
                for k in 0..kids as u64 {
                    let cs = start + k * (len / 3);
                    r.children.push(Resource { range: MemRange { start: cs, end: cs + len / 4 }, name: format!("child {k}"), children: vec![] });
                }
                m.roots.push(r);
                base = end + 1;
            }
            let back = Iomem::parse(&render(&m)).unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn parse_never_panics(s in "[ 0-9a-f:\\-\\n A-Za-z()]{0,200}") {
            let _ = Iomem::parse(&s);
        }
    }
}
