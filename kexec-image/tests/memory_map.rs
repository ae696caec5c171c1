//! The memory-map readers on recorded and fake inputs.
//!
//! `tests/data/iomem-*.txt` are `/proc/iomem` as recorded (as root) in the
//! QEMU guests of `cargo xtask fixtures`: a 1 GiB x86_64 guest booted with
//! `crashkernel=256M`, and a 512 MiB arm64 guest.

use std::path::{Path, PathBuf};

use kexec_image::{Iomem, MemRange, read_firmware_memmap};

fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap()
}

#[test]
fn recorded_x86_64_kdump_guest() {
    let m = Iomem::parse(&data("iomem-x86_64-kdump-1G.txt")).unwrap();
    assert_eq!(
        m.crash_regions(),
        vec![MemRange {
            start: 0x2e00_0000,
            end: 0x3dff_ffff
        }]
    );
    assert_eq!(m.crash_size(), 256 << 20);
    // 00001000-0009fbff and 00100000-3ffd6fff.
    assert_eq!(m.total_system_ram(), 0x9_ec00 + 0x3fed_7000);
    let names: Vec<String> = m.kernel_image().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["Kernel code", "Kernel rodata", "Kernel data", "Kernel bss"]
    );
    // The crash region and the kernel image both nest in the second RAM range.
    let ram = m.system_ram();
    assert_eq!(ram.len(), 2);
    let crash = m.crash_regions()[0];
    assert!(crash.start >= ram[1].start && crash.end <= ram[1].end);
}

#[test]
fn recorded_arm64_guest() {
    let m = Iomem::parse(&data("iomem-arm64-512M.txt")).unwrap();
    assert_eq!(
        m.system_ram(),
        vec![MemRange {
            start: 0x4000_0000,
            end: 0x5fff_ffff
        }]
    );
    assert_eq!(m.total_system_ram(), 512 << 20);
    assert!(m.crash_regions().is_empty());
    // Three levels: pcie@... > 0000:00:01.0 > virtio-pci-modern.
    assert!(
        m.walk()
            .iter()
            .any(|(d, r)| *d == 2 && r.name == "virtio-pci-modern")
    );
}

struct Tree(PathBuf);

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn firmware_memmap_fake_tree() {
    let t = Tree(std::env::temp_dir().join(format!("kexec-image-memmap-{}", std::process::id())));
    let entries = [
        ("0", "0x0", "0x9fbff", "System RAM"),
        ("1", "0x9fc00", "0x9ffff", "Reserved"),
        ("10", "0x100000000", "0x17fffffff", "System RAM"),
        ("2", "0x100000", "0x3ffd6fff", "System RAM"),
    ];
    for (i, s, e, k) in entries {
        let d = t.0.join("sys/firmware/memmap").join(i);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("start"), format!("{s}\n")).unwrap();
        std::fs::write(d.join("end"), format!("{e}\n")).unwrap();
        std::fs::write(d.join("type"), format!("{k}\n")).unwrap();
    }
    let m = read_firmware_memmap(&t.0).unwrap();
    let idx: Vec<u32> = m.iter().map(|e| e.index).collect();
    assert_eq!(idx, [0, 1, 2, 10]);
    assert_eq!(m[1].kind, "Reserved");
    assert_eq!(
        m[3].range,
        MemRange {
            start: 0x1_0000_0000,
            end: 0x1_7fff_ffff
        }
    );
    std::fs::write(t.0.join("sys/firmware/memmap/1/end"), "zz\n").unwrap();
    assert!(read_firmware_memmap(&t.0).is_err());
    assert!(read_firmware_memmap(&t.0.join("nowhere")).is_err());
}

#[test]
fn iomem_from_root() {
    let t = Tree(std::env::temp_dir().join(format!("kexec-image-iomem-{}", std::process::id())));
    std::fs::create_dir_all(t.0.join("proc")).unwrap();
    std::fs::write(t.0.join("proc/iomem"), data("iomem-x86_64-kdump-1G.txt")).unwrap();
    assert_eq!(Iomem::read(&t.0).unwrap().crash_size(), 256 << 20);
}
