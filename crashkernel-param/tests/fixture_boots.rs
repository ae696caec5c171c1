#![cfg(feature = "fixture-tests")]
//! The model against real kernels: `crashkernel-boots.json` of the fixture
//! folder (made by `cargo xtask fixtures`) records what Debian 12's 6.1 and
//! Debian 13's 6.12 amd64 kernels reserved in QEMU for each command line
//! ("Crash kernel" ranges of their `/proc/iomem`) and the RAM they counted.
//! Each boot is evaluated with [`evaluate`] and must agree: nothing reserved
//! exactly when the model fails; the sizes of the ranges are the size and
//! the low size; a fixed base is where the main range starts; `,high` puts
//! the main range at or above 4 GiB; `kexec_crash_size` is the main size.
//!
//! Fails (never skips) when `KDUMP_FIXTURES` is unset or a file is missing.
#![allow(
    clippy::print_stdout,
    reason = "the test lists the boots that agree (shown with --nocapture), as evidence beside the assertion"
)]

use crashkernel_param::{Arch, Failure, KernelVersion, Reservation, Target, evaluate};
use serde_json::Value;
use std::path::PathBuf;

const G4: u64 = 1 << 32;

fn oracle() -> Value {
    let dir = PathBuf::from(std::env::var_os("KDUMP_FIXTURES").expect(
        "KDUMP_FIXTURES must name the fixture folder (cargo xtask fixtures makes it, cargo xtask ci sets it)",
    ));
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("manifest.json in KDUMP_FIXTURES"),
    )
    .expect("manifest.json is JSON");
    let rel = manifest["crashkernel_boots"]
        .as_str()
        .expect("the manifest names crashkernel_boots (run cargo xtask fixtures)");
    serde_json::from_slice(&std::fs::read(dir.join(rel)).expect("the crashkernel boots file"))
        .expect("the crashkernel boots file is JSON")
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("an integer")
}

fn mib(b: u64) -> String {
    if b % (1 << 20) == 0 {
        format!("{}M", b >> 20)
    } else {
        format!("{b:#x}")
    }
}

/// What the kernel did, in words.
fn kernel_did(ranges: &[(u64, u64)]) -> String {
    if ranges.is_empty() {
        return "reserved nothing".into();
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(start, size)| format!("{} at {start:#x}", mib(size)))
        .collect();
    format!("reserved {}", parts.join(" + "))
}

fn model_says(r: &Result<Reservation, Failure>) -> String {
    match r {
        Err(f) => format!("error {} ({f})", f.kind()),
        Ok(r) => {
            let mut s = format!("size {}", mib(r.size));
            if let Some(b) = r.base {
                s += &format!(" at {b:#x}");
            }
            if r.high {
                s += " high";
            }
            if let Some(l) = r.low_size {
                s += &format!(" + low {}", mib(l));
            }
            if let Some(l) = r.low_if_placed_high {
                s += &format!(" (+ low {} if placed high)", mib(l));
            }
            if let Some(c) = r.cma_size {
                s += &format!(" + cma {}", mib(c));
            }
            s
        }
    }
}

/// `None` when the kernel's ranges agree with the model.
fn disagreement(
    r: &Result<Reservation, Failure>,
    ranges: &[(u64, u64)],
    crash_size: u64,
) -> Option<String> {
    let r = match r {
        Err(_) if ranges.is_empty() => return None,
        Err(_) => return Some("the kernel reserved memory where the model fails".into()),
        Ok(_) if ranges.is_empty() => {
            return Some("the kernel reserved nothing where the model reserves".into());
        }
        Ok(r) => r,
    };
    // The main range: the one of the main size, at the fixed base when there
    // is one, above 4G when both ranges have the same size and one is high.
    let main = ranges
        .iter()
        .filter(|&&(_, size)| size == r.size)
        .max_by_key(|&&(start, _)| (r.base == Some(start), start))
        .copied();
    let Some((main_start, _)) = main else {
        return Some(format!("no range of the main size {}", mib(r.size)));
    };
    let low = r.low_size.or(if main_start >= G4 {
        r.low_if_placed_high
    } else {
        None
    });
    let mut want: Vec<u64> = [Some(r.size), low].into_iter().flatten().collect();
    let mut got: Vec<u64> = ranges.iter().map(|&(_, size)| size).collect();
    want.sort_unstable();
    got.sort_unstable();
    if want != got {
        let w: Vec<String> = want.iter().map(|&s| mib(s)).collect();
        let g: Vec<String> = got.iter().map(|&s| mib(s)).collect();
        return Some(format!("range sizes {g:?}, model {w:?}"));
    }
    if let Some(base) = r.base.filter(|&base| base != main_start) {
        return Some(format!(
            "main range at {main_start:#x}, model's fixed base {base:#x}"
        ));
    }
    if r.high && main_start < G4 {
        return Some(format!("main range at {main_start:#x} is below 4G"));
    }
    if low.is_some() && ranges.iter().all(|&(start, size)| start + size > G4) {
        return Some("no range below 4G for the low region".into());
    }
    if crash_size != r.size {
        return Some(format!(
            "kexec_crash_size {} is not the main size",
            mib(crash_size)
        ));
    }
    None
}

#[test]
fn real_kernels_reserve_what_the_model_says() {
    let oracle = oracle();
    let boots = oracle["boots"].as_array().expect("boots");
    let mut versions: Vec<KernelVersion> = Vec::new();
    let mut table = Vec::new();
    let mut bad = Vec::new();
    for b in boots {
        let release = b["kernel_release"].as_str().expect("kernel_release");
        let version: KernelVersion = release.parse().expect("a kernel version");
        if !versions.contains(&version) {
            versions.push(version);
        }
        let cmdline = b["cmdline"].as_str().expect("cmdline");
        let ram = u(&b["ram_bytes"]);
        let ranges: Vec<(u64, u64)> = b["crash_ranges"]
            .as_array()
            .expect("crash_ranges")
            .iter()
            .map(|r| (u(&r["start"]), u(&r["size"])))
            .collect();
        let r = evaluate(cmdline, ram, Target::new(Arch::X86_64, version));
        let line = format!(
            "{release} RAM {ram} (guest {}) `{cmdline}`: kernel {}; model {}",
            mib(u(&b["guest_ram_bytes"])),
            kernel_did(&ranges),
            model_says(&r)
        );
        match disagreement(&r, &ranges, u(&b["kexec_crash_size"])) {
            None => table.push(line),
            Some(why) => bad.push(format!("{line}: {why}")),
        }
    }
    println!("agreeing boots:\n{}", table.join("\n"));
    assert!(
        bad.is_empty(),
        "the kernel and the model disagree:\n{}",
        bad.join("\n")
    );
    // Both Debian kernels were booted, each with every case.
    assert!(versions.contains(&KernelVersion::new(6, 1)), "{versions:?}");
    assert!(
        versions.contains(&KernelVersion::new(6, 12)),
        "{versions:?}"
    );
    assert!(boots.len() >= 18, "only {} boots", boots.len());
}

#[test]
fn disagreements_are_found() {
    let high = Reservation {
        size: 512 << 20,
        base: None,
        high: true,
        low_size: Some(256 << 20),
        cma_size: None,
        low_if_placed_high: None,
        range: None,
    };
    let ok = [(0x1_4000_0000, 512 << 20), (0x2000_0000, 256 << 20)];
    assert_eq!(disagreement(&Ok(high), &ok, 512 << 20), None);
    assert!(
        disagreement(
            &Ok(high),
            &[(0x2000_0000, 512 << 20), (0x1000_0000, 256 << 20)],
            512 << 20
        )
        .is_some()
    );
    assert!(disagreement(&Ok(high), &ok[..1], 512 << 20).is_some());
    assert!(disagreement(&Ok(high), &[], 0).is_some());
    assert!(disagreement(&Err(Failure::Zero), &ok, 512 << 20).is_some());
    assert_eq!(disagreement(&Err(Failure::Zero), &[], 0), None);
    let fixed = Reservation {
        size: 256 << 20,
        base: Some(5 << 30),
        high: false,
        low_size: None,
        ..high
    };
    assert_eq!(
        disagreement(&Ok(fixed), &[(5 << 30, 256 << 20)], 256 << 20),
        None
    );
    assert!(disagreement(&Ok(fixed), &[(6 << 30, 256 << 20)], 256 << 20).is_some());
}

/// The free RAM of a fixture boot when the kernel reserves: the usable ranges of the
/// `BIOS-e820` lines of its console, less the first MiB (x86 keeps it), the initrd
/// (`RAMDISK:` line) and the kernel loaded at 16 MiB (`nokaslr`; taken as
/// `ASSUMED_KERNEL` long).
fn boot_free_ram(console: &str) -> Vec<crashkernel_param::Span> {
    use crashkernel_param::{ASSUMED_KERNEL, Span};
    let range = |l: &str| -> Option<(u64, u64)> {
        let inner = l.split("[mem ").nth(1)?.split(']').next()?;
        let (a, b) = inner.split_once('-')?;
        let a = u64::from_str_radix(a.trim_start_matches("0x"), 16).ok()?;
        let b = u64::from_str_radix(b.trim_start_matches("0x"), 16).ok()?;
        Some((a, b + 1))
    };
    let mut taken = vec![(0, 1 << 20), (16 << 20, (16 << 20) + ASSUMED_KERNEL)];
    let mut usable = Vec::new();
    for l in console.lines().filter(|l| !l.starts_with("KDUMP-RS")) {
        if l.contains("BIOS-e820:") && l.trim_end().ends_with("usable") {
            usable.extend(range(l));
        } else if l.contains("RAMDISK: [mem") {
            taken.extend(range(l));
        }
    }
    // Subtract every taken range from every usable one.
    let mut free: Vec<(u64, u64)> = usable;
    for (ts, te) in taken {
        free = free
            .into_iter()
            .flat_map(|(s, e)| {
                if te <= s || e <= ts {
                    vec![(s, e)]
                } else {
                    [(s, ts), (te, e)]
                        .into_iter()
                        .filter(|(a, b)| a < b)
                        .collect()
                }
            })
            .collect();
    }
    free.into_iter()
        .map(|(start, end)| Span { start, end })
        .collect()
}

/// The placement model against the same boots: where the kernel reserved, the model finds
/// room in the boot's own memory map (its e820 lines), in the same window (below or above
/// 4 GiB) and at most 32 MiB above where the kernel put each region (the model is the
/// highest place the allocator can pick; the kernel's own early allocations, which the
/// console does not list, may push it one or two 16 MiB steps lower); a fixed base is
/// exact. Where the model's parse succeeds but the kernel reserved nothing, the model
/// must not find room either.
#[test]
fn real_kernels_place_where_the_model_says() {
    use crashkernel_param::place;
    let dir = PathBuf::from(std::env::var_os("KDUMP_FIXTURES").expect("KDUMP_FIXTURES"));
    let oracle = oracle();
    let mut bad = Vec::new();
    let mut placed = 0;
    for b in oracle["boots"].as_array().expect("boots") {
        let release = b["kernel_release"].as_str().expect("kernel_release");
        let target = Target::new(Arch::X86_64, release.parse().expect("a kernel version"));
        let cmdline = b["cmdline"].as_str().expect("cmdline");
        let Ok(r) = evaluate(cmdline, u(&b["ram_bytes"]), target) else {
            continue;
        };
        let console = std::fs::read_to_string(dir.join(b["console"].as_str().expect("console")))
            .expect("the boot's console log");
        let free = boot_free_ram(&console);
        assert!(!free.is_empty(), "{release} `{cmdline}`: no e820 lines");
        let ranges: Vec<(u64, u64)> = b["crash_ranges"]
            .as_array()
            .expect("crash_ranges")
            .iter()
            .map(|r| (u(&r["start"]), u(&r["size"])))
            .collect();
        let got = place(&r, target, &free);
        let line = format!(
            "{release} `{cmdline}`: kernel {}; model {got:?}",
            kernel_did(&ranges)
        );
        match (&got, ranges.as_slice()) {
            (Err(_), []) => {}
            (Ok(_), []) => bad.push(format!("{line}: the model places what the kernel did not")),
            (Err(e), _) => bad.push(format!("{line}: the model finds no room ({e})")),
            (Ok(p), real) => {
                placed += 1;
                // (model base, size, whether the base is fixed).
                let mut want = vec![(p.base, r.size, r.base.is_some())];
                want.extend(p.low.map(|(base, size)| (base, size, false)));
                for (mb, size, fixed) in want {
                    // The real range of that size in the model's window (two 256M ranges,
                    // one low and one high, are told apart by where they are).
                    let Some(&(rb, _)) = real
                        .iter()
                        .find(|&&(s, z)| z == size && (s >= G4) == (mb >= G4))
                    else {
                        bad.push(format!(
                            "{line}: no real range of {} on the model's side of 4G",
                            mib(size)
                        ));
                        continue;
                    };
                    let ok = if fixed {
                        mb == rb
                    } else {
                        mb >= rb && mb - rb <= 32 << 20
                    };
                    if !ok {
                        bad.push(format!("{line}: model {mb:#x}, kernel {rb:#x}"));
                    }
                }
                if real.len() != 1 + usize::from(p.low.is_some()) {
                    bad.push(format!("{line}: the kernel made {} ranges", real.len()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "placement disagrees:\n{}", bad.join("\n"));
    assert!(placed >= 8, "only {placed} placed boots compared");
}
