//! `vmcore-capture` over an input that fails with EIO at chosen offsets, as a failing disk
//! or a `/proc/vmcore` with unreadable old-kernel memory does. A real dump is served
//! through a small FUSE filesystem (crate `fuser`, mounted directly: we are root) whose
//! reads fail when they overlap a chosen byte range; `direct_io` keeps the kernel from
//! widening or caching reads, so exactly the requests that touch a bad range fail.
//!
//! Checked: a clean capture through the mount is complete and exits 0; with faults in page
//! data that `-d 31` keeps, or in the `mem_map` the classifier reads, the capture goes on,
//! exits 1 (makedumpfile's code for an incomplete dump), and leaves a dump that opens,
//! says it is incomplete, records exactly the pages it could not read as lost (reads of
//! them fail, never zeros), and holds every other page byte for byte as the input has it.
//!
//! Enabled by the `fixture-tests` feature; reads `$KDUMP_FIXTURES` and fails when it is
//! unset, a file is missing, or FUSE cannot be mounted.
#![cfg(feature = "fixture-tests")]

mod support;
use support::Tmp;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyData, ReplyEntry,
    ReplyOpen, Request,
};
use vmcore_reader::{Dump, Kernel, PageState, PhysMemory};
use vmcore_writer::classify::{PageLayout, mem_map_ranges};

/// The dump every case serves: x86_64, 512 MiB, QEMU's ELF.
const INPUT: &str = "dumps/x86_64-512M/qemu.elf";
const PAGE: u64 = 4096;
/// [`PAGE`] as a buffer length.
const PAGE_LEN: usize = 4096;
/// Inode of the one file in the mount's root.
const FILE_INO: INodeNo = INodeNo(2);
const FILE_NAME: &str = "vmcore";

fn fixture(rel: &str) -> PathBuf {
    let root =
        std::env::var_os("KDUMP_FIXTURES").expect("KDUMP_FIXTURES must name the fixture folder");
    let p = PathBuf::from(root).join(rel);
    assert!(p.exists(), "fixture file missing: {}", p.display());
    p
}

/// A read-only filesystem of one file, `vmcore`: the bytes of `source`, except that a read
/// overlapping any of `bad` (byte ranges `[start, end)`) fails with EIO.
struct FaultyFile {
    source: File,
    len: u64,
    bad: Vec<(u64, u64)>,
    faults: Arc<AtomicU64>,
}

impl FaultyFile {
    fn attr(&self, ino: INodeNo) -> FileAttr {
        let file = ino == FILE_INO;
        FileAttr {
            ino,
            size: if file { self.len } else { 0 },
            blocks: if file { self.len.div_ceil(512) } else { 0 },
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind: if file {
                FileType::RegularFile
            } else {
                FileType::Directory
            },
            perm: if file { 0o444 } else { 0o555 },
            nlink: if file { 1 } else { 2 },
            uid: 0,
            gid: 0,
            rdev: 0,
            flags: 0,
            blksize: u32::try_from(PAGE).expect("a page size fits u32"),
        }
    }

    fn read_range(&self, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let end = offset.saturating_add(u64::from(size)).min(self.len);
        if self.bad.iter().any(|&(s, e)| offset < e && s < end) {
            self.faults.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::EIO);
        }
        // At most `size` bytes, a u32.
        let len = usize::try_from(end.saturating_sub(offset)).map_err(|_| Errno::EIO)?;
        let mut buf = vec![0u8; len];
        self.source
            .read_exact_at(&mut buf, offset)
            .map_err(|_| Errno::EIO)?;
        Ok(buf)
    }
}

const TTL: Duration = Duration::from_secs(60);

impl Filesystem for FaultyFile {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == INodeNo::ROOT && name == FILE_NAME {
            reply.entry(&TTL, &self.attr(FILE_INO), Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino == INodeNo::ROOT || ino == FILE_INO {
            reply.attr(&TTL, &self.attr(ino));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // Direct I/O: every pread reaches `read` with its own offset and size, uncached.
        reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if ino != FILE_INO {
            return reply.error(Errno::EISDIR);
        }
        match self.read_range(offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }
}

/// A mounted [`FaultyFile`]; unmounted on drop, a panicking test included.
struct FuseMount {
    dir: PathBuf,
    session: Option<BackgroundSession>,
    faults: Arc<AtomicU64>,
}

impl FuseMount {
    /// Mounts `source` at `dir` with reads overlapping `bad` failing. Panics (the test
    /// fails, it does not skip) when FUSE cannot be mounted.
    fn new(source: &Path, bad: Vec<(u64, u64)>, dir: PathBuf) -> FuseMount {
        std::fs::create_dir_all(&dir).unwrap();
        let file = File::open(source).unwrap();
        let len = file.metadata().unwrap().len();
        let faults = Arc::new(AtomicU64::new(0));
        let fs = FaultyFile {
            source: file,
            len,
            bad,
            faults: faults.clone(),
        };
        let mut config = Config::default();
        config.mount_options = vec![MountOption::RO, MountOption::FSName("kdump-eio".into())];
        config.n_threads = Some(2);
        let session = fuser::spawn_mount(fs, &dir, &config).unwrap_or_else(|e| {
            panic!(
                "mounting FUSE at {} failed: {e} (needs root and /dev/fuse)",
                dir.display()
            )
        });
        FuseMount {
            dir,
            session: Some(session),
            faults,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Reads that were answered with EIO.
    fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let Some(s) = self.session.take() else { return };
        if s.umount_and_join().is_err() {
            // Busy or already gone: detach it so no mount outlives the test.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// A finished `vmcore-capture` run: exit code, stderr, `--stats-json`.
struct Run {
    code: Option<i32>,
    stderr: String,
    stats: serde_json::Value,
}

fn capture(input: &Path, out: &Path, stats: &Path) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_vmcore-capture"))
        .args([
            "-l",
            "-d",
            "31",
            "--num-threads",
            "2",
            "--message-level",
            "23",
        ])
        .arg("--stats-json")
        .arg(stats)
        .arg(input)
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let text = std::fs::read_to_string(stats)
        .unwrap_or_else(|e| panic!("no --stats-json ({e}); stderr: {stderr}"));
    Run {
        code: o.status.code(),
        stderr,
        stats: serde_json::from_str(&text).unwrap(),
    }
}

/// The state of every page of `dump`'s bitmap of dumpable pages, by pfn.
fn page_states(dump: &Dump) -> BTreeMap<u64, PageState> {
    let mut m = BTreeMap::new();
    for (s, e) in dump.present_ranges() {
        for pa in (s..e).step_by(PAGE_LEN) {
            m.insert(pa / PAGE, dump.page_state(pa).unwrap());
        }
    }
    m
}

fn source_page(src: &Dump, pfn: u64) -> Vec<u8> {
    let mut b = vec![0u8; PAGE_LEN];
    src.read_phys(pfn * PAGE, &mut b).unwrap();
    b
}

/// Every present page of `out` equals the source's; returns how many were compared.
fn present_pages_equal(out: &Dump, states: &BTreeMap<u64, PageState>, src: &Dump) -> u64 {
    let mut b = vec![0u8; PAGE_LEN];
    let mut n = 0;
    for (&pfn, st) in states {
        if matches!(st, PageState::Present | PageState::Zero) {
            out.read_phys(pfn * PAGE, &mut b).unwrap();
            assert!(
                b == source_page(src, pfn),
                "page {pfn:#x} differs from the input"
            );
            n += 1;
        }
    }
    n
}

/// The file offset of physical address `pa` in the ELF dump `src`.
fn file_offset(src: &Dump, pa: u64) -> u64 {
    let elf = src.elf().expect("an ELF input");
    let s = elf
        .segments
        .iter()
        .find(|s| pa >= s.paddr && pa - s.paddr < s.filesz)
        .unwrap_or_else(|| panic!("{pa:#x} is in no PT_LOAD"));
    s.offset + (pa - s.paddr)
}

/// The pfns whose bytes in `src` overlap a range of `bad`, among `candidates`.
fn pfns_hit(src: &Dump, candidates: &BTreeSet<u64>, bad: &[(u64, u64)]) -> BTreeSet<u64> {
    candidates
        .iter()
        .copied()
        .filter(|&pfn| {
            let off = file_offset(src, pfn * PAGE);
            bad.iter().any(|&(s, e)| off < e && s < off + PAGE)
        })
        .collect()
}

/// The pfns a clean capture through the mount keeps at `-d 31`, and how many are non-zero.
struct Baseline {
    kept: BTreeSet<u64>,
    nonzero: BTreeSet<u64>,
}

/// A capture through a mount with no faults: it must be complete, exit 0, and equal the
/// input. Made once and shared by the fault cases.
fn baseline() -> &'static Baseline {
    static B: OnceLock<Baseline> = OnceLock::new();
    B.get_or_init(|| {
        let input = fixture(INPUT);
        let t = Tmp::new("clean");
        let m = FuseMount::new(&input, Vec::new(), t.0.join("mnt"));
        let out = t.0.join("vmcore");
        let run = capture(&m.file(), &out, &t.0.join("stats.json"));
        assert_eq!(run.code, Some(0), "clean capture: {}", run.stderr);
        assert_eq!(m.faults(), 0);
        drop(m);
        let dump = Dump::open(&out).unwrap();
        assert!(!dump.kdump().unwrap().is_incomplete());
        let states = page_states(&dump);
        let src = Dump::open(&input).unwrap();
        let n = present_pages_equal(&dump, &states, &src);
        assert_eq!(run.stats["pages"]["dumpable"].as_u64(), Some(n));
        let state_is = |want: PageState| {
            states
                .iter()
                .filter(move |&(_, &s)| s == want)
                .map(|(&p, _)| p)
        };
        let kept: BTreeSet<u64> = state_is(PageState::Present)
            .chain(state_is(PageState::Zero))
            .collect();
        assert_eq!(kept.len(), states.len(), "clean capture: {states:?}");
        eprintln!("clean capture through FUSE: {n} pages, all equal to the input");
        Baseline {
            kept,
            nonzero: state_is(PageState::Present).collect(),
        }
    })
}

/// Captures through a mount failing on `bad`, then checks the output against the clean
/// capture: exit 1, incomplete, `lost` exactly, every other kept page present and equal.
/// Returns the run and the output's page states.
fn capture_with_faults(tag: &str, bad: &[(u64, u64)]) -> (Run, BTreeMap<u64, PageState>) {
    let base = baseline();
    let input = fixture(INPUT);
    let src = Dump::open(&input).unwrap();
    let lost = pfns_hit(&src, &base.kept, bad);
    assert!(!lost.is_empty(), "{tag}: the faults hit no kept page");
    for &pfn in &lost {
        assert!(
            base.nonzero.contains(&pfn),
            "{tag}: {pfn:#x} is a zero page"
        );
    }
    let t = Tmp::new(tag);
    let m = FuseMount::new(&input, bad.to_vec(), t.0.join("mnt"));
    let out = t.0.join("vmcore");
    let run = capture(&m.file(), &out, &t.0.join("stats.json"));
    let faults = m.faults();
    drop(m);
    eprintln!(
        "{tag}: exit {:?}, {faults} reads failed with EIO; stderr:\n{}",
        run.code, run.stderr
    );
    assert!(faults > 0, "{tag}: no read hit a bad range");
    assert_eq!(run.code, Some(1), "{tag}: an incomplete dump exits 1");
    assert!(run.stderr.contains("incomplete"), "{tag}: {}", run.stderr);
    assert_eq!(run.stats["complete"], false, "{tag}");
    assert_eq!(
        run.stats["pages"]["unreadable"].as_u64(),
        Some(lost.len() as u64)
    );

    let dump = Dump::open(&out).unwrap();
    let k = dump.kdump().expect("kdump-compressed output");
    assert!(k.is_incomplete(), "{tag}: the header must say incomplete");
    let states = page_states(&dump);
    let got_lost: BTreeSet<u64> = states
        .iter()
        .filter(|&(_, &s)| s == PageState::Lost)
        .map(|(&p, _)| p)
        .collect();
    assert_eq!(got_lost, lost, "{tag}: lost pages");
    let mut b = vec![0u8; PAGE_LEN];
    for &pfn in &lost {
        assert!(
            dump.read_phys(pfn * PAGE, &mut b).is_err(),
            "{tag}: lost page {pfn:#x} reads as data"
        );
    }
    for &pfn in base.kept.difference(&lost) {
        assert!(
            matches!(states.get(&pfn), Some(PageState::Present | PageState::Zero)),
            "{tag}: page {pfn:#x} of the clean capture is {:?}",
            states.get(&pfn)
        );
    }
    let n = present_pages_equal(&dump, &states, &src);
    eprintln!(
        "{tag}: {} pages lost as expected, {n} present and equal to the input",
        lost.len()
    );
    (run, states)
}

/// The physical address of kernel virtual address `symbol` of VMCOREINFO.
fn symbol_paddr(src: &Dump, symbol: &str) -> u64 {
    let k = Kernel::new(src).unwrap();
    let va = k
        .info()
        .symbol(symbol)
        .unwrap()
        .expect("symbol in VMCOREINFO");
    k.translate(va).unwrap()
}

#[test]
fn unreadable_page_data_is_recorded_lost_and_the_capture_goes_on() {
    let src = Dump::open(fixture(INPUT)).unwrap();
    // Kernel text: kept at -d 31, never zero, and not read to translate or classify.
    let text = symbol_paddr(&src, "_stext");
    let at = |pa: u64| file_offset(&src, pa);
    // The highest non-zero page below 640 KiB: another PT_LOAD.
    let low = *baseline()
        .nonzero
        .range(..0xa0)
        .next_back()
        .expect("a kept page below 640 KiB");
    let bad = [
        // Three whole pages.
        (at(text + 0x10_0000), at(text + 0x10_0000) + 3 * PAGE),
        // 16 bytes across a page boundary: two pages.
        (at(text + 0x18_0000) - 8, at(text + 0x18_0000) + 8),
        // One byte in the middle of a page.
        (at(low * PAGE) + 2048, at(low * PAGE) + 2049),
    ];
    let (run, _) = capture_with_faults("data", &bad);
    assert_eq!(run.stats["pages"]["unreadable"].as_u64(), Some(6));
    assert_eq!(run.stats["pages"]["memmap_unreadable"].as_u64(), Some(0));
}

#[test]
fn unreadable_mem_map_keeps_the_pages_it_describes() {
    let input = fixture(INPUT);
    let src = Dump::open(&input).unwrap();
    let base = baseline();
    let k = Kernel::new(&src).unwrap();
    let layout = PageLayout::from_info(k.info(), 31, 8, false).unwrap();
    let max_pfn = src.memory_ranges().last().expect("memory ranges").1 / PAGE;
    let ranges = mem_map_ranges(&k, &layout, 12, max_pfn).unwrap();
    let per_page = PAGE / layout.size as u64;
    // A mem_map page whose struct pages all describe pages -d 31 excluded, in the middle
    // of RAM, so that keeping them shows in the output.
    let (first, pa) = (0x8000..0x1_8000)
        .step_by(usize::try_from(per_page).expect("struct pages per page fit usize"))
        .find_map(|pfn| {
            let r = ranges.iter().find(|r| pfn >= r.start && pfn < r.end)?;
            let group = pfn..pfn + per_page;
            if group.end > r.end || group.clone().any(|p| base.kept.contains(&p)) {
                return None;
            }
            let va = r.mem_map + (pfn - r.start) * layout.size as u64;
            let pa = k.translate(va).ok()?;
            (pa % PAGE == 0 && k.translate(va + PAGE - 1).ok()? == pa + PAGE - 1)
                .then_some((pfn, pa))
        })
        .expect("a mem_map page describing only excluded pages");
    let off = file_offset(&src, pa);
    let (run, states) = capture_with_faults("memmap", &[(off, off + PAGE)]);
    assert_eq!(run.stats["pages"]["unreadable"].as_u64(), Some(1));
    let unclassified = run.stats["pages"]["memmap_unreadable"].as_u64().unwrap();
    assert!(unclassified >= per_page, "memmap_unreadable {unclassified}");
    for pfn in first..first + per_page {
        assert!(
            matches!(states.get(&pfn), Some(PageState::Present | PageState::Zero)),
            "pfn {pfn:#x}, whose struct page could not be read, is {:?}, not kept",
            states.get(&pfn)
        );
    }
    eprintln!(
        "memmap: struct pages of pfns {first:#x}..{:#x} at {pa:#x} unreadable; {unclassified} pfns kept unclassified",
        first + per_page
    );
}
