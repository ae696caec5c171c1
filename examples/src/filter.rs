//! makedumpfile's filter file (`--config FILE`, makedumpfile.conf(5)) for
//! `vmcore-capture`: parsed here, resolved against the dump's own kallsyms, and turned into
//! the physical ranges and eraseinfo text [`vmcore_writer::Erase`] applies.
//!
//! Supported: `[vmlinux]` section headers, comments (`#`), and
//! `erase SYMBOL [size SIZE[K|M] | nullify]`. Not supported, each an error naming the line:
//! member paths (`SYMBOL.member`: the dump's BTF holds the layout of types but not the type
//! of a global variable, which makedumpfile takes from the debug vmlinux), array elements
//! (`SYMBOL[N]`), `size` given as an expression, `for`/`endfor` loops, and module sections.
//!
//! Facts: makedumpfile `erase_info.c` (`update_filter_info`: fill `'X'`, `nullify` zeroes
//! a pointer's worth of bytes; `write_eraseinfo`: one line `erase EXPR size N\n` or
//! `erase EXPR nullify\n` per command) and makedumpfile.conf(5).

use std::path::Path;

use vmcore_introspect::Kallsyms;
use vmcore_reader::Kernel;
use vmcore_writer::erase::{Erase, EraseRange, FILL};

/// The most a `size` may erase (makedumpfile has no bound; this keeps a typo from
/// describing gigabytes).
pub const MAX_SIZE: u64 = 1 << 30;

/// What one `erase` command erases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    /// `size N`: N bytes from the symbol.
    Size(u64),
    /// `nullify`: the pointer at the symbol, zeroed.
    Nullify,
}

/// One `erase` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Its line (1-based).
    pub line: usize,
    /// The symbol expression as written (recorded in eraseinfo).
    pub expr: String,
    /// How much.
    pub amount: Amount,
}

/// One resolved command: what was erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// Its line.
    pub line: usize,
    /// The symbol expression.
    pub symbol: String,
    /// Kernel virtual address.
    pub vaddr: u64,
    /// Physical address of the first byte.
    pub paddr: u64,
    /// Bytes.
    pub size: u64,
    /// Whether zeroed (`nullify`) rather than filled.
    pub nullify: bool,
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == '.')
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' || ch == '$')
}

/// `N`, `NK`, `NM` (decimal or 0x hex), as makedumpfile.conf(5) writes sizes.
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1u64 << 20),
        _ => (s, 1),
    };
    let n = match num.strip_prefix("0x").or_else(|| num.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => num.parse::<u64>().ok()?,
    };
    n.checked_mul(mult).filter(|&v| v > 0 && v <= MAX_SIZE)
}

/// Parses a filter file's text; `name` is how errors call the file.
pub fn parse(name: &str, text: &str) -> Result<Vec<Command>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |m: String| format!("{name}:{line}: {m}");
        let code = raw.split('#').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        if let Some(sec) = code.strip_prefix('[') {
            let sec = sec
                .strip_suffix(']')
                .ok_or_else(|| err(format!("section header {code:?} lacks its ']'")))?;
            if sec.trim() != "vmlinux" {
                return Err(err(format!(
                    "section [{sec}] is not supported: only [vmlinux] (module sections need the module's debuginfo)"
                )));
            }
            continue;
        }
        let words: Vec<&str> = code.split_whitespace().collect();
        match words.as_slice() {
            ["for" | "endfor", ..] => {
                return Err(err(
                    "`for` loops over lists are not supported (they need the types of the list's entries, which the dump's BTF alone does not tie to the symbol)".into(),
                ));
            }
            ["erase", expr, rest @ ..] => {
                if expr.contains('[') {
                    return Err(err(format!("{expr}: array elements are not supported")));
                }
                if !is_ident(expr) || expr.starts_with('.') || expr.ends_with('.') {
                    return Err(err(format!("{expr:?} is not a symbol expression")));
                }
                if expr.contains('.') {
                    return Err(err(format!(
                        "{expr}: member paths are not supported: the dump's BTF does not say the type of a global symbol (makedumpfile reads it from the debug vmlinux); erase the symbol with `size N`"
                    )));
                }
                let amount = match rest {
                    ["size", s] => Amount::Size(parse_size(s).ok_or_else(|| {
                        err(format!(
                            "size {s:?}: a number of bytes 1..={MAX_SIZE}, with an optional K or M, is supported (not an expression)"
                        ))
                    })?),
                    ["nullify"] => Amount::Nullify,
                    [] => {
                        return Err(err(format!(
                            "erase {expr} without `size` or `nullify`: the size of a symbol's type is not known without debuginfo"
                        )));
                    }
                    _ => {
                        return Err(err(format!(
                            "after `erase {expr}`: expected `size SIZE` or `nullify`, found {:?}",
                            rest.join(" ")
                        )));
                    }
                };
                out.push(Command {
                    line,
                    expr: (*expr).to_string(),
                    amount,
                });
            }
            ["erase"] => return Err(err("`erase` without a symbol".into())),
            [w, ..] => {
                return Err(err(format!(
                    "unknown command {w:?}: expected `erase` or a [section]"
                )));
            }
            [] => {}
        }
    }
    Ok(out)
}

/// Reads and parses the filter file at `path`.
pub fn read(path: &Path) -> Result<Vec<Command>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8(text).map_err(|e| {
        format!(
            "{}: not UTF-8 text at byte {}",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    parse(&path.display().to_string(), &text)
}

/// Resolves `commands` in the dump: each symbol through kallsyms (the run-time address,
/// KASLR included), each byte through the kernel's page tables. Errors name the line.
pub fn resolve(
    name: &str,
    commands: &[Command],
    kernel: &Kernel<'_>,
    syms: &Kallsyms,
) -> Result<(Erase, Vec<Erased>), String> {
    let mut ranges = Vec::new();
    let mut erased = Vec::new();
    let mut text = String::new();
    for c in commands {
        let err = |m: String| format!("{name}:{}: {m}", c.line);
        let sym = syms
            .lookup(&c.expr)
            .ok_or_else(|| err(format!("symbol {} is not in the dump's kallsyms", c.expr)))?;
        let (size, fill, nullify) = match c.amount {
            Amount::Size(n) => (n, FILL, false),
            Amount::Nullify => (kernel.pointer_size(), 0, true),
        };
        let mut v = sym.address;
        let end = v
            .checked_add(size)
            .ok_or_else(|| err(format!("{} + {size} bytes overflows", c.expr)))?;
        let mut first = None;
        while v < end {
            let (pa, span) = kernel
                .translate_span(v)
                .map_err(|e| err(format!("{} at {v:#x}: {e}", c.expr)))?;
            let n = span.min(end - v).max(1);
            first.get_or_insert(pa);
            ranges.push(EraseRange {
                paddr: pa,
                len: n,
                fill,
            });
            v += n;
        }
        // makedumpfile `write_eraseinfo`.
        if nullify {
            text.push_str(&format!("erase {} nullify\n", c.expr));
        } else {
            text.push_str(&format!("erase {} size {size}\n", c.expr));
        }
        erased.push(Erased {
            line: c.line,
            symbol: c.expr.clone(),
            vaddr: sym.address,
            paddr: first.unwrap_or(0),
            size,
            nullify,
        });
    }
    Ok((Erase::new(ranges, text.into_bytes()), erased))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_is_supported() {
        let c = parse(
            "f",
            "# secrets\n[vmlinux]\nerase linux_banner size 64\n  erase saved_command_line nullify # ptr\nerase x size 2K\n",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].line, 3);
        assert_eq!(c[0].amount, Amount::Size(64));
        assert_eq!(c[1].amount, Amount::Nullify);
        assert_eq!(c[2].amount, Amount::Size(2048));
    }

    #[test]
    fn refuses_what_is_not_naming_the_line() {
        for (text, want) in [
            ("\nerase a.b size 4\n", "f:2: a.b: member paths"),
            ("erase a[1] size 4\n", "f:1: a[1]: array"),
            ("\n\nfor (x in list)\n", "f:3: `for` loops"),
            ("erase a\n", "f:1: erase a without"),
            ("erase a size b.len\n", "f:1: size \"b.len\""),
            ("[mod]\n", "f:1: section [mod]"),
            ("zap a\n", "f:1: unknown command"),
            ("erase a size 0\n", "f:1: size \"0\""),
        ] {
            let e = parse("f", text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in "(\\PC|\n|\\[|\\]|#| |erase|size|nullify|for|\\.){0,200}") {
            let _ = parse("f", &text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse("f", &String::from_utf8_lossy(&b));
        }
    }
}
