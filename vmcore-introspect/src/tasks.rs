//! The task list of the dumped kernel, as crash's `ps` lists it: every process on
//! `init_task.tasks`, every thread of each (`signal->thread_head` / `thread_node`, or
//! `thread_group` on kernels before 6.7 that lack them), and each online CPU's idle task
//! (`per_cpu(runqueues, cpu).idle`, per-CPU areas at `__per_cpu_offset[cpu]`). Every offset
//! comes from the dump's BTF; every walk is bounded and detects cycles.
//!
//! State letters follow the kernel's `task_state_to_char()` (`fs/proc/array.c`,
//! `include/linux/sched.h`), read from the dumped kernel's own `task_state_array` when
//! kallsyms has it: `(__state | exit_state) & TASK_REPORT` picks the letter by its highest
//! bit, and a `D` whose other bit is `TASK_NOLOAD` (0x400) is `I` (`TASK_IDLE`), as drgn's
//! `task_state_to_char` does.

use std::collections::HashSet;

use crate::btf::Btf;
use crate::error::{Error, Result, bad};
use crate::kallsyms::Kallsyms;
use crate::mem::{Memory, MemoryExt};

/// `TASK_NOLOAD` (`include/linux/sched.h`, 0x400 since Linux 4.14).
const TASK_NOLOAD: u64 = 0x400;
/// `"RSDTtXZPI"`: the letters of `task_state_array` since Linux 4.14, used when kallsyms
/// lacks the array (kernels without `CONFIG_KALLSYMS_ALL`).
const DEFAULT_LETTERS: &[u8] = b"RSDTtXZPI";

/// One task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Address of its `task_struct`.
    pub address: u64,
    /// `pid` (the thread id).
    pub pid: i64,
    /// `real_parent->pid`.
    pub ppid: i64,
    /// The CPU it last ran on (`thread_info.cpu` or `cpu`).
    pub cpu: Option<u64>,
    /// Its state letter (`R`, `S`, `D`, `T`, `t`, `X`, `Z`, `P`, `I`).
    pub state: char,
    /// `comm`.
    pub comm: String,
    /// It is the task running on its CPU at the crash (`rq->curr`; crash marks it `>`).
    pub active: bool,
}

/// Offsets of the members the walk reads, all from BTF.
#[derive(Debug, Clone)]
pub struct TaskLayout {
    tasks: u64,
    pid: u64,
    comm: (u64, u64),
    real_parent: u64,
    state: (u64, u64),
    exit_state: u64,
    cpu: Option<(u64, u64)>,
    threads: Threads,
    task_size: u64,
    rq: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy)]
enum Threads {
    /// `task->signal->thread_head`, linked through `task->thread_node`.
    Signal { signal: u64, head: u64, node: u64 },
    /// `task->thread_group`, a ring through every thread.
    Group { node: u64 },
}

impl TaskLayout {
    /// The layout of `task_struct` (and `rq`, when BTF has it) in `btf`.
    pub fn new(btf: &Btf) -> Result<TaskLayout> {
        let m = |p: &str| btf.member("task_struct", p);
        let state = m("__state").or_else(|_| m("state"))?;
        let comm = m("comm")?;
        let cpu = m("thread_info.cpu").or_else(|_| m("cpu")).ok();
        let threads = match (
            m("signal"),
            btf.member("signal_struct", "thread_head"),
            m("thread_node"),
        ) {
            (Ok(s), Ok(h), Ok(n)) => Threads::Signal {
                signal: s.offset,
                head: h.offset,
                node: n.offset,
            },
            _ => Threads::Group {
                node: m("thread_group")?.offset,
            },
        };
        let rq = match (btf.member("rq", "idle"), btf.member("rq", "curr")) {
            (Ok(i), Ok(c)) => Some((i.offset, c.offset)),
            _ => None,
        };
        Ok(TaskLayout {
            tasks: m("tasks")?.offset,
            pid: m("pid")?.offset,
            comm: (comm.offset, comm.size.min(64)),
            real_parent: m("real_parent")?.offset,
            state: (state.offset, state.size.min(8)),
            exit_state: m("exit_state")?.offset,
            cpu: cpu.map(|c| (c.offset, c.size.min(8))),
            threads,
            task_size: btf.struct_size("task_struct")?.max(1),
            rq,
        })
    }

    /// `sizeof(struct task_struct)`.
    pub fn task_size(&self) -> u64 {
        self.task_size
    }
}

/// Walks a circular `list_head` from `head`, returning the nodes (not the head). At most
/// `limit` nodes; a node met twice is a cycle.
pub fn list_nodes(mem: &dyn Memory, what: &'static str, head: u64, limit: u64) -> Result<Vec<u64>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut cur = mem.pointer(what, head)?;
    let mut steps = 0u64;
    while cur != head {
        if cur == 0 {
            return Err(bad(what, head, 0, "a non-NULL next pointer"));
        }
        if steps >= limit {
            return Err(Error::TooLong { what, head, limit });
        }
        if !seen.insert(cur) {
            return Err(Error::Cycle {
                what,
                head,
                node: cur,
                steps,
            });
        }
        out.push(cur);
        steps += 1;
        cur = mem.pointer(what, cur)?;
    }
    Ok(out)
}

/// The state letters, and `TASK_REPORT`.
fn state_letters(mem: &dyn Memory, syms: &Kallsyms) -> (Vec<u8>, u64) {
    let from_dump = || -> Option<Vec<u8>> {
        let s = syms.lookup("task_state_array")?;
        let ps = mem.pointer_size();
        let n = (syms.size_of(s)? / ps).min(16);
        let mut letters = Vec::new();
        for i in 0..n {
            let p = mem.pointer("task_state_array", s.address + i * ps).ok()?;
            let mut b = [0u8; 3];
            if mem.bytes("task_state_array string", p, &mut b).is_err() || &b[1..] != b" (" {
                break;
            }
            letters.push(b[0]);
        }
        Some(letters).filter(|l| !l.is_empty())
    };
    let letters = from_dump().unwrap_or_else(|| DEFAULT_LETTERS.to_vec());
    // TASK_REPORT: one bit per letter after R, up to the last of the reported states.
    let last = letters
        .iter()
        .rposition(|c| b"RSDTtXZP".contains(c))
        .unwrap_or(0);
    let report = (1u64 << last) - 1;
    (letters, report)
}

fn letter(letters: &[u8], report: u64, state: u64, exit_state: u64) -> char {
    let s = (state | exit_state) & report;
    let idx = usize::try_from(64 - s.leading_zeros()).unwrap_or(0);
    let c = letters.get(idx).copied().map_or('?', char::from);
    if c == 'D' && (state & !s) == TASK_NOLOAD {
        'I'
    } else {
        c
    }
}

/// Reads the tasks of the dumped kernel.
pub struct TaskWalker<'a> {
    mem: &'a dyn Memory,
    syms: &'a Kallsyms,
    layout: TaskLayout,
    limit: u64,
    letters: (Vec<u8>, u64),
}

impl core::fmt::Debug for TaskWalker<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TaskWalker")
            .field("layout", &self.layout)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<'a> TaskWalker<'a> {
    /// A walker over a dump's kernel, bounded by as many task_structs as the dump's memory
    /// could hold.
    pub fn for_kernel(
        kernel: &'a vmcore_reader::Kernel<'a>,
        syms: &'a Kallsyms,
        btf: &Btf,
    ) -> Result<Self> {
        let size = TaskLayout::new(btf)?.task_size();
        let bytes: u64 = kernel
            .dump()
            .memory_ranges()
            .iter()
            .map(|(s, e)| e.saturating_sub(*s))
            .fold(0u64, u64::saturating_add);
        TaskWalker::new(kernel, syms, btf, (bytes / size).max(1))
    }

    /// A walker reading at most `limit` tasks (pass what the dump could hold: its memory
    /// size over [`TaskLayout::task_size`]).
    pub fn new(mem: &'a dyn Memory, syms: &'a Kallsyms, btf: &Btf, limit: u64) -> Result<Self> {
        Ok(TaskWalker {
            mem,
            syms,
            layout: TaskLayout::new(btf)?,
            limit,
            letters: state_letters(mem, syms),
        })
    }

    /// The layout in use.
    pub fn layout(&self) -> &TaskLayout {
        &self.layout
    }

    fn i32_at(&self, what: &'static str, va: u64) -> Result<i64> {
        let v = self.mem.u32(what, va)?;
        Ok(i64::from(i32::from_ne_bytes(v.to_ne_bytes())))
    }

    /// One task's fields.
    pub fn task(&self, address: u64) -> Result<Task> {
        let l = &self.layout;
        let at = |off: u64| crate::error::add("task_struct member", address, off);
        let pid = self.i32_at("task_struct.pid", at(l.pid)?)?;
        let parent = self
            .mem
            .pointer("task_struct.real_parent", at(l.real_parent)?)?;
        let ppid = if parent == 0 {
            0
        } else {
            self.i32_at(
                "real_parent->pid",
                crate::error::add("real_parent", parent, l.pid)?,
            )?
        };
        let cpu = match l.cpu {
            Some((off, size)) => Some(self.mem.uint(
                "task cpu",
                at(off)?,
                usize::try_from(size).unwrap_or(4),
            )?),
            None => None,
        };
        let state = self.mem.uint(
            "task_struct.__state",
            at(l.state.0)?,
            usize::try_from(l.state.1).unwrap_or(4),
        )?;
        let exit_state = u64::from(self.mem.u32("task_struct.exit_state", at(l.exit_state)?)?);
        let mut comm = vec![0u8; usize::try_from(l.comm.1).unwrap_or(16)];
        self.mem
            .bytes("task_struct.comm", at(l.comm.0)?, &mut comm)?;
        let end = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
        Ok(Task {
            address,
            pid,
            ppid,
            cpu,
            state: letter(&self.letters.0, self.letters.1, state, exit_state),
            comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
            active: false,
        })
    }

    /// The thread-group members of process `p` other than `p`, at most `budget` nodes.
    fn threads(&self, p: u64, budget: u64) -> Result<Vec<u64>> {
        match self.layout.threads {
            Threads::Signal { signal, head, node } => {
                let sig = self.mem.pointer(
                    "task_struct.signal",
                    crate::error::add("signal", p, signal)?,
                )?;
                if sig == 0 {
                    return Ok(Vec::new());
                }
                let h = crate::error::add("signal_struct.thread_head", sig, head)?;
                Ok(
                    list_nodes(self.mem, "signal_struct.thread_head", h, budget)?
                        .into_iter()
                        .map(|n| n.wrapping_sub(node))
                        .filter(|&t| t != p)
                        .collect(),
                )
            }
            Threads::Group { node } => {
                let h = crate::error::add("task_struct.thread_group", p, node)?;
                Ok(list_nodes(self.mem, "task_struct.thread_group", h, budget)?
                    .into_iter()
                    .map(|n| n.wrapping_sub(node))
                    .collect())
            }
        }
    }

    /// `(cpu, idle task, current task)` of every online CPU, when kallsyms and BTF have
    /// what it takes (`__cpu_online_mask`, `__per_cpu_offset`, `runqueues`, `struct rq`).
    pub fn cpus(&self, btf: &Btf) -> Result<Vec<(u64, u64, u64)>> {
        let why = "per-CPU idle tasks";
        let (idle_off, curr_off) = self.layout.rq.ok_or_else(|| Error::Missing {
            what: "struct rq's idle and curr in BTF".into(),
            why,
        })?;
        let mask = self.syms.address_of("__cpu_online_mask", why)?;
        let offsets = self
            .syms
            .lookup("__per_cpu_offset")
            .ok_or_else(|| Error::Missing {
                what: "symbol __per_cpu_offset in kallsyms".into(),
                why,
            })?;
        let rq = self.syms.address_of("runqueues", why)?;
        let ps = self.mem.pointer_size();
        let max_cpus = self.syms.size_of(offsets).unwrap_or(ps) / ps;
        let mask_bytes = btf.struct_size("cpumask")?.min(1024);
        let mut bits = vec![0u8; usize::try_from(mask_bytes).unwrap_or(0)];
        self.mem.bytes("__cpu_online_mask", mask, &mut bits)?;
        let mut out = Vec::new();
        for (i, byte) in bits.iter().enumerate() {
            for bit in 0..8u64 {
                if byte & (1 << bit) == 0 {
                    continue;
                }
                let cpu = u64::try_from(i).unwrap_or(u64::MAX) * 8 + bit;
                if cpu >= max_cpus {
                    return Err(bad(
                        "__cpu_online_mask",
                        mask,
                        cpu,
                        format!("CPUs below the {max_cpus} entries of __per_cpu_offset"),
                    ));
                }
                let off = self
                    .mem
                    .pointer("__per_cpu_offset", offsets.address + cpu * ps)?;
                let this_rq = rq.wrapping_add(off);
                let idle = self
                    .mem
                    .pointer("rq.idle", this_rq.wrapping_add(idle_off))?;
                let curr = self
                    .mem
                    .pointer("rq.curr", this_rq.wrapping_add(curr_off))?;
                out.push((cpu, idle, curr));
            }
        }
        Ok(out)
    }

    /// Every task: processes from `init_task.tasks` with their threads, then the idle
    /// tasks of the online CPUs other than `init_task`. Sorted by PID, then address.
    pub fn walk(&self, btf: &Btf) -> Result<Vec<Task>> {
        let init = match self.syms.lookup("init_task") {
            Some(s) => s.address,
            None => crate::scan::find_init_task(
                self.mem,
                self.syms,
                self.layout.comm.0,
                self.layout.pid,
                self.layout.tasks,
            )?,
        };
        let head = crate::error::add("init_task.tasks", init, self.layout.tasks)?;
        let mut addrs = vec![init];
        for n in list_nodes(self.mem, "init_task.tasks", head, self.limit)? {
            let p = n.wrapping_sub(self.layout.tasks);
            addrs.push(p);
            // One budget for every list together: the work stays linear in what the dump
            // could hold, however the thread lists of a corrupted dump are linked.
            let used = u64::try_from(addrs.len()).unwrap_or(u64::MAX);
            addrs.extend(self.threads(p, self.limit.saturating_sub(used))?);
        }
        let cpus = self.cpus(btf).unwrap_or_default();
        for &(_, idle, _) in &cpus {
            addrs.push(idle);
        }
        let mut seen = HashSet::new();
        addrs.retain(|a| seen.insert(*a));
        if u64::try_from(addrs.len()).unwrap_or(u64::MAX) > self.limit {
            return Err(Error::TooLong {
                what: "tasks and threads",
                head,
                limit: self.limit,
            });
        }
        let mut out = Vec::with_capacity(addrs.len());
        for a in addrs {
            let mut t = self.task(a)?;
            t.active = cpus
                .iter()
                .any(|&(c, _, curr)| curr == a && t.cpu == Some(c));
            out.push(t);
        }
        out.sort_by_key(|t| (t.pid, t.cpu, t.address));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_as_the_kernel_reports_them() {
        let (l, r) = (DEFAULT_LETTERS.to_vec(), 0x7f);
        assert_eq!(letter(&l, r, 0, 0), 'R');
        assert_eq!(letter(&l, r, 1, 0), 'S');
        assert_eq!(letter(&l, r, 2, 0), 'D');
        assert_eq!(letter(&l, r, 0x402, 0), 'I');
        assert_eq!(letter(&l, r, 4, 0), 'T');
        assert_eq!(letter(&l, r, 8, 0), 't');
        assert_eq!(letter(&l, r, 0, 0x20), 'Z');
        assert_eq!(letter(&l, r, 0x80, 0x10), 'X');
        assert_eq!(letter(&l, r, 0x40, 0), 'P');
        assert_eq!(
            letter(&l, r, 0x100 | 1, 0),
            'S',
            "TASK_WAKEKILL is not reported"
        );
    }
}
