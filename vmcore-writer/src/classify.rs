//! Page selection by dump level from VMCOREINFO alone: the `struct page` array (mem_map)
//! found through `mem_section`, and each page's flags, mapping, `_mapcount`/page type,
//! `private` and compound fields, decided in makedumpfile's order.
//!
//! Facts: makedumpfile `makedumpfile.c` (`__exclude_unnecessary_pages`, `page_is_buddy_v3`,
//! `is_cache_page`, `isOffline`, `isHugetlb`, `create_2nd_bitmap`), `makedumpfile.h`
//! (`DL_EXCLUDE_*`), and the kernel's `kernel/vmcore_info.c` and `include/linux/mmzone.h`
//! (`SECTION_HAS_MEM_MAP`, the encoded `section_mem_map`). Kernel-version differences are
//! taken from which keys VMCOREINFO has and what they hold: `PG_buddy` (before 2.6.38),
//! `PAGE_BUDDY_MAPCOUNT_VALUE` as a full `_mapcount` value (2.6.38 to 6.11) or as the
//! page-type byte in the top 8 bits (6.12 and later), `PG_swapbacked` (4.10), the one-byte
//! `compound_order`/`compound_dtor` (4.16), `PAGE_HUGETLB_MAPCOUNT_VALUE` (hugetlb as a page
//! type, 6.9 and later).

use vmcore_reader::{Kernel, KernelInfo};

use crate::error::{Error, Result, min_len, to_len};

/// Dump-level bits (`-d`): pages to leave out.
pub mod level {
    /// Pages filled with zero.
    pub const ZERO: u8 = 1;
    /// Page cache pages without private data.
    pub const CACHE: u8 = 2;
    /// Page cache pages, private or not.
    pub const CACHE_PRIVATE: u8 = 4;
    /// User process data (anonymous and hugetlbfs pages).
    pub const USER: u8 = 8;
    /// Free pages (buddy allocator).
    pub const FREE: u8 = 16;
}

/// Why a page was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageClass {
    /// Not excludable at this level.
    Keep,
    /// A compound tail page, decided with its head.
    Tail,
    /// A free buddy block of `2^order` pages starting here.
    Free,
    /// A page cache page without private data.
    Cache,
    /// A page cache page with private data.
    CachePrivate,
    /// User data.
    User,
    /// A hardware-poisoned page (always out).
    HwPoison,
    /// A logically offline page (always out).
    Offline,
}

/// Counts of pages left out, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExcludedCounts {
    /// Zero pages (kdump: stored as the shared zero page; ELF: left out).
    pub zero: u64,
    /// Non-private cache.
    pub cache: u64,
    /// Private cache.
    pub cache_private: u64,
    /// User data.
    pub user: u64,
    /// Free pages.
    pub free: u64,
    /// Hardware-poisoned pages.
    pub hwpoison: u64,
    /// Offline pages.
    pub offline: u64,
}

impl ExcludedCounts {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &ExcludedCounts) {
        self.zero += other.zero;
        self.cache += other.cache;
        self.cache_private += other.cache_private;
        self.user += other.user;
        self.free += other.free;
        self.hwpoison += other.hwpoison;
        self.offline += other.offline;
    }
}

const NOT_FOUND: Option<u64> = None;

/// What VMCOREINFO says about `struct page`; everything the classifier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLayout {
    /// Dump level bits.
    pub level: u8,
    /// Size of a `long`/pointer in the dumped kernel.
    pub long: usize,
    /// Big-endian kernel.
    pub big_endian: bool,
    /// `SIZE(page)`.
    pub size: usize,
    off_flags: usize,
    off_refcount: Option<usize>,
    off_mapping: usize,
    off_mapcount: Option<usize>,
    off_private: Option<usize>,
    off_compound_head: Option<usize>,
    off_order: Option<usize>,
    off_dtor: Option<usize>,
    order_width: usize,
    dtor_width: usize,
    pg_lru: Option<u64>,
    pg_private: Option<u64>,
    pg_swapcache: Option<u64>,
    pg_swapbacked: Option<u64>,
    pg_slab: Option<u64>,
    pg_hwpoison: Option<u64>,
    pg_buddy: Option<u64>,
    head_mask: Option<u64>,
    buddy_value: Option<u64>,
    offline_value: Option<u64>,
    hugetlb_value: Option<u64>,
    hugetlb_dtor: Option<u64>,
}

fn small(v: Option<u64>, what: &'static str, max: u64) -> Result<Option<usize>> {
    match v {
        None => Ok(None),
        Some(x) => match usize::try_from(x) {
            Ok(o) if x < max => Ok(Some(o)),
            _ => Err(Error::BadValue {
                what,
                value: x,
                expected: "a struct page offset below SIZE(page)",
            }),
        },
    }
}

fn bit(v: Option<u64>, what: &'static str) -> Result<Option<u64>> {
    match v {
        Some(x) if x >= 64 => Err(Error::BadValue {
            what,
            value: x,
            expected: "a page flag bit number below 64",
        }),
        v => Ok(v),
    }
}

fn kernel_version(release: &str) -> (u32, u32) {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

impl PageLayout {
    /// Reads the layout from VMCOREINFO for dump level `level`, a kernel of `long`-byte words.
    pub fn from_info(
        info: &KernelInfo,
        level: u8,
        long: usize,
        big_endian: bool,
    ) -> Result<PageLayout> {
        let r = |e: vmcore_reader::Error| Error::VmcoreInfo {
            what: e.to_string(),
        };
        let size = info
            .size("page")
            .map_err(r)?
            .ok_or_else(|| Error::VmcoreInfo {
                what: "SIZE(page) is missing".into(),
            })?;
        if !(16..=4096).contains(&size) {
            return Err(Error::BadValue {
                what: "SIZE(page)",
                value: size,
                expected: "16 ..= 4096",
            });
        }
        // 16 ..= 4096: fits a `usize`.
        let size_len = to_len("SIZE(page)", size)?;
        let off = |name: &str| info.offset(name).map_err(r);
        let num = |name: &str| info.number(name).map_err(r);
        let off_flags =
            small(off("page.flags")?, "OFFSET(page.flags)", size)?.ok_or_else(|| {
                Error::VmcoreInfo {
                    what: "OFFSET(page.flags) is missing".into(),
                }
            })?;
        let off_mapping =
            small(off("page.mapping")?, "OFFSET(page.mapping)", size)?.ok_or_else(|| {
                Error::VmcoreInfo {
                    what: "OFFSET(page.mapping) is missing".into(),
                }
            })?;
        let (major, minor) = kernel_version(info.osrelease().unwrap_or(""));
        let modern = (major, minor) >= (4, 4);
        let order_byte = (major, minor) >= (4, 16);
        let lru = off("page.lru")?;
        let prev = off("list_head.prev")?.unwrap_or(8);
        let next = off("list_head.next")?.unwrap_or(0);
        let off_order = match off("page.compound_order")? {
            Some(v) => small(Some(v), "OFFSET(page.compound_order)", size)?,
            // A sum that overflows is out of range, as `small` reports.
            None if !modern => small(
                lru.map(|l| l.saturating_add(prev)),
                "OFFSET(page.lru)",
                size,
            )?,
            None => None,
        };
        let off_dtor = match off("page.compound_dtor")? {
            Some(v) => small(Some(v), "OFFSET(page.compound_dtor)", size)?,
            None if !modern => small(
                lru.map(|l| l.saturating_add(next)),
                "OFFSET(page.lru)",
                size,
            )?,
            None => None,
        };
        let chk = |name: &'static str, v: Option<usize>, w: usize| -> Result<Option<usize>> {
            match v {
                Some(o) if o + w > size_len => Err(Error::BadValue {
                    what: name,
                    value: o as u64,
                    expected: "a field inside SIZE(page)",
                }),
                v => Ok(v),
            }
        };
        let l = PageLayout {
            level,
            long,
            big_endian,
            size: size_len,
            off_flags: chk("OFFSET(page.flags)", Some(off_flags), long)?.unwrap_or(0),
            off_refcount: chk(
                "OFFSET(page._refcount)",
                small(off("page._refcount")?, "OFFSET(page._refcount)", size)?,
                4,
            )?,
            off_mapping: chk("OFFSET(page.mapping)", Some(off_mapping), long)?.unwrap_or(0),
            off_mapcount: chk(
                "OFFSET(page._mapcount)",
                small(off("page._mapcount")?, "OFFSET(page._mapcount)", size)?,
                4,
            )?,
            off_private: chk(
                "OFFSET(page.private)",
                small(off("page.private")?, "OFFSET(page.private)", size)?,
                long,
            )?,
            off_compound_head: chk(
                "OFFSET(page.compound_head)",
                small(
                    off("page.compound_head")?,
                    "OFFSET(page.compound_head)",
                    size,
                )?,
                long,
            )?,
            off_order: chk(
                "OFFSET(page.compound_order)",
                off_order,
                if order_byte { 1 } else { 2 },
            )?,
            off_dtor: chk(
                "OFFSET(page.compound_dtor)",
                off_dtor,
                if order_byte {
                    1
                } else if modern {
                    2
                } else {
                    long
                },
            )?,
            order_width: if order_byte { 1 } else { 2 },
            dtor_width: if order_byte {
                1
            } else if modern {
                2
            } else {
                long
            },
            pg_lru: bit(num("PG_lru")?, "NUMBER(PG_lru)")?,
            pg_private: bit(num("PG_private")?, "NUMBER(PG_private)")?,
            pg_swapcache: bit(num("PG_swapcache")?, "NUMBER(PG_swapcache)")?,
            pg_swapbacked: bit(num("PG_swapbacked")?, "NUMBER(PG_swapbacked)")?,
            pg_slab: bit(num("PG_slab")?, "NUMBER(PG_slab)")?,
            pg_hwpoison: bit(num("PG_hwpoison")?, "NUMBER(PG_hwpoison)")?,
            pg_buddy: bit(num("PG_buddy")?, "NUMBER(PG_buddy)")?,
            head_mask: num("PG_head_mask")?,
            buddy_value: num("PAGE_BUDDY_MAPCOUNT_VALUE")?,
            offline_value: num("PAGE_OFFLINE_MAPCOUNT_VALUE")?,
            hugetlb_value: num("PAGE_HUGETLB_MAPCOUNT_VALUE")?,
            hugetlb_dtor: num("HUGETLB_PAGE_DTOR")?,
        };
        Ok(l)
    }

    /// Whether free pages can be told from `struct page` (otherwise level 16 cannot be
    /// honoured from mem_map; makedumpfile then walks the free lists).
    pub fn can_find_free(&self) -> bool {
        self.off_private.is_some()
            && (self.pg_buddy.is_some()
                || (self.buddy_value.is_some() && self.off_mapcount.is_some()))
    }

    /// Whether the mem_map walk is needed at all (makedumpfile `create_2nd_bitmap`).
    pub fn needs_walk(&self) -> bool {
        self.level & (level::CACHE | level::CACHE_PRIVATE | level::USER) != 0
            || self.pg_hwpoison.is_some()
            || (self.level & level::FREE != 0 && self.can_find_free())
    }

    fn uint(&self, b: &[u8], at: usize, len: usize) -> u64 {
        let Some(s) = b.get(at..at + len) else {
            return 0;
        };
        let mut v = 0u64;
        if self.big_endian {
            s.iter().for_each(|&x| v = (v << 8) | u64::from(x));
        } else {
            s.iter().rev().for_each(|&x| v = (v << 8) | u64::from(x));
        }
        v
    }

    fn uint32(&self, b: &[u8], at: usize) -> u32 {
        let Some(s) = b.get(at..).and_then(|s| s.first_chunk::<4>()) else {
            return 0;
        };
        if self.big_endian {
            u32::from_be_bytes(*s)
        } else {
            u32::from_le_bytes(*s)
        }
    }

    fn flag(&self, flags: u64, b: Option<u64>) -> bool {
        b.is_some_and(|b| flags & (1u64 << b) != 0)
    }

    fn type_matches(value: Option<u64>, mapcount: u32) -> bool {
        match value {
            None => false,
            // 6.12 and later: the page type is the top byte of `page_type`.
            Some(v) if v <= 0xff => u64::from(mapcount >> 24) == v,
            // Older kernels: the whole `_mapcount` (an `int`, so VMCOREINFO prints it
            // sign-extended; its low 32 bits are the value).
            Some(v) => v & 0xffff_ffff == u64::from(mapcount),
        }
    }

    /// Classifies the page whose `struct page` is `page`; `next` is the following
    /// `struct page` (for a compound head's order and destructor) when it is at hand.
    /// Returns the class and the number of pages it covers (1, or `2^order` for free blocks
    /// and compound heads).
    pub fn classify(&self, pfn: u64, page: &[u8], next: Option<&[u8]>) -> (PageClass, u64) {
        let l = self.long;
        let flags = self.uint(page, self.off_flags, l);
        let mapping = self.uint(page, self.off_mapping, l);
        let _count = self.off_refcount.map(|o| self.uint(page, o, 4));
        let mapcount = self.off_mapcount.map_or(0, |o| self.uint32(page, o));
        let private = self.off_private.map_or(0, |o| self.uint(page, o, l));
        let compound_head = self.off_compound_head.map_or(0, |o| self.uint(page, o, l));
        let mut order = 0u64;
        let mut dtor = 0u64;
        let is_head = self.head_mask.is_some_and(|m| flags & m != 0);
        if let Some(n) = next.filter(|_| is_head) {
            if let Some(o) = self.off_order {
                order = self.uint(n, o, self.order_width);
            }
            if let Some(o) = self.off_dtor {
                dtor = self.uint(n, o, self.dtor_width);
            }
            if order >= 64 || pfn & ((1u64 << order) - 1) != 0 {
                order = 0;
            }
        }
        let slab = self.flag(flags, self.pg_slab);
        let pages = 1u64 << order;
        if compound_head & 1 != 0 {
            return (PageClass::Tail, 1);
        }
        let buddy = match self.pg_buddy {
            Some(b) => flags & (1 << b) != 0,
            None => !slab && Self::type_matches(self.buddy_value, mapcount),
        };
        if self.level & level::FREE != 0 && self.can_find_free() && buddy {
            let n = if private < 64 { 1u64 << private } else { 1 };
            return (PageClass::Free, n);
        }
        let lru = self.flag(flags, self.pg_lru);
        let swapcache = self.flag(flags, self.pg_swapcache);
        let cache = lru
            || ((self.pg_swapbacked.is_none() || self.flag(flags, self.pg_swapbacked))
                && swapcache);
        let anon = mapping & 1 != 0;
        let private_flag = self.flag(flags, self.pg_private);
        if self.level & level::CACHE != 0 && cache && !private_flag && !anon {
            return (PageClass::Cache, pages);
        }
        if self.level & level::CACHE_PRIVATE != 0 && cache && !anon {
            return (
                if private_flag {
                    PageClass::CachePrivate
                } else {
                    PageClass::Cache
                },
                pages,
            );
        }
        let hugetlb = match (self.hugetlb_dtor, self.hugetlb_value) {
            (Some(d), _) if is_head && next.is_some() => dtor == d,
            (_, Some(_)) if is_head => Self::type_matches(self.hugetlb_value, mapcount),
            _ => false,
        };
        if self.level & level::USER != 0 && (anon || hugetlb) {
            return (PageClass::User, pages);
        }
        if self.flag(flags, self.pg_hwpoison) {
            return (PageClass::HwPoison, pages);
        }
        if self.offline_value.is_some() && !slab && Self::type_matches(self.offline_value, mapcount)
        {
            return (PageClass::Offline, pages);
        }
        let _ = NOT_FOUND;
        (PageClass::Keep, 1)
    }
}

/// One run of `struct page`s: pfns `[start, end)` described from `mem_map` (a kernel
/// virtual address of the `struct page` of `start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemMapRange {
    /// First pfn.
    pub start: u64,
    /// End pfn (exclusive).
    pub end: u64,
    /// Virtual address of `start`'s `struct page`.
    pub mem_map: u64,
}

/// Finds the mem_map of every present memory section (SPARSEMEM, with or without
/// SPARSEMEM_EXTREME), for pfns below `max_pfn`.
pub fn mem_map_ranges(
    kernel: &Kernel<'_>,
    layout: &PageLayout,
    page_shift: u32,
    max_pfn: u64,
) -> Result<Vec<MemMapRange>> {
    let info = kernel.info();
    let r = |e: vmcore_reader::Error| Error::VmcoreInfo {
        what: e.to_string(),
    };
    let missing = |k: &str| Error::VmcoreInfo {
        what: format!("{k} is missing (only SPARSEMEM kernels are supported)"),
    };
    let table = info
        .symbol("mem_section")
        .map_err(r)?
        .ok_or_else(|| missing("SYMBOL(mem_section)"))?;
    let length = info
        .length("mem_section")
        .map_err(r)?
        .ok_or_else(|| missing("LENGTH(mem_section)"))?;
    let sec_size = info
        .size("mem_section")
        .map_err(r)?
        .ok_or_else(|| missing("SIZE(mem_section)"))?;
    let map_off = info
        .offset("mem_section.section_mem_map")
        .map_err(r)?
        .ok_or_else(|| missing("OFFSET(mem_section.section_mem_map)"))?;
    let section_bits = info
        .number("SECTION_SIZE_BITS")
        .map_err(r)?
        .ok_or_else(|| missing("NUMBER(SECTION_SIZE_BITS)"))?;
    let phys_bits = info
        .number("MAX_PHYSMEM_BITS")
        .map_err(r)?
        .ok_or_else(|| missing("NUMBER(MAX_PHYSMEM_BITS)"))?;
    if !(u64::from(page_shift)..=u64::from(page_shift) + 30).contains(&section_bits)
        || !(section_bits..=64).contains(&phys_bits)
        || !(8..=4096).contains(&sec_size)
    {
        return Err(Error::BadValue {
            what: "mem_section geometry (SECTION_SIZE_BITS, MAX_PHYSMEM_BITS, SIZE(mem_section))",
            value: section_bits,
            expected: "page shift <= SECTION_SIZE_BITS <= MAX_PHYSMEM_BITS <= 64",
        });
    }
    if map_off
        .checked_add(layout.long as u64)
        .is_none_or(|end| end > sec_size)
    {
        return Err(Error::BadValue {
            what: "OFFSET(mem_section.section_mem_map)",
            value: map_off,
            expected: "a pointer inside SIZE(mem_section)",
        });
    }
    // 8 ..= 4096, and `map_off + long <= sec_size`: both fit a `usize`.
    let sec_len = to_len("SIZE(mem_section)", sec_size)?;
    let map_at = to_len("OFFSET(mem_section.section_mem_map)", map_off)?;
    let pages_per_section = 1u64 << (section_bits - u64::from(page_shift));
    let nr_sections = 1u64 << (phys_bits - section_bits).min(40);
    let per_root = (1u64 << page_shift) / sec_size;
    let (major, minor) = kernel_version(info.osrelease().unwrap_or(""));
    // SECTION_MAP_LAST_BIT: 5 since the zone-device taint bit (5.12), 4 before.
    let low_bits = if (major, minor) >= (5, 12) { 5 } else { 4 };
    let mask = !((1u64 << low_bits) - 1);
    let long = layout.long as u64;
    let read_word = |va: u64| -> Option<u64> { kernel.read_uint(va, long).ok() };
    let wanted_sections = max_pfn.div_ceil(pages_per_section).min(nr_sections);
    let mut out = Vec::new();
    let mut push = |nr: u64, raw: u64| {
        // SECTION_HAS_MEM_MAP
        if raw & 2 == 0 {
            return;
        }
        let start = nr * pages_per_section;
        let coded = raw & mask;
        let mem_map = coded.wrapping_add(start.wrapping_mul(layout.size as u64));
        out.push(MemMapRange {
            start,
            end: start + pages_per_section,
            mem_map,
        });
    };
    if length == nr_sections {
        // A static array of struct mem_section.
        const BATCH: usize = 128;
        let mut buf = vec![0u8; sec_len * BATCH];
        let mut nr = 0;
        while nr < wanted_sections {
            let n = min_len(wanted_sections - nr, BATCH);
            let b = &mut buf[..n * sec_len];
            if kernel.read_virt(table + nr * sec_size, b).is_ok() {
                for (i, sec) in b.chunks_exact(sec_len).enumerate() {
                    let raw = layout.uint(sec, map_at, layout.long);
                    push(nr + i as u64, raw);
                }
            }
            nr += n as u64;
        }
    } else {
        if per_root == 0 || length > 1 << 24 {
            return Err(Error::BadValue {
                what: "LENGTH(mem_section)",
                value: length,
                expected: "NR_SECTION_ROOTS (at most 2^24)",
            });
        }
        let roots = wanted_sections.div_ceil(per_root).min(length);
        // `per_root * sec_size` is at most a page.
        let mut buf = vec![0u8; to_len("mem_section root", per_root * sec_size)?];
        for root in 0..roots {
            let Some(p) = read_word(table + root * long) else {
                continue;
            };
            if p == 0 {
                continue;
            }
            if kernel.read_virt(p, &mut buf).is_err() {
                continue;
            }
            for (i, sec) in buf.chunks_exact(sec_len).enumerate() {
                let nr = root * per_root + i as u64;
                if nr >= wanted_sections {
                    break;
                }
                let raw = layout.uint(sec, map_at, layout.long);
                push(nr, raw);
            }
        }
    }
    Ok(out)
}

/// The counter of `counts` that pages of `class` left out add to (`None` for kept pages).
pub(crate) fn counter(counts: &mut ExcludedCounts, class: PageClass) -> Option<&mut u64> {
    match class {
        PageClass::Keep | PageClass::Tail => None,
        PageClass::Free => Some(&mut counts.free),
        PageClass::Cache => Some(&mut counts.cache),
        PageClass::CachePrivate => Some(&mut counts.cache_private),
        PageClass::User => Some(&mut counts.user),
        PageClass::HwPoison => Some(&mut counts.hwpoison),
        PageClass::Offline => Some(&mut counts.offline),
    }
}

/// Walks `ranges` over pfns `[start, end)` and clears in `bitmap2` (bit `pfn - start`) every
/// page left out at the layout's level; `bitmap1` says which pfns are in the dump's memory.
/// Pages whose `struct page` cannot be read stay in. Returns the count of such pages, and
/// the excluded block (free buddy block, compound page) that runs past `end`, as its class
/// and the pfn it ends at: a caller classifying adjacent ranges separately excludes the
/// rest from the next ranges itself.
#[allow(
    clippy::too_many_arguments,
    reason = "the capture's parallel parts each pass their own bitmaps and counts, borrowed separately"
)]
pub fn exclude_pages(
    kernel: &Kernel<'_>,
    layout: &PageLayout,
    ranges: &[MemMapRange],
    start: u64,
    end: u64,
    bitmap1: &[u8],
    bitmap2: &mut [u8],
    counts: &mut ExcludedCounts,
) -> (u64, Option<(PageClass, u64)>) {
    const CHUNK_LEN: usize = 512;
    const CHUNK: u64 = CHUNK_LEN as u64;
    let mut spill = None;
    let sz = layout.size;
    let size = sz as u64;
    let mut unreadable = 0;
    let mut buf = vec![0u8; (CHUNK_LEN + 1) * sz];
    let in_bm = |bm: &[u8], pfn: u64| {
        let i = pfn - start;
        bm.get((i >> 3) as usize)
            .is_some_and(|b| b & (1 << (i & 7)) != 0)
    };
    for r in ranges {
        let s = r.start.max(start);
        let e = r.end.min(end);
        if s >= e {
            continue;
        }
        let mut pfn = s;
        while pfn < e {
            let chunk_end = ((pfn / CHUNK + 1) * CHUNK).min(e);
            // Skip chunks with no pfn in the dump.
            if !(pfn..chunk_end).any(|p| in_bm(bitmap1, p)) {
                pfn = chunk_end;
                continue;
            }
            let n = chunk_end - pfn;
            let with_next = n + u64::from(chunk_end < r.end);
            let va = r.mem_map.wrapping_add((pfn - r.start).wrapping_mul(size));
            // `n <= CHUNK`, so both lengths are within `buf`.
            let b = &mut buf[..min_len(with_next, CHUNK_LEN + 1) * sz];
            if kernel.read_virt(va, b).is_err() {
                let b = &mut buf[..min_len(n, CHUNK_LEN) * sz];
                if kernel.read_virt(va, b).is_err() {
                    unreadable += n;
                    pfn = chunk_end;
                    continue;
                }
            }
            let have = if with_next > n && buf.len() >= min_len(with_next, CHUNK_LEN + 1) * sz {
                with_next
            } else {
                n
            };
            let mut i = 0u64;
            while i < n {
                let p = pfn + i;
                if !in_bm(bitmap1, p) {
                    i += 1;
                    continue;
                }
                let at = min_len(i, CHUNK_LEN) * sz;
                let page = &buf[at..at + sz];
                let next = (i + 1 < have).then(|| &buf[at + sz..at + 2 * sz]);
                let (class, pages) = layout.classify(p, page, next);
                let Some(counter) = counter(counts, class) else {
                    i += 1;
                    continue;
                };
                let block_end = p.saturating_add(pages);
                if block_end > end {
                    spill = Some((class, block_end));
                }
                let last = block_end.min(end);
                for q in p..last {
                    if crate::bitmap::clear(bitmap2, q - start) {
                        *counter += 1;
                    }
                }
                i += last - p;
            }
            pfn = chunk_end.max(pfn + i);
        }
    }
    (unreadable, spill)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(extra: &str) -> KernelInfo {
        let text = format!(
            "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSIZE(page)=64\nOFFSET(page.flags)=0\nOFFSET(page._refcount)=52\nOFFSET(page.mapping)=24\nOFFSET(page.lru)=8\nOFFSET(page._mapcount)=48\nOFFSET(page.private)=40\nOFFSET(page.compound_dtor)=16\nOFFSET(page.compound_order)=17\nOFFSET(page.compound_head)=8\nNUMBER(PG_lru)=4\nNUMBER(PG_private)=13\nNUMBER(PG_swapcache)=10\nNUMBER(PG_swapbacked)=19\nNUMBER(PG_slab)=9\nNUMBER(PG_hwpoison)=23\nNUMBER(PG_head_mask)=65536\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\nNUMBER(HUGETLB_PAGE_DTOR)=2\nNUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257\n{extra}"
        );
        KernelInfo::parse(text.as_bytes()).unwrap()
    }

    fn page(flags: u64, mapping: u64, mapcount: u32, private: u64) -> Vec<u8> {
        let mut p = vec![0u8; 64];
        p[0..8].copy_from_slice(&flags.to_le_bytes());
        p[24..32].copy_from_slice(&mapping.to_le_bytes());
        p[48..52].copy_from_slice(&mapcount.to_le_bytes());
        p[40..48].copy_from_slice(&private.to_le_bytes());
        p
    }

    #[test]
    fn classes_follow_makedumpfile_order() {
        let l = PageLayout::from_info(&info(""), 31, 8, false).unwrap();
        assert!(l.needs_walk());
        let buddy = page(0, 0, 0xffff_ff7f, 3);
        assert_eq!(l.classify(8, &buddy, None), (PageClass::Free, 8));
        let cache = page(1 << 4, 0xffff_8880_0000_0000, u32::MAX, 0);
        assert_eq!(l.classify(1, &cache, None), (PageClass::Cache, 1));
        let private = page((1 << 4) | (1 << 13), 0xffff_8880_0000_0000, u32::MAX, 0);
        assert_eq!(l.classify(1, &private, None), (PageClass::CachePrivate, 1));
        let anon = page(1 << 4, 0xffff_8880_0000_0001, 0, 0);
        assert_eq!(l.classify(1, &anon, None), (PageClass::User, 1));
        let poison = page(1 << 23, 0, u32::MAX, 0);
        assert_eq!(l.classify(1, &poison, None), (PageClass::HwPoison, 1));
        let offline = page(0, 0, 0xffff_feff, 0);
        assert_eq!(l.classify(1, &offline, None), (PageClass::Offline, 1));
        let mut tail = page(0, 0, 0, 0);
        tail[8] = 1;
        assert_eq!(l.classify(1, &tail, None).0, PageClass::Tail);
        // A slab page whose _mapcount happens to match is not free.
        let slab = page(1 << 9, 0, 0xffff_ff7f, 3);
        assert_eq!(l.classify(8, &slab, None).0, PageClass::Keep);
        // An anonymous THP head: order from the next struct page.
        let head = page((1 << 16) | (1 << 4), 1, 0, 0);
        let mut next = page(0, 0, 0, 0);
        next[17] = 9;
        assert_eq!(l.classify(512, &head, Some(&next)), (PageClass::User, 512));
        // Misaligned order is ignored.
        assert_eq!(l.classify(513, &head, Some(&next)), (PageClass::User, 1));
        // A hugetlb head.
        let head = page(1 << 16, 0xffff_8880_0000_0000, 0, 0);
        next[16] = 2;
        assert_eq!(l.classify(512, &head, Some(&next)), (PageClass::User, 512));
    }

    #[test]
    fn levels_select_classes() {
        let cache = page(1 << 4, 0x1000, u32::MAX, 0);
        let private = page((1 << 4) | (1 << 13), 0x1000, u32::MAX, 0);
        let buddy = page(0, 0, 0xffff_ff7f, 0);
        for lvl in 0..32u8 {
            let l = PageLayout::from_info(&info(""), lvl, 8, false).unwrap();
            let c = l.classify(0, &cache, None).0;
            assert_eq!(c != PageClass::Keep, lvl & 6 != 0, "{lvl}");
            let p = l.classify(0, &private, None).0;
            assert_eq!(p != PageClass::Keep, lvl & 4 != 0, "{lvl}");
            let b = l.classify(0, &buddy, None).0;
            assert_eq!(b == PageClass::Free, lvl & 16 != 0, "{lvl}");
        }
    }

    #[test]
    fn page_type_byte_of_newer_kernels() {
        let i = info("").as_str().replace(
            "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129",
            "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=240",
        );
        let l =
            PageLayout::from_info(&KernelInfo::parse(i.as_bytes()).unwrap(), 16, 8, false).unwrap();
        let buddy = page(0, 0, 0xf000_0000, 2);
        assert_eq!(l.classify(4, &buddy, None), (PageClass::Free, 4));
        let not = page(0, 0, 0xf100_0000, 2);
        assert_eq!(l.classify(4, &not, None).0, PageClass::Keep);
    }

    #[test]
    fn section_mem_map_offset_near_u64_max_is_an_error() {
        // OFFSET(mem_section.section_mem_map) + sizeof(long) overflows u64: an error naming
        // the geometry, not an overflow (a panic in debug builds, a wrapped check in release).
        let text = format!(
            "{}SYMBOL(mem_section)=ffffffff82000000\nLENGTH(mem_section)=2048\nSIZE(mem_section)=16\nOFFSET(mem_section.section_mem_map)={}\nNUMBER(SECTION_SIZE_BITS)=27\nNUMBER(MAX_PHYSMEM_BITS)=46\n",
            info("").as_str(),
            u64::MAX - 3
        );
        let notes = vmcore_reader::synth::vmcoreinfo_note(elfcorehdr::Endian::Little, &text);
        let file = vmcore_reader::synth::elf_dump(
            elfcorehdr::Target::x86_64(),
            &[(0x10_0000, vec![0u8; 4096])],
            &notes,
        );
        let dump = vmcore_reader::Dump::from_bytes(file).unwrap();
        let kernel = Kernel::new(&dump).unwrap();
        let l = PageLayout::from_info(kernel.info(), 31, 8, false).unwrap();
        let err = mem_map_ranges(&kernel, &l, 12, 256).unwrap_err();
        assert!(
            matches!(err, Error::BadValue { what: "OFFSET(mem_section.section_mem_map)", value, .. } if value == u64::MAX - 3),
            "{err}"
        );
    }

    #[test]
    fn hostile_offsets_are_errors() {
        let i = info("")
            .as_str()
            .replace("OFFSET(page.mapping)=24", "OFFSET(page.mapping)=60");
        assert!(
            PageLayout::from_info(&KernelInfo::parse(i.as_bytes()).unwrap(), 31, 8, false).is_err()
        );
        let i = info("")
            .as_str()
            .replace("NUMBER(PG_lru)=4", "NUMBER(PG_lru)=99");
        assert!(
            PageLayout::from_info(&KernelInfo::parse(i.as_bytes()).unwrap(), 31, 8, false).is_err()
        );
    }
}
