//! The sysfs readers on fake trees.

use std::path::{Path, PathBuf};

use kexec_sys::{CrashNotes, Error, KexecSysfs, VmcoreinfoLocation};

struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let p = std::env::temp_dir().join(format!("kexec-sys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tree(p)
    }
    fn file(&self, rel: &str, text: &str) -> &Self {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }
    fn root(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn full_tree() {
    let t = Tree::new("full");
    t.file("sys/kernel/kexec_loaded", "0\n")
        .file("sys/kernel/kexec_crash_loaded", "1\n")
        .file("sys/kernel/kexec_crash_size", "268435456\n")
        .file("sys/kernel/crash_elfcorehdr_size", "69632\n")
        .file("sys/kernel/vmcoreinfo", "0x000000023fe1c000 1024\n")
        .file("sys/devices/system/cpu/cpu0/crash_notes", "23fc1c400\n")
        .file("sys/devices/system/cpu/cpu0/crash_notes_size", "408\n")
        .file("sys/devices/system/cpu/cpu10/crash_notes", "23fc9c400\n")
        .file("sys/devices/system/cpu/cpu10/crash_notes_size", "408\n")
        .file("sys/devices/system/cpu/cpu2/crash_notes", "23fc3c400\n")
        .file("sys/devices/system/cpu/cpufreq/boost", "1\n")
        .file("sys/devices/system/cpu/crash_hotplug", "1\n")
        .file("sys/devices/system/memory/crash_hotplug", "0\n")
        .file("proc/sys/kernel/kexec_load_disabled", "0\n")
        .file(
            "sys/kernel/security/lockdown",
            "none [integrity] confidentiality\n",
        );
    let s = KexecSysfs::new(t.root());
    let st = s.status().unwrap();
    assert!(!st.loaded);
    assert!(st.crash_loaded);
    assert_eq!(st.crash_size, 256 << 20);
    assert_eq!(st.elfcorehdr_size, Some(69632));
    assert_eq!(
        s.vmcoreinfo().unwrap(),
        VmcoreinfoLocation {
            paddr: 0x23fe1c000,
            size: 0x1024
        }
    );
    assert_eq!(
        s.crash_notes().unwrap(),
        vec![
            CrashNotes {
                cpu: 0,
                paddr: 0x23fc1c400,
                size: Some(408)
            },
            CrashNotes {
                cpu: 2,
                paddr: 0x23fc3c400,
                size: None
            },
            CrashNotes {
                cpu: 10,
                paddr: 0x23fc9c400,
                size: Some(408)
            },
        ]
    );
    let hp = s.crash_hotplug().unwrap();
    assert_eq!((hp.cpu, hp.memory), (Some(true), Some(false)));
    assert_eq!(s.kexec_load_disabled().unwrap(), Some(false));
    assert_eq!(s.lockdown().unwrap(), Some(kexec_sys::Lockdown::Integrity));
}

#[test]
fn optional_files_absent() {
    let t = Tree::new("minimal");
    t.file("sys/kernel/kexec_loaded", "1\n")
        .file("sys/kernel/kexec_crash_loaded", "0\n")
        .file("sys/kernel/kexec_crash_size", "0\n")
        .file("sys/devices/system/cpu/online", "0\n");
    let s = KexecSysfs::new(t.root());
    let st = s.status().unwrap();
    assert!(st.loaded && !st.crash_loaded);
    assert_eq!(st.elfcorehdr_size, None);
    assert!(s.crash_notes().unwrap().is_empty());
    assert_eq!(s.crash_hotplug().unwrap().cpu, None);
    assert_eq!(s.kexec_load_disabled().unwrap(), None);
    assert_eq!(s.lockdown().unwrap(), None);
}

#[test]
fn errors_name_the_file() {
    let t = Tree::new("bad");
    t.file("sys/kernel/kexec_crash_size", "lots\n")
        .file("sys/kernel/kexec_loaded", "yes\n")
        .file("sys/kernel/vmcoreinfo", "0x1000\n");
    let s = KexecSysfs::new(t.root());
    match s.kexec_crash_size() {
        Err(Error::Parse { path, text, .. }) => {
            assert!(path.ends_with("sys/kernel/kexec_crash_size"));
            assert_eq!(text, "lots");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.kexec_loaded(), Err(Error::Parse { .. })));
    assert!(matches!(s.vmcoreinfo(), Err(Error::Parse { .. })));
    match s.kexec_crash_loaded() {
        Err(Error::Io { path, source }) => {
            assert!(path.ends_with("sys/kernel/kexec_crash_loaded"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    let msg = s.kexec_crash_size().unwrap_err().to_string();
    assert!(
        msg.contains("kexec_crash_size") && msg.contains("lots"),
        "{msg}"
    );
}

#[test]
fn crash_size_write_then_read() {
    let t = Tree::new("write");
    t.file("sys/kernel/kexec_crash_size", "268435456\n");
    let s = KexecSysfs::new(t.root());
    s.set_kexec_crash_size(128 << 20).unwrap();
    assert_eq!(s.kexec_crash_size().unwrap(), 128 << 20);
    assert_eq!(
        std::fs::read_to_string(t.root().join("sys/kernel/kexec_crash_size")).unwrap(),
        "134217728\n"
    );
}
