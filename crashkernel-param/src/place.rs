//! Whether the kernel finds room for a reservation in the RAM that exists: the
//! allocation step after the parse, which can fail on a value that parses (one that asks
//! for about all of the RAM, or more than one contiguous free range holds).
//!
//! Facts, from the kernel source named beside each:
//! - `memblock_phys_alloc_range(size, align, start, end)` (`mm/memblock.c`,
//!   `memblock_find_in_range_node`, `__memblock_find_range_top_down`): the highest
//!   `align`-aligned base such that `[base, base + size)` lies in one free range inside
//!   `[start, end)`; `start` is raised to at least `PAGE_SIZE` (0 means failure);
//!   x86 and the others allocate top-down at this point of boot.
//! - v6.7+ (`kernel/crash_reserve.c` `reserve_crashkernel_generic`,
//!   `reserve_crashkernel_low`): a fixed base must be free exactly ("memory is in use");
//!   `crashkernel=X` looks in `[0, CRASH_ADDR_LOW_MAX)`, then (where the arch falls back)
//!   in `[LOW_MAX, HIGH_MAX)` with the default low size; `,high` looks in
//!   `[LOW_MAX, HIGH_MAX)`, then in `[0, LOW_MAX)` when the two differ ("cannot allocate
//!   crashkernel"); a main region at or above `LOW_MAX` with a low size gets a low region
//!   in `[0, LOW_MAX)`, and when that fails the main one is freed too ("cannot allocate
//!   crashkernel low memory").
//! - x86 before v6.7 (`arch/x86/kernel/setup.c` `reserve_crashkernel`,
//!   `reserve_crashkernel_low`, as Debian 12's 6.1 has them): a fixed base is looked for
//!   with 1 MiB alignment; otherwise `[CRASH_ALIGN, LOW_MAX)` unless `,high`, then
//!   `[CRASH_ALIGN, HIGH_MAX)` ("No suitable area found"); the low region goes in
//!   `[CRASH_ALIGN, LOW_MAX)` when the main one starts at or above 4 GiB.
//!
//! The free ranges are the caller's: the RAM of the machine (`/proc/iomem` "System RAM")
//! less what the kernel holds when it reserves (its image, the first MiB on x86, the
//! initrd). The kernel's other early allocations (page tables, the log buffer) are small
//! but unknown here, so a placement found is where the kernel puts the region at the
//! highest; a region that does not fit here does not fit there either.

use core::fmt;

use crate::Reservation;
use crate::target::{Arch, Target};

const M: u64 = 1 << 20;
/// The allocator never returns an address below this (`memblock_find_in_range_node`).
const PAGE: u64 = 4096;
/// What the `--ram`-only model takes for the running kernel (image, its data and bss,
/// the initrd): Debian's amd64 6.1 and 6.12 images take about 46 MiB once loaded
/// (`Memory:` line of their boot log), and an initrd adds more.
pub const ASSUMED_KERNEL: u64 = 64 * M;

/// A range of physical memory, `start` included, `end` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Where the kernel would put the regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Base of the main region (the highest the allocator can pick).
    pub base: u64,
    /// Base of the low region beside a high one, if there is one.
    pub low: Option<(u64, u64)>,
}

/// Why the allocation fails, so that nothing is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaceFailure {
    /// No free range holds `size` bytes at the alignment in any window searched.
    NoRoom {
        /// The size asked for.
        size: u64,
        /// The alignment (`CRASH_ALIGN`).
        align: u64,
        /// The largest free aligned piece found in the searched windows.
        largest: u64,
    },
    /// The fixed base range is not free RAM.
    InUse {
        /// The requested base.
        base: u64,
        /// The size.
        size: u64,
    },
    /// The main region was found above the low limit but the low region beside it was
    /// not, so the kernel frees both.
    NoLowRoom {
        /// Size of the low region.
        size: u64,
        /// Base the main region had.
        main: u64,
    },
    /// This architecture's allocation is not modelled (arm, ppc64, s390x have their own code).
    NotModelled(Arch),
}

impl PlaceFailure {
    /// A short stable name: `no_room`, `in_use`, `no_low_room`, `not_modelled`.
    pub fn kind(&self) -> &'static str {
        match self {
            PlaceFailure::NoRoom { .. } => "no_room",
            PlaceFailure::InUse { .. } => "in_use",
            PlaceFailure::NoLowRoom { .. } => "no_low_room",
            PlaceFailure::NotModelled(_) => "not_modelled",
        }
    }
}

impl fmt::Display for PlaceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaceFailure::NoRoom {
                size,
                align,
                largest,
            } => write!(
                f,
                "no free range holds {} at {} alignment where the kernel looks (the largest aligned piece is {}); the allocation fails (kernel: \"cannot allocate crashkernel\", before 6.7 \"No suitable area found\")",
                crate::Size(*size),
                crate::Size(*align),
                crate::Size(*largest)
            ),
            PlaceFailure::InUse { base, size } => write!(
                f,
                "[{base:#x}, {:#x}) is not free RAM (kernel: \"memory is in use\")",
                base.saturating_add(*size)
            ),
            PlaceFailure::NoLowRoom { size, main } => write!(
                f,
                "the region fits at {main:#x} but its {} low region finds no room below the low limit, so the kernel frees both (kernel: \"cannot allocate crashkernel low memory\")",
                crate::Size(*size)
            ),
            PlaceFailure::NotModelled(a) => write!(f, "placement on {a} is not modelled"),
        }
    }
}

impl core::error::Error for PlaceFailure {}

/// The free RAM assumed when only its size is known: one contiguous range from address 0
/// (the most room any layout of that much RAM gives; real machines have holes, such as
/// the PCI window below 4 GiB on x86), less what the kernel holds when it reserves: on x86
/// the first MiB (`memblock_reserve(0, SZ_1M)`, `arch/x86/kernel/setup.c`), and
/// [`ASSUMED_KERNEL`] for the running kernel. Where the kernel sits is not known (KASLR
/// moves it), so its share is taken from the top of RAM, which leaves a fixed `@offset`
/// low in RAM free; the bases found are then illustrative, the fit or no fit is what counts.
pub fn assumed_free(ram: u64, arch: Arch) -> ([Span; 2], usize) {
    let empty = Span { start: 0, end: 0 };
    let start = match arch {
        Arch::X86_64 | Arch::X86 => M,
        _ => 0,
    };
    let end = ram.saturating_sub(ASSUMED_KERNEL);
    if end > start {
        ([Span { start, end }, empty], 1)
    } else {
        ([empty, empty], 0)
    }
}

/// The highest `align`-aligned base of `size` free bytes inside `[lo, hi)`, leaving out
/// `taken`; and the largest aligned piece seen, for the message when there is none.
fn alloc(
    free: &[Span],
    taken: Option<Span>,
    size: u64,
    align: u64,
    lo: u64,
    hi: u64,
) -> (Option<u64>, u64) {
    let align = align.max(1);
    let lo = lo.max(PAGE);
    let mut best = None;
    let mut largest = 0;
    for f in free {
        let pieces = match taken {
            Some(t) if t.start < f.end && f.start < t.end => [
                Span {
                    start: f.start,
                    end: t.start,
                },
                Span {
                    start: t.end,
                    end: f.end,
                },
            ],
            _ => [*f, Span { start: 0, end: 0 }],
        };
        for p in pieces {
            let s = p.start.max(lo);
            let e = p.end.min(hi);
            if e <= s {
                continue;
            }
            let first = s.div_ceil(align).saturating_mul(align);
            largest = largest.max(e.saturating_sub(first));
            let Some(top) = e.checked_sub(size) else {
                continue;
            };
            let cand = top / align * align;
            if cand >= s {
                best = Some(best.map_or(cand, |b: u64| b.max(cand)));
            }
        }
    }
    (best, largest)
}

/// Where the kernel of `target` puts reservation `r` in the `free` RAM, or why it cannot.
pub fn place(r: &Reservation, target: Target, free: &[Span]) -> Result<Placement, PlaceFailure> {
    match target.arch {
        Arch::X86_64 | Arch::X86 | Arch::Aarch64 | Arch::Riscv64 | Arch::Loongarch64 => {}
        a => return Err(PlaceFailure::NotModelled(a)),
    }
    let rules = target.rules();
    let align = rules.align;
    let (low_max, high_max) = (rules.low_max, rules.high_max);
    let size = r.size;
    let mut largest = 0;
    let mut tried = |lo: u64, hi: u64| {
        let (b, l) = alloc(free, None, size, align, lo, hi);
        largest = largest.max(l);
        b
    };
    let main = if let Some(base) = r.base {
        let a = if rules.legacy_x86 { M } else { align };
        match alloc(free, None, size, a, base, base.saturating_add(size)).0 {
            Some(b) if b == base => b,
            _ => return Err(PlaceFailure::InUse { base, size }),
        }
    } else if rules.legacy_x86 {
        let low = if r.high { None } else { tried(align, low_max) };
        match low.or_else(|| tried(align, high_max)) {
            Some(b) => b,
            None => {
                return Err(PlaceFailure::NoRoom {
                    size,
                    align,
                    largest,
                });
            }
        }
    } else {
        let found = if r.high {
            tried(low_max, high_max).or_else(|| {
                if low_max != high_max {
                    tried(0, low_max)
                } else {
                    None
                }
            })
        } else {
            tried(0, low_max).or_else(|| {
                if rules.plain_falls_back_high {
                    tried(low_max, high_max)
                } else {
                    None
                }
            })
        };
        match found {
            Some(b) => b,
            None => {
                return Err(PlaceFailure::NoRoom {
                    size,
                    align,
                    largest,
                });
            }
        }
    };
    let low_size = if main >= low_max {
        r.low_size.or(r.low_if_placed_high)
    } else {
        None
    };
    let low = match low_size {
        None => None,
        Some(l) => {
            let from = if rules.legacy_x86 { align } else { 0 };
            let taken = Span {
                start: main,
                end: main.saturating_add(size),
            };
            match alloc(free, Some(taken), l, align, from, low_max).0 {
                Some(b) => Some((b, l)),
                None => return Err(PlaceFailure::NoLowRoom { size: l, main }),
            }
        }
    };
    Ok(Placement { base: main, low })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KernelVersion, evaluate_value};

    const G: u64 = 1 << 30;

    fn d12() -> Target {
        Target::new(Arch::X86_64, KernelVersion::new(6, 1))
    }
    fn d13() -> Target {
        Target::new(Arch::X86_64, KernelVersion::new(6, 12))
    }

    /// QEMU's 6 GiB x86 guest of the fixture boots (its e820 map): RAM below 3 GiB and
    /// from 4 GiB to 7 GiB.
    const QEMU_6G: [Span; 2] = [
        Span {
            start: 80 * M,
            end: 0xbffe_0000,
        },
        Span {
            start: 4 * G,
            end: 7 * G,
        },
    ];

    fn at(v: &str, t: Target, free: &[Span]) -> Result<Placement, PlaceFailure> {
        let r = evaluate_value(v, 6 * G, t).unwrap();
        place(&r, t, free)
    }

    #[test]
    fn top_down_below_4g_then_above() {
        for t in [d12(), d13()] {
            // Highest 16M-aligned base below the top of low RAM.
            assert_eq!(at("256M", t, &QEMU_6G).unwrap().base, 0xaf00_0000);
            // 3 GiB + 16 MiB fits in neither window: nothing is reserved.
            let e = at("3088M", t, &QEMU_6G).unwrap_err();
            assert_eq!(e.kind(), "no_room", "{t:?}");
            // ,high goes above 4G with the low default below.
            let p = at("512M,high", t, &QEMU_6G).unwrap();
            assert_eq!(p.base, 7 * G - 512 * M);
            assert_eq!(p.low, Some((0xaf00_0000, 256 * M)));
        }
        // 3000M does not fit below 3G; on 6.12 it falls back above 4G with a low region,
        // on 6.1 it is looked for in [16M, 64T) and lands above 4G too.
        for t in [d12(), d13()] {
            let p = at("3000M", t, &QEMU_6G).unwrap();
            assert!(p.base >= 4 * G, "{t:?} {p:?}");
            assert!(p.low.is_some());
        }
        // A fixed base in the hole is in use; one in RAM is taken as is.
        assert_eq!(at("256M@3G", d13(), &QEMU_6G).unwrap_err().kind(), "in_use");
        assert_eq!(at("256M@5G", d13(), &QEMU_6G).unwrap().base, 5 * G);
    }

    #[test]
    fn the_low_region_failing_drops_everything() {
        let tiny_low = [
            Span {
                start: 80 * M,
                end: 200 * M,
            },
            Span {
                start: 4 * G,
                end: 8 * G,
            },
        ];
        let e = at("1G,high", d13(), &tiny_low).unwrap_err();
        assert_eq!(e.kind(), "no_low_room");
        // With ,low 0 there is no low region to fail.
        let r = crate::evaluate("crashkernel=1G,high crashkernel=0,low", 6 * G, d13()).unwrap();
        assert!(place(&r, d13(), &tiny_low).is_ok());
    }

    #[test]
    fn about_all_of_the_ram_cannot_be_placed_even_in_one_piece() {
        for (ram, v) in [(6 * G, "6143M"), (8 * G, "7G"), (2 * G, "1990M")] {
            let (free, n) = assumed_free(ram, Arch::X86_64);
            for t in [d12(), d13()] {
                let r = evaluate_value(v, ram, t).unwrap();
                let got = place(&r, t, &free[..n]);
                // 6.1 searches [16M, 64T) whole after [16M, 4G): 7G of one 8G piece fits
                // there (a real PC's hole below 4G would stop it); 6.12 splits at 4G.
                if t == d12() && v == "7G" {
                    assert_eq!(got.unwrap().base, G - ASSUMED_KERNEL);
                } else {
                    assert_eq!(got.unwrap_err().kind(), "no_room", "{ram} {v} {t:?}");
                }
            }
        }
        let (free, n) = assumed_free(8 * G, Arch::X86_64);
        let r = evaluate_value("256M", 8 * G, d13()).unwrap();
        assert_eq!(place(&r, d13(), &free[..n]).unwrap().base, 4 * G - 256 * M);
        // A fixed base low in RAM is free in the assumed map (where the kernel is, is unknown).
        let r = evaluate_value("256M@16M", 8 * G, d13()).unwrap();
        assert_eq!(place(&r, d13(), &free[..n]).unwrap().base, 16 * M);
        let r = evaluate_value("256M@8000M", 8 * G, d13()).unwrap();
        assert_eq!(place(&r, d13(), &free[..n]).unwrap_err().kind(), "in_use");
        assert_eq!(assumed_free(0, Arch::X86_64).1, 0);
        let r = evaluate_value("64M", 8 * G, Target::newest(Arch::Ppc64)).unwrap();
        assert_eq!(
            place(&r, Target::newest(Arch::Ppc64), &free[..n])
                .unwrap_err()
                .kind(),
            "not_modelled"
        );
    }
}
