//! `vmcore-capture`: makedumpfile's capture job with makedumpfile's spelling of the options,
//! so `core_collector vmcore-capture -l --message-level 7 -d 31` works where kdump-utils
//! runs makedumpfile today.
//!
//! ```text
//! vmcore-capture [-c|-l|-p|-z] [-E] [-d LEVEL[,LEVEL...]] [--config FILTERFILE] [--num-threads N] [--message-level N] [-L SIZE] VMCORE DUMPFILE
//! vmcore-capture -F [-c|-l|-p|-z|-E] [-d LEVEL[,LEVEL...]] ... VMCORE > STREAM
//! vmcore-capture -R DUMPFILE < STREAM
//! vmcore-capture --dump-dmesg VMCORE LOGFILE
//! vmcore-capture [-c|-l|-p|-z] [-d LEVEL] --split VMCORE DUMPFILE1 DUMPFILE2 [DUMPFILE3 ...]
//! vmcore-capture --reassemble DUMPFILE1 DUMPFILE2 [DUMPFILE3 ...] DUMPFILE
//! ```
//! Ours: `--progress` (a bar on a terminal, plain lines otherwise) and `--stats-json FILE`.
//! Exit codes follow makedumpfile: 0 when the dump is complete, 1 on any failure (an
//! incomplete dump included: it is kept and marked), 2 for usage errors. stdout carries
//! only data (the flattened stream); messages go to stderr.
//!
//! `-d 11,31` is makedumpfile's retry list (makedumpfile(8), `makedumpfile.c`
//! `parse_dump_level`, `create_dumpfile`, `get_next_dump_level`, `delete_dumpfile`,
//! `write_and_check_space`): the dump is made at the first level; when it does not fit
//! (the `-L` limit is reached, or a write fails with ENOSPC; any other failure ends the run),
//! the partial DUMPFILE is deleted and made again from the start at the next level. When
//! the last level does not fit either, its dump is kept, marked incomplete, and the exit
//! code is 1. With `-F` the bytes already sent cannot be taken back, so the levels after
//! the first are not tried (makedumpfile, whose `-L` count runs on across its retries,
//! fails there too). Repeated options are accepted, the last one winning, as getopt does
//! for makedumpfile (kdump-tools appends ` -F` to a `MAKEDUMP_ARGS` that may hold one).
//!
//! Dumps, `-R` results and `--dump-dmesg` logs are created mode 0600 whatever the umask and
//! never through a symbolic link (see [`crate::files`] and the README's threat model).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use vmcore_reader::{Dump, Kernel, read_log};
use vmcore_writer::{
    CaptureOptions, CaptureStats, Codec, FileSink, FlatSink, OutputFormat, Phase, Progress, Sink,
    capture, rebuild,
};

/// makedumpfile's `--message-level` bits.
mod msg {
    pub const PROGRESS: u32 = 1;
    pub const COMMON: u32 = 2;
    pub const ERROR: u32 = 4;
    pub const REPORT: u32 = 16;
}

#[derive(Debug, Parser)]
#[command(
    name = "vmcore-capture",
    version,
    about = "Filter, compress and write a crash dump (makedumpfile's options)"
)]
#[command(args_override_self = true)]
#[allow(non_snake_case)]
struct Cli {
    /// Compress pages with zlib.
    #[arg(short = 'c', group = "codec")]
    zlib: bool,
    /// Compress pages with LZO.
    #[arg(short = 'l', group = "codec")]
    lzo: bool,
    /// Compress pages with snappy.
    #[arg(short = 'p', group = "codec")]
    snappy: bool,
    /// Compress pages with zstd.
    #[arg(short = 'z', group = "codec")]
    zstd: bool,
    /// Write an ELF dump instead of kdump-compressed.
    #[arg(short = 'E', conflicts_with = "codec")]
    elf: bool,
    /// Write the flattened stream to stdout.
    #[arg(short = 'F')]
    flatten: bool,
    /// Rebuild DUMPFILE from a flattened stream on stdin.
    #[arg(short = 'R', conflicts_with_all = ["flatten", "elf", "codec", "dump_dmesg"])]
    rearrange: bool,
    /// Dump level 0..=31: 1 zero pages, 2 cache, 4 private cache, 8 user data, 16 free pages;
    /// a list such as 11,31 retries with the next level when the dump does not fit.
    #[arg(short = 'd', value_parser = parse_levels, default_value = "0")]
    dump_level: Levels,
    /// Compression threads (default: every CPU).
    #[arg(long = "num-threads", value_parser = clap::value_parser!(u32).range(1..=4096))]
    num_threads: Option<u32>,
    /// Message level bits: 1 progress, 2 common, 4 errors, 8 debug, 16 report (default 7).
    #[arg(long = "message-level", value_parser = clap::value_parser!(u32).range(0..=31), default_value_t = 7)]
    message_level: u32,
    /// Limit the output to SIZE bytes (K, M, G suffixes allowed); the dump is then marked incomplete.
    #[arg(short = 'L', value_parser = parse_size)]
    limit: Option<u64>,
    /// Write the kernel log of VMCORE to LOGFILE.
    #[arg(long = "dump-dmesg")]
    dump_dmesg: bool,
    /// Show progress on stderr (a bar on a terminal, plain lines otherwise).
    #[arg(long)]
    progress: bool,
    /// Overwrite DUMPFILE (or LOGFILE) when it already exists.
    #[arg(short = 'f')]
    force: bool,
    /// Erase what makedumpfile's filter FILE (`erase SYMBOL size N | nullify`) names, resolved
    /// through the dump's own kallsyms, and record it in the dump's eraseinfo.
    #[arg(long = "config", value_name = "FILTERFILE", conflicts_with_all = ["rearrange", "dump_dmesg", "split", "reassemble"])]
    config: Option<PathBuf>,
    /// Write statistics as JSON to FILE.
    #[arg(long = "stats-json", value_name = "FILE")]
    stats_json: Option<PathBuf>,
    /// Write the dump into the DUMPFILEs, one pfn range of about equal weight each
    /// (kdump-compressed; `--num-threads` threads are shared among the files).
    #[arg(long = "split", conflicts_with_all = ["flatten", "elf", "rearrange", "dump_dmesg"])]
    split: bool,
    /// Join the parts DUMPFILE1 DUMPFILE2... of a split dump into the last DUMPFILE.
    #[arg(long = "reassemble", conflicts_with_all = ["flatten", "elf", "codec", "rearrange", "dump_dmesg", "split"])]
    reassemble: bool,
    /// VMCORE [DUMPFILE], DUMPFILE alone with -R, VMCORE DUMPFILE1 DUMPFILE2... with
    /// --split, DUMPFILE1 DUMPFILE2... DUMPFILE with --reassemble.
    #[arg(value_name = "FILES", num_args = 1.., required = true)]
    files: Vec<PathBuf>,
}

/// The dump levels of `-d`, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels(pub Vec<u8>);

/// At most this many levels in a list: makedumpfile's `NUM_ARRAY_DUMP_LEVEL`
/// (`MAX_DUMP_LEVEL + 1`, `makedumpfile.h`).
pub const MAX_LEVELS: usize = 32;

/// Reads makedumpfile's `-d` argument: one level 0..=31, or a comma-separated list of
/// them tried in order (`makedumpfile.c` `parse_dump_level`). Stricter than makedumpfile's
/// `atoi`: a piece that is not a number is refused rather than read as 0.
pub fn parse_dump_levels(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for piece in s.split(',') {
        let level = piece
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 31)
            .ok_or_else(|| format!("dump level {piece:?} in {s:?} is not 0..31"))?;
        if out.len() == MAX_LEVELS {
            return Err(format!("more than {MAX_LEVELS} dump levels in {s:?}"));
        }
        out.push(level);
    }
    Ok(out)
}

fn parse_levels(s: &str) -> Result<Levels, String> {
    parse_dump_levels(s).map(Levels)
}

/// A sink that remembers whether its last failed write was "no space" (ENOSPC, or the
/// `-L` limit, which the writer reports as `StorageFull`): makedumpfile's `flag_nospace`,
/// set by ENOSPC and by the limit and cleared by any other write error, which is what
/// decides a retry with the next dump level.
struct Watch<S> {
    inner: S,
    nospace: bool,
}

impl<S: Sink> Watch<S> {
    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            self.nospace = e.kind() == std::io::ErrorKind::StorageFull;
        }
        r
    }
}

impl<S: Sink> Sink for Watch<S> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let r = self.inner.write_at(offset, data);
        self.note(r)
    }
    fn extend_to(&mut self, len: u64) -> std::io::Result<()> {
        let r = self.inner.extend_to(len);
        self.note(r)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        let r = self.inner.finish();
        self.note(r)
    }
    fn written(&self) -> u64 {
        self.inner.written()
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix {c:?}")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a size in bytes"))
}

/// Runs the tool with `args` (including the program name); returns the exit code.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(&cli) {
        Ok(code) => code,
        Err(m) => {
            if cli.message_level & msg::ERROR != 0 {
                eprintln!("vmcore-capture: {m}");
            }
            1
        }
    }
}

fn run(cli: &Cli) -> Result<i32, String> {
    if cli.rearrange {
        let [out] = cli.files.as_slice() else {
            return Err("-R takes exactly one DUMPFILE (the stream comes on stdin)".into());
        };
        let file = create(out, cli.force)?;
        let mut sink = FileSink::new(file, cli.limit);
        let stdin = std::io::stdin();
        let r = rebuild(&mut stdin.lock(), &mut sink).map_err(|e| e.to_string())?;
        if !r.complete {
            return Err(format!(
                "{}: the stream ended before its end record ({} records copied)",
                out.display(),
                r.records
            ));
        }
        return Ok(0);
    }
    if cli.reassemble {
        return run_reassemble(cli);
    }
    if cli.dump_dmesg {
        let [vmcore, log] = cli.files.as_slice() else {
            return Err("--dump-dmesg takes VMCORE LOGFILE".into());
        };
        let dump = Dump::open(vmcore).map_err(|e| format!("{}: {e}", vmcore.display()))?;
        let kernel = Kernel::new(&dump).map_err(|e| format!("{}: {e}", vmcore.display()))?;
        let text = read_log(&kernel).map_err(|e| format!("{}: {e}", vmcore.display()))?;
        let mut f = std::io::BufWriter::new(create(log, cli.force)?);
        text.write_dmesg(&mut f)
            .and_then(|()| f.flush())
            .map_err(|e| format!("{}: {e}", log.display()))?;
        return Ok(0);
    }
    let (vmcore, out) = match (cli.flatten, cli.files.as_slice()) {
        (true, [v]) => (v, None),
        (false, [v, o]) => (v, Some(o)),
        // `--split` takes its files below, once the options are known.
        (false, [v, o, ..]) if cli.split => (v, Some(o)),
        (true, _) => return Err("-F takes VMCORE only; the stream goes to stdout".into()),
        (false, _) => return Err("VMCORE and DUMPFILE are needed".into()),
    };
    let codec = if cli.zlib {
        Codec::Zlib
    } else if cli.lzo {
        Codec::Lzo
    } else if cli.snappy {
        Codec::Snappy
    } else if cli.zstd {
        Codec::Zstd
    } else {
        Codec::None
    };
    let threads = cli.num_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let levels = cli.dump_level.0.as_slice();
    let first = levels.first().copied().unwrap_or(0);
    let mut opts = CaptureOptions {
        format: if cli.elf {
            OutputFormat::Elf
        } else {
            OutputFormat::Kdump(codec)
        },
        dump_level: first,
        threads,
        ..CaptureOptions::default()
    };
    if cli.split {
        return run_split(cli, &opts);
    }
    let started = Instant::now();
    // No whole-file mapping: a mapped /proc/vmcore costs page tables for all of the old
    // memory and its pages count in the resident set, which the capture kernel's small
    // memory cannot afford; the writer maps one small window per batch instead.
    let dump = Dump::open_read(vmcore).map_err(|e| format!("{}: {e}", vmcore.display()))?;
    let mut erased = Vec::new();
    if let Some(path) = &cli.config {
        let commands = crate::filter::read(path)?;
        let kernel = Kernel::new(&dump).map_err(|e| format!("{}: {e}", vmcore.display()))?;
        let syms = vmcore_introspect::Kallsyms::from_kernel(&kernel)
            .map_err(|e| format!("{}: kallsyms: {e}", vmcore.display()))?;
        let (erase, list) =
            crate::filter::resolve(&path.display().to_string(), &commands, &kernel, &syms)?;
        if cli.message_level & msg::COMMON != 0 {
            for e in &list {
                eprintln!(
                    "vmcore-capture: erase {} (line {}): {} bytes at vaddr {:#x} paddr {:#x}{}",
                    e.symbol,
                    e.line,
                    e.size,
                    e.vaddr,
                    e.paddr,
                    if e.nullify { ", zeroed (nullify)" } else { "" }
                );
            }
        }
        opts.erase = erase;
        erased = list;
    }
    let mut attempt = 0;
    let (stats, nospace) = loop {
        let level = levels.get(attempt).copied().unwrap_or(first);
        opts.dump_level = level;
        let mut bar = Bar::new(cli.progress && cli.message_level & msg::PROGRESS != 0);
        let mut report = |p: &Progress| bar.update(p);
        let (result, nospace) = match out {
            Some(path) => {
                let file = create(path, cli.force)?;
                let mut sink = Watch {
                    inner: FileSink::new(file, cli.limit),
                    nospace: false,
                };
                let r = capture(&dump, &opts, &mut sink, &mut report);
                (r, sink.nospace)
            }
            None => {
                warn_if_stdout_is_readable(cli);
                let stdout = std::io::stdout();
                let mut sink = Watch {
                    inner: FlatSink::new(
                        std::io::BufWriter::with_capacity(1 << 20, stdout.lock()),
                        cli.limit,
                    ),
                    nospace: false,
                };
                let r = capture(&dump, &opts, &mut sink, &mut report);
                (r, sink.nospace)
            }
        };
        bar.finish();
        // Not fitting is an incomplete dump (or a header that could not be written) with
        // "no space" as the last write error; other failures are not retried.
        let did_not_fit = nospace && result.as_ref().map_or(true, |s| s.incomplete);
        let next = levels.get(attempt + 1).copied();
        match (did_not_fit, next, out) {
            (true, Some(next), Some(path)) => {
                if cli.message_level & msg::COMMON != 0 {
                    let why = match &result {
                        Ok(s) => s.stopped_by.clone().unwrap_or_default(),
                        Err(e) => e.to_string(),
                    };
                    eprintln!(
                        "vmcore-capture: the dump at level {level} does not fit ({why}); retrying with dump level {next}"
                    );
                }
                // As makedumpfile: the partial file goes, the next level starts afresh.
                std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
                attempt += 1;
            }
            (true, Some(next), None) => {
                if cli.message_level & msg::ERROR != 0 {
                    eprintln!(
                        "vmcore-capture: not retrying with dump level {next}: with -F the part of the stream already written cannot be taken back"
                    );
                }
                let stats = result.map_err(|e| format!("{}: {e}", vmcore.display()))?;
                break (stats, true);
            }
            _ => {
                let stats = result.map_err(|e| format!("{}: {e}", vmcore.display()))?;
                break (stats, did_not_fit);
            }
        }
    };
    if let Some(path) = &cli.stats_json {
        let mut j = stats_json(
            &stats,
            cli,
            codec,
            threads,
            opts.dump_level,
            started.elapsed().as_secs_f64(),
        );
        j["erased"] = erased
            .iter()
            .map(|e| {
                serde_json::json!({
                    "line": e.line,
                    "symbol": e.symbol,
                    "paddr": e.paddr,
                    "size": e.size,
                })
            })
            .collect();
        // Metadata, not dump data: it follows the umask, but it replaces the path itself
        // (a new file renamed over it), never writing through a link.
        crate::files::replace(
            path,
            format!("{j:#}\n").as_bytes(),
            crate::files::Perms::Umask,
            "vmcore-capture",
        )?;
    }
    if cli.message_level & msg::REPORT != 0 {
        eprintln!(
            "vmcore-capture: pages: memory {} dumpable {} written {} zero {} cache {} cache-private {} user {} free {} hwpoison {} offline {} unreadable {}",
            stats.pages_in_memory,
            stats.pages_dumpable,
            stats.pages_written,
            stats.excluded.zero,
            stats.excluded.cache,
            stats.excluded.cache_private,
            stats.excluded.user,
            stats.excluded.free,
            stats.excluded.hwpoison,
            stats.excluded.offline,
            stats.pages_unreadable
        );
    }
    if stats.incomplete {
        if cli.message_level & msg::ERROR != 0 {
            eprintln!(
                "vmcore-capture: the dump is incomplete (kept, marked incomplete): {}",
                stats.stopped_by.as_deref().unwrap_or("unknown reason")
            );
            if nospace && levels.len() > 1 && out.is_some() {
                eprintln!(
                    "vmcore-capture: no dump level of -d {} fits; the dump kept is the one at level {}, which may still be analysable",
                    levels
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    opts.dump_level
                );
            }
        }
        return Ok(1);
    }
    if cli.message_level & msg::COMMON != 0 {
        eprintln!(
            "vmcore-capture: the dumpfile is saved ({} bytes).",
            stats.bytes_out
        );
    }
    Ok(0)
}

/// `--split VMCORE DUMPFILE1 DUMPFILE2...`: one kdump-compressed file per range, written by
/// [`vmcore_writer::capture_split`].
fn run_split(cli: &Cli, opts: &CaptureOptions) -> Result<i32, String> {
    let [vmcore, outs @ ..] = cli.files.as_slice() else {
        return Err("--split takes VMCORE DUMPFILE1 DUMPFILE2...".into());
    };
    if outs.len() < 2 {
        return Err("--split takes VMCORE and at least two DUMPFILEs".into());
    }
    let dump = Dump::open_read(vmcore).map_err(|e| format!("{}: {e}", vmcore.display()))?;
    let mut sinks = Vec::with_capacity(outs.len());
    for (i, path) in outs.iter().enumerate() {
        match create(path, cli.force) {
            Ok(f) => sinks.push(FileSink::new(f, cli.limit)),
            Err(e) => {
                // Leave no empty parts behind: the files made so far are our own, just created.
                for made in &outs[..i] {
                    let _ = std::fs::remove_file(made);
                }
                return Err(e);
            }
        }
    }
    let mut refs: Vec<&mut (dyn vmcore_writer::Sink + Send)> = sinks
        .iter_mut()
        .map(|s| s as &mut (dyn vmcore_writer::Sink + Send))
        .collect();
    let mut bar = Bar::new(cli.progress && cli.message_level & msg::PROGRESS != 0);
    // The bar follows the first file; the others advance at about the same pace.
    let mut report = |i: usize, p: &Progress| {
        if i == 0 {
            bar.update(p);
        }
    };
    let result = vmcore_writer::capture_split(&dump, opts, &mut refs, &mut report);
    bar.finish();
    let parts = result.map_err(|e| format!("{}: {e}", vmcore.display()))?;
    let mut code = 0;
    for (path, ((start, end), stats)) in outs.iter().zip(&parts) {
        if stats.incomplete {
            if cli.message_level & msg::ERROR != 0 {
                eprintln!(
                    "vmcore-capture: {} is incomplete (kept, marked incomplete): {}",
                    path.display(),
                    stats.stopped_by.as_deref().unwrap_or("unknown reason")
                );
            }
            code = 1;
        } else if cli.message_level & msg::REPORT != 0 {
            eprintln!(
                "vmcore-capture: {}: pfns {start:#x}..{end:#x}, {} pages written, {} bytes",
                path.display(),
                stats.pages_written,
                stats.bytes_out
            );
        }
    }
    if code == 0 && cli.message_level & msg::COMMON != 0 {
        let names: Vec<String> = outs.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "vmcore-capture: the dumpfiles are saved to {}.",
            names.join(", ")
        );
    }
    Ok(code)
}

/// `--reassemble DUMPFILE1 DUMPFILE2... DUMPFILE`: the parts, checked to be one split
/// dump, joined by [`vmcore_writer::reassemble`].
fn run_reassemble(cli: &Cli) -> Result<i32, String> {
    let [parts @ .., out] = cli.files.as_slice() else {
        return Err("--reassemble takes DUMPFILE1 DUMPFILE2... DUMPFILE".into());
    };
    if parts.len() < 2 {
        return Err("--reassemble takes at least two parts and the DUMPFILE to write".into());
    }
    let set = vmcore_reader::SplitSet::open(parts).map_err(|e| e.to_string())?;
    let mut sink = FileSink::new(create(out, cli.force)?, cli.limit);
    let r = vmcore_writer::reassemble(&set, &mut sink)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    if r.incomplete {
        if cli.message_level & msg::ERROR != 0 {
            eprintln!(
                "vmcore-capture: {}: a part is incomplete; {} pages lost (kept, marked incomplete)",
                out.display(),
                r.lost
            );
        }
        return Ok(1);
    }
    if cli.message_level & msg::COMMON != 0 {
        eprintln!(
            "vmcore-capture: the dumpfile is saved to {} ({} bytes).",
            out.display(),
            r.bytes_out
        );
    }
    Ok(0)
}

/// Creates DUMPFILE or LOGFILE: mode 0600 whatever the umask (the dump holds all kernel
/// memory), never through a symbolic link; an existing path is an error unless `force`
/// (makedumpfile's `-f`), which replaces the path itself, not what a link points to.
fn create(path: &std::path::Path, force: bool) -> Result<std::fs::File, String> {
    crate::files::create_private(path, force)
}

/// With `-F` the shell, not this tool, creates the file stdout goes to, under its own
/// umask: say so when that file can be read by group or others.
fn warn_if_stdout_is_readable(cli: &Cli) {
    let Ok(meta) = rustix::fs::fstat(std::io::stdout()) else {
        return;
    };
    let mode = meta.st_mode;
    let regular = rustix::fs::FileType::from_raw_mode(mode) == rustix::fs::FileType::RegularFile;
    if regular && mode & 0o077 != 0 && cli.message_level & msg::ERROR != 0 {
        eprintln!(
            "vmcore-capture: warning: stdout is a file that group or others can read (mode {:04o}); the stream holds all kernel memory: create it with umask 077",
            mode & 0o7777
        );
    }
}

fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn stats_json(
    s: &CaptureStats,
    cli: &Cli,
    codec: Codec,
    threads: usize,
    dump_level: u8,
    wall: f64,
) -> serde_json::Value {
    serde_json::json!({
        "format": if cli.elf { "elf" } else { "kdump" },
        "flattened": cli.flatten,
        "codec": codec.name(),
        "dump_level": dump_level,
        "dump_levels": cli.dump_level.0,
        "threads": threads,
        "complete": !s.incomplete,
        "stopped_by": s.stopped_by,
        "page_size": s.page_size,
        "max_mapnr": s.max_mapnr,
        "pages": {
            "memory": s.pages_in_memory,
            "dumpable": s.pages_dumpable,
            "written": s.pages_written,
            "zero": s.excluded.zero,
            "cache": s.excluded.cache,
            "cache_private": s.excluded.cache_private,
            "user": s.excluded.user,
            "free": s.excluded.free,
            "hwpoison": s.excluded.hwpoison,
            "offline": s.excluded.offline,
            "unreadable": s.pages_unreadable,
            "memmap_unreadable": s.memmap_unreadable,
        },
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "seconds": {
            "classify": s.time_classify.as_secs_f64(),
            "write": s.time_write.as_secs_f64(),
            "total": wall,
        },
        "peak_rss_bytes": peak_rss(),
    })
}

/// Progress on stderr: a redrawn bar on a terminal, a plain line per 10 % otherwise.
struct Bar {
    on: bool,
    tty: bool,
    last: Option<(Phase, u64)>,
}

impl Bar {
    fn new(on: bool) -> Bar {
        Bar {
            on,
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn update(&mut self, p: &Progress) {
        if !self.on || p.total == 0 {
            return;
        }
        let pct = p.done.saturating_mul(100) / p.total;
        let name = match p.phase {
            Phase::Classify => "Excluding pages",
            Phase::Write => "Copying data",
        };
        if self.tty {
            if self.last == Some((p.phase, pct)) {
                return;
            }
            if self.last.is_some_and(|(ph, _)| ph != p.phase) {
                eprintln!();
            }
            let fill = (pct / 4) as usize;
            eprint!(
                "\r{name:<16} [{}{}] {pct:3}% {} MiB",
                "#".repeat(fill),
                " ".repeat(25 - fill.min(25)),
                p.written >> 20
            );
            self.last = Some((p.phase, pct));
        } else {
            let step = pct / 10 * 10;
            if self.last.is_some_and(|l| l == (p.phase, step)) {
                return;
            }
            eprintln!("{name}: {step}% ({}/{})", p.done, p.total);
            self.last = Some((p.phase, step));
        }
    }

    fn finish(&self) {
        if self.on && self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vmcore-capture").chain(args.iter().copied()))
    }

    #[test]
    fn makedumpfile_spellings_parse() {
        let c = parse(&[
            "-l",
            "--message-level",
            "7",
            "-d",
            "31",
            "/proc/vmcore",
            "out",
        ])
        .unwrap();
        assert!(c.lzo && c.dump_level.0 == [31] && c.message_level == 7);
        let c = parse(&["-c", "-d31", "--num-threads=2", "in", "out"]).unwrap();
        assert!(c.zlib && c.dump_level.0 == [31] && c.num_threads == Some(2));
        let c = parse(&["-c", "-d", "11,31", "in", "out"]).unwrap();
        assert_eq!(c.dump_level.0, [11, 31]);
        // kdump-tools appends -F to MAKEDUMP_ARGS that may already hold one; the last -d wins.
        let c = parse(&["-c", "-F", "-d", "1", "-d", "31", "-F", "in"]).unwrap();
        assert!(c.flatten && c.dump_level.0 == [31]);
        assert!(parse(&["-d", "11,", "in", "out"]).is_err());
        assert!(parse(&["-d", "1,x", "in", "out"]).is_err());
        assert!(parse(&["-d", "1,32", "in", "out"]).is_err());
        let c = parse(&["-F", "-l", "-d", "1", "in"]).unwrap();
        assert!(c.flatten && c.files.len() == 1);
        let c = parse(&["-R", "out"]).unwrap();
        assert!(c.rearrange);
        let c = parse(&["-E", "-d", "17", "-L", "10M", "in", "out"]).unwrap();
        assert_eq!(c.limit, Some(10 << 20));
        assert!(parse(&["-c", "-l", "in", "out"]).is_err());
        assert!(parse(&["-d", "32", "in", "out"]).is_err());
        assert!(parse(&["-E", "-z", "in", "out"]).is_err());
        assert!(parse(&["--dump-dmesg", "in", "log"]).unwrap().dump_dmesg);
        let c = parse(&["-l", "-d", "31", "--split", "in", "p1", "p2", "p3"]).unwrap();
        assert!(c.split && c.lzo && c.files.len() == 4);
        let c = parse(&["--reassemble", "p1", "p2", "out"]).unwrap();
        assert!(c.reassemble && c.files.len() == 3);
        assert!(parse(&["--split", "-E", "in", "p1", "p2"]).is_err());
        // Erasing is not carried into split parts (yet): refused, not ignored.
        assert!(parse(&["--split", "--config", "f.conf", "in", "p1", "p2"]).is_err());
        assert!(parse(&["--reassemble", "-l", "p1", "p2", "out"]).is_err());
    }

    #[test]
    fn level_lists() {
        assert_eq!(parse_dump_levels("31"), Ok(vec![31]));
        assert_eq!(parse_dump_levels("0,1,31"), Ok(vec![0, 1, 31]));
        let many = vec!["1"; MAX_LEVELS].join(",");
        assert_eq!(parse_dump_levels(&many).map(|v| v.len()), Ok(MAX_LEVELS));
        assert!(parse_dump_levels(&format!("{many},1")).is_err());
        assert!(parse_dump_levels("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }
}
