//! kdump-config on the fake roots of `tests/roots/` (see its README): golden
//! output of `status --json`, `check` and `setup --dry-run` for each, and
//! `setup --apply --root` on copies (edits only the copy, keeps backups, a
//! second run changes nothing).
//!
//! Regenerate the goldens with `KDUMP_UPDATE_GOLDEN=1 cargo test -p kdump-examples --test kdump_config`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use kdump_examples::kdump_config::{Host, Output, run};

/// The live parts, fixed: 20 GiB free everywhere, no systemd to ask, and
/// running a command is a test failure.
struct FixedHost;

impl Host for FixedHost {
    fn free_space(&self, _path: &Path) -> Option<u64> {
        Some(20 << 30)
    }
    fn service_active(&self, _unit: &str) -> Option<bool> {
        None
    }
    fn run(&self, command: &str) -> Result<(), String> {
        panic!("a test tried to run `{command}`")
    }
}

/// Every root, the `--keep` its check is run with, and check's exit code.
const ROOTS: &[(&str, &str, i32)] = &[
    ("centos9-no-reservation", "kernel", 1),
    ("centos9-reserved-not-loaded", "kernel", 1),
    ("centos9-loaded", "kernel", 0),
    ("centos9-small-reservation", "kernel", 1),
    ("centos9-nfs-d31", "user-data", 1),
    ("centos9-auto-refused", "kernel", 1),
    ("centos9-high-low", "kernel", 0),
    ("rhel8-auto", "kernel", 0),
    ("rhel10-lockdown", "kernel", 0),
    ("rhel10-lockdown-no-kexec-file", "kernel", 1),
    ("debian12-no-crash-dump", "kernel", 1),
    ("debian12-loaded", "kernel", 0),
    ("ubuntu2404-no-reservation", "kernel", 1),
];

fn roots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/roots")
}

fn tool(root: &Path, args: &[&str]) -> Output {
    let mut argv: Vec<OsString> = vec!["kdump-config".into(), "--root".into(), root.into()];
    argv.extend(args.iter().map(OsString::from));
    run(argv, &FixedHost)
}

fn golden(name: &str, file: &str, actual: &str) {
    let path = roots_dir().join("golden").join(name).join(file);
    let root = roots_dir().join(name);
    assert!(
        !actual.contains(root.to_str().unwrap()) && !actual.contains(env!("CARGO_MANIFEST_DIR")),
        "{name}/{file}: output names a path of this machine:\n{actual}"
    );
    if std::env::var_os("KDUMP_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (KDUMP_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{name}/{file} differs from the golden");
}

#[test]
fn goldens_for_every_root() {
    for &(name, keep, check_code) in ROOTS {
        let root = roots_dir().join(name);

        let status = tool(&root, &["status", "--json"]);
        assert_eq!(status.code, 0, "{name}: status: {}", status.stderr);
        let v: serde_json::Value =
            serde_json::from_str(&status.stdout).expect("status --json is JSON");
        assert!(v.is_object());
        golden(name, "status.json", &status.stdout);

        let check = tool(&root, &["check", "--keep", keep]);
        assert_eq!(check.code, check_code, "{name}: check:\n{}", check.stdout);
        assert!(check.stderr.is_empty(), "{name}: {}", check.stderr);
        golden(name, "check.txt", &check.stdout);

        let setup = tool(&root, &["setup", "--dry-run", "--keep", keep]);
        assert_eq!(setup.code, 0, "{name}: setup: {}", setup.stderr);
        golden(name, "setup-dry-run.txt", &setup.stdout);
    }
}

#[test]
fn status_text_reads_every_root() {
    for &(name, _, _) in ROOTS {
        let out = tool(&roots_dir().join(name), &["status"]);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(out.stdout.starts_with("system:"), "{name}: {}", out.stdout);
        assert!(
            !out.stdout.contains("unreadable:"),
            "{name}: {}",
            out.stdout
        );
    }
}

#[test]
fn status_json_reports_what_the_files_say() {
    let v = |name: &str| -> serde_json::Value {
        serde_json::from_str(&tool(&roots_dir().join(name), &["status", "--json"]).stdout).unwrap()
    };
    let cs9 = v("centos9-no-reservation");
    assert_eq!(cs9["distro"], "rhel9");
    assert_eq!(cs9["ram"], 5_368_179_712u64);
    assert_eq!(cs9["reserved_total"], 0);
    assert_eq!(cs9["crashkernel"]["kind"], "absent");

    let loaded = v("centos9-loaded");
    assert_eq!(loaded["crash_loaded"], true);
    assert_eq!(loaded["reserved_total"], 256u64 << 20);
    assert_eq!(loaded["crashkernel"]["size"], 256u64 << 20);

    let high = v("centos9-high-low");
    assert_eq!(high["crashkernel"]["high"], true);
    assert_eq!(high["crashkernel"]["size"], 512u64 << 20);
    assert_eq!(high["crashkernel"]["low_size"], 256u64 << 20);
    assert_eq!(high["reserved_total"], 768u64 << 20);
    assert_eq!(high["kexec_crash_size"], 512u64 << 20);

    let rhel8 = v("rhel8-auto");
    assert_eq!(rhel8["crashkernel_auto"], true);
    assert_eq!(rhel8["crashkernel"]["size"], 256u64 << 20);
    assert_eq!(
        v("centos9-auto-refused")["crashkernel"]["kind"],
        "malformed"
    );

    let locked = v("rhel10-lockdown-no-kexec-file");
    assert_eq!(locked["lockdown"], "confidentiality");
    assert_eq!(
        locked["kernel_config"]["options"]["KEXEC_FILE"],
        serde_json::Value::Null
    );

    let deb = v("debian12-no-crash-dump");
    assert_eq!(deb["family"], "debian");
    assert_eq!(
        deb["kernel_config"]["missing"],
        serde_json::json!(["CRASH_DUMP", "PROC_VMCORE"])
    );
    assert_eq!(deb["config"]["format"], "kdump-tools");

    let nfs = v("centos9-nfs-d31");
    assert_eq!(nfs["config"]["target"]["kind"], "nfs");
    assert_eq!(nfs["config"]["collector"]["dump_level"], 31);
}

#[test]
fn check_json_agrees_with_the_exit_code() {
    for &(name, keep, code) in ROOTS {
        let out = tool(
            &roots_dir().join(name),
            &["check", "--keep", keep, "--json"],
        );
        assert_eq!(out.code, code, "{name}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["works"], code == 0, "{name}");
    }
}

#[test]
fn keep_changes_what_check_requires() {
    let root = roots_dir().join("centos9-nfs-d31");
    let kernel = tool(&root, &["check", "--keep", "kernel"]);
    assert_eq!(kernel.code, 0, "{}", kernel.stdout);
    for keep in ["page-cache", "user-data", "all"] {
        let out = tool(&root, &["check", "--keep", keep]);
        assert_eq!(out.code, 1, "{keep}");
        assert!(
            out.stdout.contains("[collector-drops-wanted]"),
            "{keep}: {}",
            out.stdout
        );
    }
}

#[test]
fn recommend_and_estimate() {
    let root = roots_dir().join("centos9-small-reservation");
    let out = tool(&root, &["recommend", "--keep", "user-data", "--json"]);
    assert_eq!(out.code, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["crashkernel"], "1G-4G:192M,4G-64G:256M,64G-:512M");
    assert_eq!(v["reservation"]["size"], 256u64 << 20);
    assert_eq!(v["dump_level"], 23);
    assert_eq!(
        v["core_collector"],
        "makedumpfile -l --message-level 7 -d 23"
    );
    // Level 23 keeps kernel and user pages: RAM minus free pages and page cache.
    let ram: u64 = 5_368_179_712;
    let free: u64 = 3_932_160 * 1024;
    let cache: u64 = (512_000 + 20_480) * 1024;
    assert_eq!(v["expected_dump_max"], ram - free - cache);

    let est = tool(&root, &["estimate", "--json"]);
    let e: serde_json::Value = serde_json::from_str(&est.stdout).unwrap();
    assert_eq!(e["reserved"], 128u64 << 20);
    assert_eq!(e["baseline"], 256u64 << 20);
    assert_eq!(e["recommended"], 256u64 << 20);
    let parts = e["parts"].as_array().unwrap();
    let bytes = |name: &str| {
        parts.iter().find(|p| p["name"] == name).unwrap()["bytes"]
            .as_u64()
            .unwrap()
    };
    let kdump_initrd =
        std::fs::metadata(root.join("boot/initramfs-5.14.0-611.el9.x86_64kdump.img"))
            .unwrap()
            .len();
    assert_eq!(bytes("initramfs x3"), 3 * kdump_initrd);
    assert_eq!(
        bytes("kernel modules"),
        2_084_864 + 69_632 + 24_576 + 24_576 + 16_384
    );
    assert_eq!(bytes("runtime"), 16 << 20);
    let text = tool(&root, &["estimate"]).stdout;
    assert!(
        text.starts_with("Reserved crashkernel:    128M\nRecommended crashkernel: 256M\n"),
        "{text}"
    );
    assert!(text.contains("WARNING"), "{text}");
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let meta = p.symlink_metadata().unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, Node::Link(std::fs::read_link(&p).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(base, &p, out);
            } else {
                out.insert(rel, Node::File(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for (rel, node) in snapshot(from) {
        let p = to.join(&rel);
        match node {
            Node::Dir => std::fs::create_dir_all(&p).unwrap(),
            Node::File(data) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, data).unwrap();
            }
            Node::Link(target) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(target, &p).unwrap();
            }
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    // Tests run in parallel: each copy gets its own folder.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "kdump-config-apply-{}-{n}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&roots_dir().join(name), &dir);
    dir
}

/// Applies setup to a copy of `name` and returns (before, after) snapshots.
fn apply_twice(
    name: &str,
    keep: &str,
) -> (PathBuf, BTreeMap<String, Node>, BTreeMap<String, Node>) {
    let dir = scratch(name);
    let pristine = snapshot(&roots_dir().join(name));
    let before = snapshot(&dir);
    assert_eq!(before, pristine);
    let first = tool(&dir, &["setup", "--apply", "--keep", keep]);
    assert_eq!(first.code, 0, "{name}: {}{}", first.stdout, first.stderr);
    let after = snapshot(&dir);
    assert_ne!(before, after, "{name}: the first apply changed nothing");

    let second = tool(&dir, &["setup", "--apply", "--keep", keep]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stdout.starts_with("nothing changed"),
        "{name}: {}",
        second.stdout
    );
    assert_eq!(
        snapshot(&dir),
        after,
        "{name}: the second apply changed files"
    );
    let dry = tool(&dir, &["setup", "--keep", keep]);
    assert!(
        !dry.stdout.contains("\nchanges:\n"),
        "{name}: {}",
        dry.stdout
    );
    // The checked-in root is untouched.
    assert_eq!(snapshot(&roots_dir().join(name)), pristine);
    (dir, before, after)
}

fn changed(before: &BTreeMap<String, Node>, after: &BTreeMap<String, Node>) -> Vec<String> {
    let mut keys: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(before.keys().filter(|k| !after.contains_key(*k)).cloned());
    keys.sort();
    keys
}

#[test]
fn apply_rhel_edits_only_the_root_with_backups() {
    let (dir, before, after) = apply_twice("centos9-reserved-not-loaded", "user-data");
    let entry = "boot/loader/entries/0123456789abcdef0123456789abcdef-5.14.0-611.el9.x86_64.conf";
    // The running value reserves enough, so it is kept; the collector and service change.
    assert_eq!(
        changed(&before, &after),
        [
            "etc/kdump.conf",
            "etc/kdump.conf.kdump-config.bak",
            "etc/systemd/system/multi-user.target.wants",
            "etc/systemd/system/multi-user.target.wants/kdump.service",
        ]
    );
    assert_eq!(
        after["etc/kdump.conf.kdump-config.bak"],
        before["etc/kdump.conf"]
    );
    let Node::File(conf) = &after["etc/kdump.conf"] else {
        panic!()
    };
    let conf = String::from_utf8_lossy(conf);
    assert!(
        conf.contains("\ncore_collector makedumpfile -l --message-level 7 -d 23\n"),
        "{conf}"
    );
    assert_eq!(
        conf.matches("core_collector ").count(),
        1 + conf.matches("#core_collector").count()
    );
    assert_eq!(
        after["etc/systemd/system/multi-user.target.wants/kdump.service"],
        Node::Link("/usr/lib/systemd/system/kdump.service".into())
    );
    assert_eq!(before[entry], after[entry]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn apply_rhel_sets_crashkernel_everywhere_grubby_would() {
    let (dir, before, after) = apply_twice("centos9-no-reservation", "kernel");
    let entry = "boot/loader/entries/0123456789abcdef0123456789abcdef-5.14.0-611.el9.x86_64.conf";
    assert_eq!(
        changed(&before, &after),
        [
            entry.to_string(),
            format!("{entry}.kdump-config.bak"),
            "etc/default/grub".into(),
            "etc/default/grub.kdump-config.bak".into(),
            "etc/kernel/cmdline".into(),
            "etc/kernel/cmdline.kdump-config.bak".into(),
        ]
    );
    for f in [entry, "etc/default/grub", "etc/kernel/cmdline"] {
        let Node::File(text) = &after[f] else {
            panic!()
        };
        let text = String::from_utf8_lossy(text);
        assert_eq!(
            text.matches("crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M")
                .count(),
            1,
            "{f}: {text}"
        );
        assert_eq!(after[&format!("{f}.kdump-config.bak")], before[f]);
    }
    // After the edit, check still wants a reboot: the running kernel reserved nothing.
    let check = tool(&dir, &["check"]);
    assert!(
        check.stdout.contains("[no-reservation]"),
        "{}",
        check.stdout
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn apply_rhel8_edits_kernelopts_in_grubenv() {
    let dir = scratch("rhel8-auto");
    let before = snapshot(&dir);
    let bad = tool(&dir, &["setup", "--apply", "--crashkernel", "16G"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("reserve nothing"), "{}", bad.stderr);
    assert_eq!(snapshot(&dir), before);

    let out = tool(&dir, &["setup", "--apply", "--crashkernel", "512M"]);
    assert_eq!(out.code, 0, "{out:?}");
    let after = snapshot(&dir);
    assert_eq!(
        changed(&before, &after),
        [
            "boot/grub2/grubenv",
            "boot/grub2/grubenv.kdump-config.bak",
            "etc/default/grub",
            "etc/default/grub.kdump-config.bak",
        ]
    );
    let Node::File(env) = &after["boot/grub2/grubenv"] else {
        panic!()
    };
    assert_eq!(env.len(), 1024);
    let env = String::from_utf8_lossy(env);
    assert!(env.contains("\nkernelopts=root=/dev/mapper/cs-root ro resume=/dev/mapper/cs-swap rd.lvm.lv=cs/root rd.lvm.lv=cs/swap crashkernel=512M\n"), "{env}");
    let again = tool(&dir, &["setup", "--apply", "--crashkernel", "512M"]);
    assert!(again.stdout.starts_with("nothing changed"), "{again:?}");
    assert_eq!(snapshot(&dir), after);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn apply_debian_family() {
    let (dir, before, after) = apply_twice("ubuntu2404-no-reservation", "page-cache");
    assert_eq!(
        changed(&before, &after),
        [
            "etc/default/grub.d",
            "etc/default/grub.d/kdump-tools.cfg",
            "etc/default/kdump-tools",
            "etc/systemd/system/multi-user.target.wants",
            "etc/systemd/system/multi-user.target.wants/kdump-tools.service",
        ]
    );
    let Node::File(cfg) = &after["etc/default/grub.d/kdump-tools.cfg"] else {
        panic!()
    };
    assert_eq!(
        String::from_utf8_lossy(cfg),
        "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=2G-4G:320M,4G-32G:512M,32G-64G:1G,64G-128G:2G,128G-:4G\"\n"
    );
    let Node::File(tools) = &after["etc/default/kdump-tools"] else {
        panic!()
    };
    assert_eq!(
        String::from_utf8_lossy(tools),
        "USE_KDUMP=1\nMAKEDUMP_ARGS=\"-c -d 25\"\n"
    );
    let status: serde_json::Value =
        serde_json::from_str(&tool(&dir, &["status", "--json"]).stdout).unwrap();
    assert_eq!(status["config"]["collector"]["dump_level"], 25);
    assert_eq!(status["service"]["enabled"], true);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn apply_refuses_to_follow_links_out_of_the_root() {
    let dir = scratch("centos9-nfs-d31");
    let outside = std::env::temp_dir().join(format!("kdump-config-outside-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("kdump.conf"), "path /x\n").unwrap();
    std::fs::remove_file(dir.join("etc/kdump.conf")).unwrap();
    std::os::unix::fs::symlink(outside.join("kdump.conf"), dir.join("etc/kdump.conf")).unwrap();
    let out = tool(&dir, &["setup", "--apply", "--keep", "all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(outside.join("kdump.conf")).unwrap(),
        "path /x\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(outside).unwrap();
}

#[test]
fn hidden_iomem_falls_back_to_kexec_crash_size_and_meminfo() {
    let dir = scratch("centos9-loaded");
    let iomem = std::fs::read_to_string(dir.join("proc/iomem")).unwrap();
    let zeroed: String = iomem
        .lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            let name = l.split_once(" : ").unwrap().1;
            format!("{}00000000-00000000 : {name}\n", " ".repeat(indent))
        })
        .collect();
    std::fs::write(dir.join("proc/iomem"), zeroed).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&tool(&dir, &["status", "--json"]).stdout).unwrap();
    assert_eq!(v["ram_source"], "proc/meminfo");
    assert_eq!(v["ram"], 5_042_944u64 * 1024);
    assert_eq!(v["reserved_total"], 256u64 << 20);
    assert_eq!(v["reserved"], serde_json::json!([]));
    assert!(
        v["unreadable"][0]
            .as_str()
            .unwrap()
            .contains("addresses hidden")
    );
    let check = tool(&dir, &["check"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn secure_boot_from_efivars() {
    let dir = scratch("centos9-loaded");
    let vars = dir.join("sys/firmware/efi/efivars");
    std::fs::create_dir_all(&vars).unwrap();
    let guid = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
    std::fs::write(vars.join(format!("SecureBoot-{guid}")), [6, 0, 0, 0, 1]).unwrap();
    std::fs::write(vars.join(format!("SetupMode-{guid}")), [6, 0, 0, 0, 0]).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&tool(&dir, &["status", "--json"]).stdout).unwrap();
    assert_eq!(v["secure_boot"], true);
    let check = tool(&dir, &["check"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check.stdout.contains("Secure Boot is enforced [lockdown]"),
        "{}",
        check.stdout
    );
    // In setup mode the keys are not enforced.
    std::fs::write(vars.join(format!("SetupMode-{guid}")), [6, 0, 0, 0, 1]).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&tool(&dir, &["status", "--json"]).stdout).unwrap();
    assert_eq!(v["secure_boot"], false);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn usage_and_read_errors_exit_2() {
    let out = run(
        ["kdump-config", "status", "--bogus"].map(OsString::from),
        &FixedHost,
    );
    assert_eq!(out.code, 2);
    let missing = tool(Path::new("/nonexistent-kdump-config-root"), &["status"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.starts_with("kdump-config: --root"),
        "{}",
        missing.stderr
    );
    let empty = std::env::temp_dir().join(format!("kdump-config-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = tool(&empty, &["check"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("proc/sys/kernel/osrelease"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(empty).unwrap();
}

#[test]
fn the_binary_runs_read_only_commands() {
    let bin = env!("CARGO_BIN_EXE_kdump-config");
    let root = roots_dir().join("centos9-loaded");
    let out = std::process::Command::new(bin)
        .arg("--root")
        .arg(&root)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["crash_loaded"], true);
    let out = std::process::Command::new(bin)
        .arg("--root")
        .arg(roots_dir().join("centos9-no-reservation"))
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// `setup --apply` replaces each edited file by a new one renamed over it: the new file
/// and its backup carry the original's mode and owner (as root, an owner other than root
/// shows that the owner is copied, not left to whoever runs the tool).
#[test]
fn apply_keeps_modes_and_owners_of_edited_files_and_backups() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = scratch("centos9-no-reservation");
    let entry = "boot/loader/entries/0123456789abcdef0123456789abcdef-5.14.0-611.el9.x86_64.conf";
    let root_runs = std::fs::metadata(&dir).unwrap().uid() == 0;
    let files = [
        (entry, 0o600, 0, 0),
        ("etc/default/grub", 0o644, 4242, 4343),
        ("etc/kernel/cmdline", 0o640, 0, 4343),
    ];
    let mut want = Vec::new();
    for (rel, mode, uid, gid) in files {
        let p = dir.join(rel);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        if root_runs {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
        let m = std::fs::metadata(&p).unwrap();
        want.push((rel, m.mode() & 0o7777, m.uid(), m.gid()));
    }
    let out = tool(&dir, &["setup", "--apply", "--keep", "kernel"]);
    assert_eq!(out.code, 0, "{out:?}");
    for (rel, mode, uid, gid) in want {
        for f in [rel.to_string(), format!("{rel}.kdump-config.bak")] {
            let m = std::fs::symlink_metadata(dir.join(&f)).unwrap();
            assert!(m.is_file(), "{f}");
            assert_eq!(
                (m.mode() & 0o7777, m.uid(), m.gid()),
                (mode, uid, gid),
                "{f}: mode {:o}",
                m.mode() & 0o7777
            );
        }
        let text = std::fs::read_to_string(dir.join(rel)).unwrap();
        assert!(text.contains("crashkernel="), "{rel} was not edited");
    }
    // No temporary file is left beside them.
    for d in ["boot/loader/entries", "etc/default", "etc/kernel"] {
        for e in std::fs::read_dir(dir.join(d)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "{d}/{name}");
        }
    }
    // A backup name already taken (here by a link) is skipped, not written through.
    let victim = dir.join("victim");
    std::fs::write(&victim, "keep\n").unwrap();
    let bak = dir.join("etc/kernel/cmdline.kdump-config.bak.1");
    std::os::unix::fs::symlink(&victim, &bak).unwrap();
    let edited = std::fs::read_to_string(dir.join("etc/kernel/cmdline")).unwrap();
    let again = tool(
        &dir,
        &[
            "setup",
            "--apply",
            "--crashkernel",
            "512M",
            "--keep",
            "kernel",
        ],
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
    assert!(
        std::fs::symlink_metadata(&bak)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let bak2 = dir.join("etc/kernel/cmdline.kdump-config.bak.2");
    assert_eq!(std::fs::read_to_string(&bak2).unwrap(), edited);
    assert_eq!(
        std::fs::metadata(&bak2).unwrap().mode() & 0o7777,
        0o640,
        "the second backup"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// ssh refuses a private key that group or others can access; check says so, on both
/// families, and is quiet for a 0600 key.
#[test]
fn check_flags_an_ssh_key_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    for (name, config, line, key) in [
        (
            "centos9-loaded",
            "etc/kdump.conf",
            "ssh kdump@backup.example.com\nsshkey /root/.ssh/kdump_id_rsa\n",
            "root/.ssh/kdump_id_rsa",
        ),
        (
            "debian12-loaded",
            "etc/default/kdump-tools",
            "SSH=\"kdump@backup.example.com\"\nSSH_KEY=/root/.ssh/dump_key\n",
            "root/.ssh/dump_key",
        ),
        (
            // No sshkey line: kdumpctl's default key.
            "centos9-loaded",
            "etc/kdump.conf",
            "ssh kdump@backup.example.com\n",
            "root/.ssh/kdump_id_rsa",
        ),
    ] {
        let dir = scratch(name);
        let conf = dir.join(config);
        // An ssh target needs makedumpfile -F on kdump-utils (mkdumprd refuses it otherwise).
        let mut text = std::fs::read_to_string(&conf).unwrap().replace(
            "core_collector makedumpfile -l",
            "core_collector makedumpfile -F -l",
        );
        text.push_str(line);
        std::fs::write(&conf, text).unwrap();
        let key_path = dir.join(key);
        std::fs::create_dir_all(key_path.parent().unwrap()).unwrap();
        std::fs::write(&key_path, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = tool(&dir, &["check"]);
        assert_eq!(open.code, 1, "{name}: {}", open.stdout);
        assert!(
            open.stdout.contains(&format!(
                "the ssh key /{key} is open to group or others (mode 0644) [sshkey-exposed]"
            )),
            "{name}: {}",
            open.stdout
        );
        assert!(
            open.stdout.contains(&format!("fix:   chmod 600 /{key}")),
            "{}",
            open.stdout
        );
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let private = tool(&dir, &["check"]);
        assert!(
            !private.stdout.contains("sshkey-exposed"),
            "{name}: {}",
            private.stdout
        );
        assert_eq!(private.code, 0, "{name}: {}", private.stdout);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// kdump-utils' mkdumprd refuses an ssh or raw target whose collector is `makedumpfile`
/// without `-F`, and its capture script adds or removes `-F` only for collectors named
/// makedumpfile (`mkdumprd` `verify_core_collector`, `dracut/99kdumpbase/kdump.sh`); check
/// says what would fail, and setup writes `-F` where the target needs it. kdump-tools adds
/// `-F` itself (`kdump-config`), so Debian's ssh target needs nothing.
#[test]
fn stream_targets_need_the_flattened_collector_kdump_utils_wants() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "ssh kdump@backup.example.com",
            "makedumpfile -l --message-level 7 -d 31",
            Some("collector-needs-flattened"),
        ),
        (
            "raw /dev/vdb1",
            "makedumpfile -l -d 31",
            Some("collector-needs-flattened"),
        ),
        (
            "ssh kdump@backup.example.com",
            "vmcore-capture -z -d 31",
            Some("collector-needs-flattened"),
        ),
        (
            "raw /dev/vdb1",
            "/usr/bin/vmcore-capture -z -d 31",
            Some("collector-needs-flattened"),
        ),
        (
            "ssh kdump@backup.example.com",
            "makedumpfile -F -l --message-level 7 -d 31",
            None,
        ),
        // mkdumprd checks only the word "makedumpfile"; kdump.sh adds -F to this one.
        (
            "ssh kdump@backup.example.com",
            "/usr/sbin/makedumpfile -l -d 31",
            None,
        ),
        (
            "ssh kdump@backup.example.com",
            "vmcore-capture -F -z -d 31",
            None,
        ),
        // A file target: kdump.sh removes -F from makedumpfile, not from vmcore-capture.
        ("", "makedumpfile -F -l -d 31", None),
        (
            "",
            "vmcore-capture -F -z -d 31",
            Some("collector-flattened-to-file"),
        ),
        ("", "vmcore-capture -z -d 11,31", None),
    ];
    for &(target, collector, finding) in cases {
        let dir = scratch("centos9-loaded");
        let conf = dir.join("etc/kdump.conf");
        let text = std::fs::read_to_string(&conf).unwrap().replace(
            "core_collector makedumpfile -l --message-level 7 -d 31",
            &format!("core_collector {collector}\n{target}"),
        );
        std::fs::write(&conf, text).unwrap();
        let out = tool(&dir, &["check"]);
        match finding {
            Some(id) => {
                assert_eq!(out.code, 1, "{target} / {collector}: {}", out.stdout);
                assert!(
                    out.stdout.contains(&format!(
                        "the collector does not match the dump target [{id}]"
                    )),
                    "{target} / {collector}: {}",
                    out.stdout
                );
                assert!(out.stdout.contains(collector), "{}", out.stdout);
            }
            None => {
                assert_eq!(out.code, 0, "{target} / {collector}: {}", out.stdout);
                assert!(!out.stdout.contains("collector-"), "{}", out.stdout);
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    // setup writes -F for ssh and raw targets, for either collector, and check then passes.
    for (target, program, wanted) in [
        (
            "ssh kdump@backup.example.com",
            "vmcore-capture",
            "vmcore-capture -F -z -d 31",
        ),
        (
            "raw /dev/vdb1",
            "vmcore-capture",
            "vmcore-capture -F -z -d 31",
        ),
        (
            "ssh kdump@backup.example.com",
            "makedumpfile",
            "makedumpfile -F -l --message-level 7 -d 31",
        ),
        ("", "vmcore-capture", "vmcore-capture -z -d 31"),
    ] {
        let dir = scratch("centos9-loaded");
        let conf = dir.join("etc/kdump.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        std::fs::write(&conf, format!("{text}{target}\n")).unwrap();
        let applied = tool(&dir, &["setup", "--apply", "--collector", program]);
        assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
        let after = std::fs::read_to_string(&conf).unwrap();
        assert!(
            after
                .lines()
                .any(|l| l == format!("core_collector {wanted}")),
            "{target} / {program}:\n{after}"
        );
        let out = tool(&dir, &["check"]);
        assert_eq!(out.code, 0, "{target} / {program}: {}", out.stdout);
        let again = tool(&dir, &["setup", "--apply", "--collector", program]);
        assert!(
            again.stdout.starts_with("nothing changed"),
            "{}",
            again.stdout
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    // Debian: kdump-tools appends -F to MAKEDUMP_ARGS itself; no finding, no -F written.
    let dir = scratch("debian12-loaded");
    let conf = dir.join("etc/default/kdump-tools");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}SSH=\"kdump@backup.example.com\"\n")).unwrap();
    let out = tool(&dir, &["check"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let plan = tool(&dir, &["setup", "--keep", "page-cache"]);
    assert!(
        plan.stdout.contains("MAKEDUMP_ARGS=\"-c -d 25\""),
        "{}",
        plan.stdout
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `setup --crashkernel` refuses a value the kernel would reserve nothing with, also one
/// that parses but finds no room in the RAM `proc/iomem` shows (this guest has under 3 GiB
/// below 4 GiB and 2 GiB above it: 3G parses, being below its 5 GiB, but fits nowhere).
#[test]
fn setup_refuses_a_crashkernel_that_cannot_be_placed() {
    let root = roots_dir().join("centos9-loaded");
    let out = tool(&root, &["setup", "--crashkernel", "3G"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("--crashkernel 3G: this kernel would reserve nothing with it")
            && out
                .stderr
                .contains("cannot be placed in the RAM proc/iomem shows"),
        "{}",
        out.stderr
    );
    let out = tool(&root, &["setup", "--crashkernel", "1G"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("crashkernel=1G"), "{}", out.stdout);
}
