//! What the kernel reserves for a command line: the policy around the
//! parsing steps of [`crate::kernel`], per architecture and version.
//!
//! Facts from `kernel/crash_reserve.c` `parse_crashkernel` and
//! `reserve_crashkernel_generic` (v6.7+), and for older kernels
//! `arch/x86/kernel/setup.c` `reserve_crashkernel` /
//! `reserve_crashkernel_low` and `arch/arm64/mm/init.c` `reserve_crashkernel`
//! as Debian 12's 6.1 ships them.

use core::fmt;

use crate::kernel::{Line, Plain};
use crate::target::{HighSupport, Rules, Target};
use crate::{Malformed, Suffix};

/// The reservation the kernel would make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Bytes reserved for the capture kernel.
    pub size: u64,
    /// A fixed physical base (`@offset`), or `None` when the kernel picks one.
    pub base: Option<u64>,
    /// The region is looked for above the low limit first (`,high`).
    pub high: bool,
    /// A second region below the low limit (`,low`, or the arch default beside
    /// a high region); `None` when there is none.
    pub low_size: Option<u64>,
    /// Contiguous memory area handed to the capture kernel (`,cma`, v6.17+).
    pub cma_size: Option<u64>,
    /// For an automatic plain reservation: the low region the kernel adds if
    /// it finds no room below the low limit and places the region high.
    pub low_if_placed_high: Option<u64>,
    /// Which range entry matched (0-based), for the range form.
    pub range: Option<usize>,
}

/// Why the kernel would reserve nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// No `crashkernel=` the kernel uses. `unused` names a `,low` or `,cma`
    /// token that was present but means nothing without a size.
    Absent {
        /// A suffixed token that is present but unused on its own.
        unused: Option<Suffix>,
    },
    /// The value does not parse; the kernel prints `reason` and gives up.
    Malformed(Malformed),
    /// The size is zero.
    Zero,
    /// The size is not below RAM (`limit`: RAM, or RAM rounded up to 128 MiB
    /// for a range entry, which the kernel checks on every entry it reads).
    TooLarge {
        /// The size asked for.
        size: u64,
        /// What it must stay below.
        limit: u64,
        /// Where the offending range size starts, for the range form.
        pos: Option<usize>,
    },
    /// No range entry covers this much RAM.
    NoMatch {
        /// The RAM figure the ranges were matched against.
        ram: u64,
    },
    /// The suffix is not supported by this architecture at this version.
    Unsupported {
        /// The suffix.
        suffix: Suffix,
        /// The target.
        target: Target,
    },
    /// A fixed base the allocator cannot use: it is not a multiple of the
    /// alignment the kernel asks for ("memory is in use").
    Misaligned {
        /// The requested base.
        base: u64,
        /// The alignment needed.
        align: u64,
    },
}

impl Failure {
    /// A short stable name: `absent`, `malformed`, `zero`, `too_large`,
    /// `no_match`, `unsupported`, `misaligned`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Absent { .. } => "absent",
            Failure::Malformed(_) => "malformed",
            Failure::Zero => "zero",
            Failure::TooLarge { .. } => "too_large",
            Failure::NoMatch { .. } => "no_match",
            Failure::Unsupported { .. } => "unsupported",
            Failure::Misaligned { .. } => "misaligned",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Absent { unused: None } => f.write_str(
                "no crashkernel= on the command line: add one, e.g. crashkernel=256M, and reboot",
            ),
            Failure::Absent { unused: Some(s) } => write!(
                f,
                "crashkernel=X{s} alone reserves nothing: it needs crashkernel=Y,high or a plain crashkernel=Y"
            ),
            Failure::Malformed(m) => write!(f, "{m}; the kernel reserves nothing"),
            Failure::Zero => f.write_str("the size is zero, so nothing is reserved"),
            Failure::TooLarge {
                size,
                limit,
                pos: None,
            } => write!(
                f,
                "the size {} is not below system RAM {}: choose a smaller size",
                crate::Size(*size),
                crate::Size(*limit)
            ),
            Failure::TooLarge {
                size,
                limit,
                pos: Some(p),
            } => write!(
                f,
                "at {p}: range size {} is not below RAM rounded up to 128M ({}) (kernel: \"invalid size\"); every entry up to the matching one is checked",
                crate::Size(*size),
                crate::Size(*limit)
            ),
            Failure::NoMatch { ram } => write!(
                f,
                "no range covers {} of RAM (kernel: \"crashkernel size resulted in zero bytes\"): add a range for it",
                crate::Size(*ram)
            ),
            Failure::Unsupported { suffix, target } => write!(
                f,
                "crashkernel=X{suffix} is not supported on {} with Linux {}: use crashkernel=X[@offset] or ranges",
                target.arch, target.version
            ),
            Failure::Misaligned { base, align } => write!(
                f,
                "fixed base {:#x} is not a multiple of {} as the allocator needs (\"memory is in use\"): pick an aligned offset or drop @offset",
                base,
                crate::Size(*align)
            ),
        }
    }
}

/// Evaluates a whole kernel command line for a machine with `ram` bytes of
/// RAM as the kernel counts it (`memblock_phys_mem_size()`: on x86 the usable
/// e820 ranges minus the first page).
///
/// ```
/// use crashkernel_param::{evaluate, Arch, Target};
/// let r = evaluate("ro quiet crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M",
///                  4095 << 20, Target::newest(Arch::X86_64)).unwrap();
/// assert_eq!(r.size, 256 << 20); // 4095M rounds up to 4G
/// ```
pub fn evaluate(cmdline: &str, ram: u64, target: Target) -> Result<Reservation, Failure> {
    run(Line::cmdline(cmdline.as_bytes()), ram, target)
}

/// Evaluates one value: the text after `crashkernel=` (a leading
/// `crashkernel=` is accepted too; positions then count from the value).
pub fn evaluate_value(value: &str, ram: u64, target: Target) -> Result<Reservation, Failure> {
    let value = value.strip_prefix("crashkernel=").unwrap_or(value);
    run(Line::value(value.as_bytes()), ram, target)
}

fn run(line: Line<'_>, ram: u64, target: Target) -> Result<Reservation, Failure> {
    let rules = target.rules();
    let known: &[Suffix] = if rules.cma_suffix {
        &[Suffix::High, Suffix::Low, Suffix::Cma]
    } else {
        &[Suffix::High, Suffix::Low]
    };
    let plain = line.plain(ram, rules.roundup_128m, known);
    let plain_failed = match plain {
        Plain::Absent => true,
        Plain::Parsed { size, .. } => size == 0 && rules.legacy_x86,
        Plain::Malformed(_) | Plain::RangeTooLarge { .. } => rules.legacy_x86,
    };
    let cma_size = if rules.cma {
        line.suffixed(Suffix::Cma)
            .ok()
            .flatten()
            .filter(|&s| s != 0)
    } else {
        None
    };

    if plain_failed && rules.high != HighSupport::No {
        match line.suffixed(Suffix::High) {
            Ok(Some(size)) if size != 0 => return high(line, size, ram, target, rules, cma_size),
            // On x86 before v6.7 a failed plain value is what the user sees.
            _ if plain != Plain::Absent => {}
            Ok(Some(_)) => return Err(Failure::Zero),
            Ok(None) => return Err(absent(line)),
            Err(m) => return Err(Failure::Malformed(m)),
        }
    }

    match plain {
        Plain::Absent => {
            if rules.high == HighSupport::No && line.has_suffix_token(Suffix::High) {
                Err(Failure::Unsupported {
                    suffix: Suffix::High,
                    target,
                })
            } else {
                Err(absent(line))
            }
        }
        Plain::Malformed(m) => Err(Failure::Malformed(m)),
        Plain::RangeTooLarge { pos, size, limit } => Err(Failure::TooLarge {
            size,
            limit,
            pos: Some(pos),
        }),
        Plain::Parsed {
            no_match: true,
            matched_ram,
            ..
        } => Err(Failure::NoMatch { ram: matched_ram }),
        Plain::Parsed { size: 0, .. } => Err(Failure::Zero),
        Plain::Parsed {
            size, base, range, ..
        } => {
            if size >= ram {
                return Err(Failure::TooLarge {
                    size,
                    limit: ram,
                    pos: None,
                });
            }
            let mut r = Reservation {
                size,
                base: None,
                high: false,
                low_size: None,
                cma_size,
                low_if_placed_high: None,
                range,
            };
            if base != 0 {
                if rules.fixed_align != 0 && base % rules.fixed_align != 0 {
                    return Err(Failure::Misaligned {
                        base,
                        align: rules.fixed_align,
                    });
                }
                r.base = Some(base);
                // Only x86 before v6.7 adds a low region beside a fixed base above 4G.
                if rules.legacy_x86 && base >= rules.low_max {
                    r.low_size = legacy_x86_low(line, rules);
                }
            } else if rules.plain_falls_back_high {
                r.low_if_placed_high = if rules.legacy_x86 {
                    legacy_x86_low(line, rules)
                } else {
                    nonzero(rules.default_low)
                };
            }
            Ok(r)
        }
    }
}

fn high(
    line: Line<'_>,
    size: u64,
    ram: u64,
    target: Target,
    rules: Rules,
    cma_size: Option<u64>,
) -> Result<Reservation, Failure> {
    if rules.high == HighSupport::EmptyWindow {
        return Err(Failure::Unsupported {
            suffix: Suffix::High,
            target,
        });
    }
    let low_size = if rules.legacy_x86 {
        legacy_x86_low(line, rules)
    } else {
        match line.suffixed(Suffix::Low) {
            Ok(None) => nonzero(rules.default_low),
            Ok(Some(n)) => nonzero(n),
            Err(m) => return Err(Failure::Malformed(m)),
        }
    };
    if size >= ram {
        return Err(Failure::TooLarge {
            size,
            limit: ram,
            pos: None,
        });
    }
    Ok(Reservation {
        size,
        base: None,
        high: true,
        low_size,
        cma_size,
        low_if_placed_high: None,
        range: None,
    })
}

/// `reserve_crashkernel_low` of x86 before v6.7: a valid `,low` wins (0: no
/// region); absent or invalid means the default. 32-bit x86 has none.
fn legacy_x86_low(line: Line<'_>, rules: Rules) -> Option<u64> {
    match line.suffixed(Suffix::Low) {
        Ok(Some(n)) => nonzero(n),
        _ => nonzero(rules.default_low),
    }
}

fn absent(line: Line<'_>) -> Failure {
    let unused = [Suffix::Low, Suffix::Cma]
        .into_iter()
        .find(|&s| line.has_suffix_token(s));
    Failure::Absent { unused }
}

fn nonzero(n: u64) -> Option<u64> {
    (n != 0).then_some(n)
}
