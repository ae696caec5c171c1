//! BTF blobs and task lists built here, then corrupted: a cyclic or endless list, a
//! typedef loop, any byte of the BTF changed. Errors, never a panic or a hang.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test blobs are built from small constants"
)]

use proptest::prelude::*;
use vmcore_introspect::tasks::list_nodes;
use vmcore_introspect::{Btf, ByteOrder, Error, FlatMemory};

/// A little-endian BTF blob: `types` are (kind, name, size_or_type, vlen, extra bytes).
fn blob(strings: &[&str], types: &[(u32, u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut str_sec = vec![0u8];
    for s in strings {
        str_sec.extend_from_slice(s.as_bytes());
        str_sec.push(0);
    }
    let mut ty = Vec::new();
    for (kind, name, st, vlen, extra) in types {
        ty.extend_from_slice(&name.to_le_bytes());
        ty.extend_from_slice(&((kind << 24) | vlen).to_le_bytes());
        ty.extend_from_slice(&st.to_le_bytes());
        ty.extend_from_slice(extra);
    }
    let mut b = vec![0x9f, 0xeb, 1, 0];
    b.extend_from_slice(&24u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(ty.len() as u32).to_le_bytes());
    b.extend_from_slice(&(ty.len() as u32).to_le_bytes());
    b.extend_from_slice(&(str_sec.len() as u32).to_le_bytes());
    b.extend(ty);
    b.extend(str_sec);
    b
}

fn off(s: &[&str], name: &str) -> u32 {
    let mut o = 1u32;
    for x in s {
        if *x == name {
            return o;
        }
        o += x.len() as u32 + 1;
    }
    panic!("{name}")
}

fn members(list: &[(u32, u32, u32)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (name, ty, bits) in list {
        v.extend_from_slice(&name.to_le_bytes());
        v.extend_from_slice(&ty.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
    }
    v
}

const STRS: &[&str] = &[
    "int",
    "task_struct",
    "thread_info",
    "cpu",
    "pid",
    "comm",
    "char",
    "pid_t",
];

/// 1 int, 2 struct thread_info { int cpu; }, 3 char, 4 char[16], 5 typedef pid_t,
/// 6 struct task_struct { thread_info; anonymous { pid_t pid }; char comm[16] @ 0x20 },
/// 7 the anonymous struct.
fn sample() -> Vec<u8> {
    let s = |n| off(STRS, n);
    let mut arr = Vec::new();
    for v in [3u32, 1, 16] {
        arr.extend_from_slice(&v.to_le_bytes());
    }
    blob(
        STRS,
        &[
            (1, s("int"), 4, 0, 0x0100_0020u32.to_le_bytes().to_vec()),
            (4, s("thread_info"), 8, 1, members(&[(s("cpu"), 1, 32)])),
            (1, s("char"), 1, 0, 0x0000_0008u32.to_le_bytes().to_vec()),
            (3, 0, 0, 0, arr),
            (8, s("pid_t"), 1, 0, vec![]),
            (
                4,
                s("task_struct"),
                0x40,
                3,
                members(&[
                    (s("thread_info"), 2, 0),
                    (0, 7, 0x80),
                    (s("comm"), 4, 0x100),
                ]),
            ),
            (4, 0, 8, 1, members(&[(s("pid"), 5, 32)])),
        ],
    )
}

#[test]
fn member_paths_through_typedefs_and_anonymous_structs() {
    let b = Btf::parse(sample(), 8).unwrap();
    assert_eq!(b.type_count(), 7);
    assert_eq!(
        b.member("task_struct", "thread_info.cpu").unwrap().offset,
        4
    );
    let pid = b.member("task_struct", "pid").unwrap();
    assert_eq!((pid.offset, pid.size), (0x14, 4));
    let comm = b.member("task_struct", "comm").unwrap();
    assert_eq!((comm.offset, comm.size), (0x20, 16));
    assert_eq!(b.struct_size("task_struct").unwrap(), 0x40);
    assert!(matches!(
        b.member("task_struct", "state"),
        Err(Error::Missing { .. })
    ));
    assert!(matches!(b.member("rq", "idle"), Err(Error::Missing { .. })));
}

#[test]
fn typedef_loop_and_bad_headers_are_errors() {
    let s = |n| off(STRS, n);
    let looped = blob(
        STRS,
        &[(8, s("pid_t"), 2, 0, vec![]), (8, s("pid_t"), 1, 0, vec![])],
    );
    let b = Btf::parse(looped, 8).unwrap();
    assert!(matches!(b.size_of(1), Err(Error::Btf(_))));
    let mut bad = sample();
    bad[0] = 0;
    assert!(matches!(Btf::parse(bad, 8), Err(Error::Btf(_))));
    let mut bad = sample();
    bad[12..16].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    assert!(matches!(Btf::parse(bad, 8), Err(Error::Btf(_))));
    assert!(matches!(Btf::parse(vec![0x9f], 8), Err(Error::Btf(_))));
}

const BASE: u64 = 0xffff_8880_0000_0000;

fn ring(next: &[u64]) -> FlatMemory {
    // Node i at BASE + 16 * i; next[i] is the index of its successor.
    let mut bytes = Vec::new();
    for &n in next {
        bytes.extend_from_slice(&(BASE + 16 * n).to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
    }
    FlatMemory {
        base: BASE,
        bytes,
        order: ByteOrder::Little,
    }
}

#[test]
fn lists_cycles_and_lengths() {
    let m = ring(&[1, 2, 3, 0]);
    assert_eq!(
        list_nodes(&m, "l", BASE, 10).unwrap(),
        vec![BASE + 16, BASE + 32, BASE + 48]
    );
    // 0 -> 1 -> 2 -> 3 -> 1: a cycle that never returns to the head.
    let m = ring(&[1, 2, 3, 1]);
    assert!(matches!(
        list_nodes(&m, "l", BASE, 10),
        Err(Error::Cycle { node, .. }) if node == BASE + 16
    ));
    let m = ring(&[1, 2, 3, 0]);
    assert!(matches!(
        list_nodes(&m, "l", BASE, 2),
        Err(Error::TooLong { limit: 2, .. })
    ));
    // A pointer out of the dump.
    let mut m = ring(&[1, 0]);
    m.bytes[16..24].copy_from_slice(&0x1234u64.to_le_bytes());
    assert!(matches!(
        list_nodes(&m, "l", BASE, 10),
        Err(Error::Read { vaddr: 0x1234, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_btf_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = sample();
        for (i, v) in edits {
            let at = i.index(b.len());
            b[at] = v;
        }
        if let Ok(btf) = Btf::parse(b, 8) {
            for p in ["thread_info.cpu", "pid", "comm", "x.y"] {
                let _ = btf.member("task_struct", p);
            }
            for id in 0..10 {
                let _ = btf.size_of(id);
            }
        }
    }

    #[test]
    fn random_lists_end_or_fail(next in proptest::collection::vec(0u64..12, 1..12), limit in 0u64..20) {
        let m = ring(&next);
        if let Ok(v) = list_nodes(&m, "l", BASE, limit) {
            prop_assert!(v.len() as u64 <= limit);
        }
    }
}

#[test]
fn a_path_through_an_array_member_is_its_first_element() {
    // 1 int, 2 struct mm { int base; int size; }, 3 mm[3], 4 struct module { int x; mm mem[3] @ 8 }.
    let strs: &[&str] = &["int", "mm", "base", "size", "module", "x", "mem"];
    let s = |n| off(strs, n);
    let mut arr = Vec::new();
    for v in [2u32, 1, 3] {
        arr.extend_from_slice(&v.to_le_bytes());
    }
    let b = blob(
        strs,
        &[
            (1, s("int"), 4, 0, 0x0100_0020u32.to_le_bytes().to_vec()),
            (
                4,
                s("mm"),
                8,
                2,
                members(&[(s("base"), 1, 0), (s("size"), 1, 32)]),
            ),
            (3, 0, 0, 0, arr),
            (
                4,
                s("module"),
                32,
                2,
                members(&[(s("x"), 1, 0), (s("mem"), 3, 64)]),
            ),
        ],
    );
    let b = Btf::parse(b, 8).unwrap();
    assert_eq!(b.member("module", "mem").unwrap().size, 24);
    assert_eq!(b.member("module", "mem.size").unwrap().offset, 12);
}

/// struct list_head { next; prev } (2), struct task_struct (3) with tasks @0, thread_group
/// @0x10, pid @0x20, __state @0x24, exit_state @0x28, real_parent @0x30, comm[16] @0x38.
fn task_btf() -> Btf {
    let strs: &[&str] = &[
        "int",
        "list_head",
        "next",
        "prev",
        "task_struct",
        "tasks",
        "thread_group",
        "pid",
        "__state",
        "exit_state",
        "real_parent",
        "comm",
        "char",
    ];
    let s = |n| off(strs, n);
    let mut arr = Vec::new();
    for v in [6u32, 1, 16] {
        arr.extend_from_slice(&v.to_le_bytes());
    }
    let b = blob(
        strs,
        &[
            (1, s("int"), 4, 0, 0x0100_0020u32.to_le_bytes().to_vec()),
            (
                4,
                s("list_head"),
                16,
                2,
                members(&[(s("next"), 4, 0), (s("prev"), 4, 64)]),
            ),
            (
                4,
                s("task_struct"),
                0x48,
                7,
                members(&[
                    (s("tasks"), 2, 0),
                    (s("thread_group"), 2, 0x80),
                    (s("pid"), 1, 0x100),
                    (s("__state"), 1, 0x120),
                    (s("exit_state"), 1, 0x140),
                    (s("real_parent"), 5, 0x180),
                    (s("comm"), 7, 0x1c0),
                ]),
            ),
            (2, 0, 2, 0, vec![]),
            (2, 0, 3, 0, vec![]),
            (1, s("char"), 1, 0, 0x0000_0008u32.to_le_bytes().to_vec()),
            (3, 0, 0, 0, arr),
        ],
    );
    Btf::parse(b, 8).unwrap()
}

/// Tasks at BASE + 0x100 * i; `next[i]` is the task whose `tasks` follows task i's.
fn task_memory(next: &[u64]) -> FlatMemory {
    let mut bytes = vec![0u8; 0x100 * next.len()];
    for (i, &n) in next.iter().enumerate() {
        let t = 0x100 * i;
        let me = BASE + 0x100 * i as u64;
        bytes[t..t + 8].copy_from_slice(&(BASE + 0x100 * n).to_le_bytes());
        // thread_group: a ring of one (the task itself).
        bytes[t + 0x10..t + 0x18].copy_from_slice(&(me + 0x10).to_le_bytes());
        bytes[t + 0x20..t + 0x24].copy_from_slice(&(i as u32).to_le_bytes());
        bytes[t + 0x24..t + 0x28].copy_from_slice(&1u32.to_le_bytes());
        bytes[t + 0x30..t + 0x38].copy_from_slice(&BASE.to_le_bytes());
        bytes[t + 0x38..t + 0x3e].copy_from_slice(b"task-\0");
        bytes[t + 0x3d] = b'0' + i as u8;
    }
    FlatMemory {
        base: BASE,
        bytes,
        order: ByteOrder::Little,
    }
}

#[test]
fn the_task_walk_reads_tasks_and_stops_on_a_cyclic_list() {
    use vmcore_introspect::{Kallsyms, Symbol, TaskWalker};
    let btf = task_btf();
    let syms = Kallsyms::from_symbols(vec![Symbol {
        name: "init_task".into(),
        kind: 'D',
        address: BASE,
    }]);
    let mem = task_memory(&[1, 2, 0]);
    let w = TaskWalker::new(&mem, &syms, &btf, 100).unwrap();
    let tasks = w.walk(&btf).unwrap();
    let got: Vec<(i64, i64, char, &str)> = tasks
        .iter()
        .map(|t| (t.pid, t.ppid, t.state, t.comm.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 0, 'S', "task-0"),
            (1, 0, 'S', "task-1"),
            (2, 0, 'S', "task-2")
        ]
    );
    // 0 -> 1 -> 2 -> 1: the walk ends with an error naming the node met twice.
    let mem = task_memory(&[1, 2, 1]);
    let w = TaskWalker::new(&mem, &syms, &btf, 100).unwrap();
    assert!(matches!(w.walk(&btf), Err(Error::Cycle { node, .. }) if node == BASE + 0x100));
    // More tasks than the bound (what the dump could hold).
    let mem = task_memory(&[1, 2, 3, 4, 0]);
    let w = TaskWalker::new(&mem, &syms, &btf, 3).unwrap();
    assert!(matches!(w.walk(&btf), Err(Error::TooLong { limit: 3, .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any task list (links anywhere, bytes changed): tasks or an error, never a panic or hang.
    #[test]
    fn random_task_lists_never_panic(
        next in proptest::collection::vec(0u64..8, 1..8),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        use vmcore_introspect::{Kallsyms, Symbol, TaskWalker};
        let btf = task_btf();
        let syms = Kallsyms::from_symbols(vec![Symbol { name: "init_task".into(), kind: 'D', address: BASE }]);
        let mut mem = task_memory(&next);
        for (i, v) in edits {
            let at = i.index(mem.bytes.len());
            mem.bytes[at] = v;
        }
        let w = TaskWalker::new(&mem, &syms, &btf, 64).unwrap();
        if let Ok(t) = w.walk(&btf) {
            prop_assert!(t.len() <= 64);
        }
    }
}

#[test]
fn shared_thread_rings_share_one_budget() {
    use vmcore_introspect::{Kallsyms, Symbol, TaskWalker};
    // Every process's thread_group points into one ring through all five tasks: each walk
    // would find all of them; the second exceeds what is left of the bound.
    let btf = task_btf();
    let syms = Kallsyms::from_symbols(vec![Symbol {
        name: "init_task".into(),
        kind: 'D',
        address: BASE,
    }]);
    let mut mem = task_memory(&[1, 2, 3, 4, 0]);
    for i in 0..5usize {
        let next = BASE + 0x100 * ((i as u64 + 1) % 5) + 0x10;
        mem.bytes[0x100 * i + 0x10..0x100 * i + 0x18].copy_from_slice(&next.to_le_bytes());
    }
    let w = TaskWalker::new(&mem, &syms, &btf, 8).unwrap();
    assert!(matches!(w.walk(&btf), Err(Error::TooLong { .. })));
}
