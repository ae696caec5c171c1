//! Real dumps made by `cargo xtask fixtures` (QEMU and a real kdump, x86_64 and arm64, in
//! every format), judged against drgn 0.3.0 with the kernel's `-dbg` vmlinux: the JSON files
//! in `tests/oracle/` are what `tests/oracle/drgn_oracle.py` wrote for each dump (see the
//! crate README for how to regenerate them). Enabled by the `fixture-tests` feature; reads
//! `$KDUMP_FIXTURES` and fails when it is unset or a listed file is missing.
#![cfg(feature = "fixture-tests")]

use std::path::{Path, PathBuf};

use serde_json::Value;
use vmcore_introspect::Kallsyms;
use vmcore_reader::{Dump, Kernel};

fn root() -> PathBuf {
    PathBuf::from(
        std::env::var_os("KDUMP_FIXTURES")
            .expect("KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures)"),
    )
}

fn json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `(kind, path)` of each file of a dump.
type Files = Vec<(String, PathBuf)>;

/// `(dump name, oracle, every file of the dump)`.
fn dumps() -> Vec<(String, Value, Files)> {
    let m = json(&root().join("manifest.json"));
    let mut out = Vec::new();
    for d in m["dumps"].as_array().expect("dumps array") {
        let name = d["name"].as_str().expect("name").to_owned();
        let oracle = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/oracle")
            .join(format!("{name}.json"));
        assert!(
            oracle.exists(),
            "no oracle for fixture dump {name}: run tests/oracle/drgn_oracle.py (README)"
        );
        let o = json(&oracle);
        let made_from = o["dump"].as_str().expect("oracle dump");
        let listed = d["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["path"].as_str() == Some(made_from))
            .unwrap_or_else(|| {
                panic!("{name}: the oracle's dump {made_from} is not in the manifest")
            });
        assert_eq!(
            listed["size"], o["dump_size"],
            "{name}: {made_from} was remade since its oracle was written: rerun tests/oracle/drgn_oracle.py (README)"
        );
        let files = d["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| {
                let path = root().join(f["path"].as_str().expect("path"));
                assert!(path.exists(), "fixture file missing: {}", path.display());
                (f["kind"].as_str().expect("kind").to_owned(), path)
            })
            .collect();
        out.push((name, o, files));
    }
    assert!(!out.is_empty(), "the manifest lists no dumps");
    out
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

#[test]
fn kallsyms_matches_the_vmlinux_symbols_on_every_dump_file() {
    for (name, oracle, files) in dumps() {
        let want = oracle["symbols"].as_array().expect("symbols");
        assert!(
            want.len() >= 250,
            "{name}: oracle has {} symbols",
            want.len()
        );
        for (kind, path) in files {
            let dump = Dump::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let k = Kernel::new(&dump).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let ks =
                Kallsyms::from_kernel(&k).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut agree = 0;
            let mut wrong = Vec::new();
            for s in want {
                let sym = s["name"].as_str().unwrap();
                let addr = s["address"].as_u64().unwrap();
                let link = s["link_address"].as_u64().unwrap();
                match ks.lookup(sym) {
                    Some(ours) if ours.address == addr && ks.link_address(ours) == link => {
                        agree += 1;
                        // And back: the address names this symbol (or an alias at it).
                        let at = ks.locate(addr).expect("located");
                        assert_eq!(at.offset, 0, "{name} {kind} {sym}");
                        assert_eq!(at.symbol.address, addr);
                    }
                    Some(ours) => wrong.push(format!(
                        "{sym}: ours {} (link {}), drgn {} (link {})",
                        hex(ours.address),
                        hex(ks.link_address(ours)),
                        hex(addr),
                        hex(link)
                    )),
                    None => wrong.push(format!("{sym}: not in our kallsyms")),
                }
            }
            eprintln!(
                "{name} {kind}: kallsyms {} symbols, {agree}/{} agree with drgn+vmlinux",
                ks.symbols().len(),
                want.len()
            );
            assert!(wrong.is_empty(), "{name} {kind}: {wrong:#?}");
        }
    }
}

#[test]
fn ps_matches_drgn_on_every_dump_file() {
    use vmcore_introspect::{Btf, Error, TaskWalker};
    for (name, oracle, files) in dumps() {
        let want = oracle["tasks"].as_array().expect("tasks");
        assert!(want.len() >= 40, "{name}: oracle has {} tasks", want.len());
        for (kind, path) in files {
            let dump = Dump::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let k = Kernel::new(&dump).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let ks =
                Kallsyms::from_kernel(&k).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let btf =
                Btf::from_kernel(&k, &ks).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let walker = TaskWalker::for_kernel(&k, &ks, &btf).expect("walker");
            let ours = walker
                .walk(&btf)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut agree = 0;
            let mut wrong = Vec::new();
            for w in want {
                let task = w["task"].as_u64().unwrap();
                let Some(t) = ours.iter().find(|t| t.address == task) else {
                    wrong.push(format!("task {task:#x} ({w}) not in ours"));
                    continue;
                };
                let got = serde_json::json!({
                    "pid": t.pid, "ppid": t.ppid, "cpu": t.cpu, "task": t.address,
                    "state": t.state.to_string(), "comm": t.comm,
                });
                if &got == w {
                    agree += 1;
                } else {
                    wrong.push(format!("ours {got} drgn {w}"));
                }
            }
            if ours.len() != want.len() {
                wrong.push(format!(
                    "ours lists {} tasks, drgn {}",
                    ours.len(),
                    want.len()
                ));
            }
            eprintln!(
                "{name} {kind}: ps {agree}/{} tasks agree with drgn",
                want.len()
            );
            assert!(wrong.is_empty(), "{name} {kind}: {wrong:#?}");
            // Exactly one running task per online CPU is marked active. Kernels without
            // CONFIG_KALLSYMS_ALL (Debian's arm64) lack the per-CPU symbols: none then.
            let active = ours.iter().filter(|t| t.active).count();
            match walker.cpus(&btf) {
                Ok(cpus) => assert_eq!(active, cpus.len(), "{name} {kind}"),
                Err(Error::Missing { what, .. }) if name.starts_with("arm64") => {
                    assert!(what.contains("__cpu_online_mask"), "{what}");
                    assert_eq!(active, 0);
                }
                Err(e) => panic!("{name} {kind}: {e}"),
            }
        }
    }
}

#[test]
fn modules_match_drgn_on_every_dump_file() {
    use vmcore_introspect::{Btf, modules};
    for (name, oracle, files) in dumps() {
        let want = oracle["modules"].as_array().expect("modules");
        assert!(!want.is_empty(), "{name}: oracle has no modules");
        for (kind, path) in files {
            let dump = Dump::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let k = Kernel::new(&dump).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let ks =
                Kallsyms::from_kernel(&k).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let btf =
                Btf::from_kernel(&k, &ks).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let ours = modules(&k, &ks, &btf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let got: Vec<Value> = ours
                .iter()
                .map(|m| {
                    serde_json::json!({"name": m.name, "module": m.address, "base": m.base, "size": m.size})
                })
                .collect();
            assert_eq!(&got, want, "{name} {kind}");
            eprintln!(
                "{name} {kind}: mod {}/{} modules agree with drgn",
                got.len(),
                want.len()
            );
        }
    }
}
