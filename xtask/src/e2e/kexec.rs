//! `cargo xtask guest-kexec`: our static `kexec-load` arms kdump inside a
//! QEMU guest booted with `crashkernel=256M` (1 GiB, 2 vCPUs) and the Debian
//! amd64 kernel of the fixture cache. The guest init checks `kexec-load -S
//! -p` (as kexec(8): exit 0 before a load, 1 after, 0 after `-u -p`),
//! `/sys/kernel/kexec_crash_loaded` after each load and unload, loads again
//! and crashes with sysrq-c. The capture kernel our loader placed (the same
//! bzImage and a busybox initrd, through `kexec_file_load`) must boot, show
//! our `--append` and the `elfcorehdr=` the kernel added on its command
//! line, and find `/proc/vmcore` starting with the ELF magic.
//!
//! A second guest loads a kexec (reboot) kernel with `kexec-load -l -c` (the
//! classic `kexec_load`, every segment and the purgatory ours), checks `-S -l`
//! and boots it with `kexec-load -e`; the new kernel must come up with our
//! command line and no `/proc/vmcore`. A third loads the crash kernel with
//! `-c` and one initrd byte flipped after the digest was taken
//! (`KEXEC_LOAD_CORRUPT_SEGMENT`), crashes, and our purgatory must say
//! `purgatory: sha256 digest mismatch` instead of starting the kernel.

use super::{SAY, Steps, initramfs, lines_after, wait, work_dir, x86_args};
use crate::fixtures::guest::Vm;
use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask guest-kexec [--cpus N]

Boots the fixture cache's Debian amd64 kernel in QEMU (TCG here) with
crashkernel=256M, arms kdump with our static kexec-load, crashes the guest
with sysrq-c and checks that the capture kernel boots and sees /proc/vmcore.
";

const RAM_MIB: u64 = 1024;

pub fn run(args: &[String]) -> Result<()> {
    let mut cpus = 2;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cpus" => {
                cpus = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=8).contains(n))
                    .ok_or_else(|| anyhow::anyhow!("--cpus needs a number from 1 to 8"))?;
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown guest-kexec option {other:?}\n{USAGE}"),
        }
    }
    let mut steps = Steps::new("guest-kexec");
    let result = run_steps(&mut steps, cpus).and_then(|(work, mut proof)| {
        proof.extend(reboot_steps(&mut steps, cpus)?);
        proof.extend(corrupt_steps(&mut steps, cpus)?);
        Ok((work, proof))
    });
    steps.print();
    let (work, proof) = result?;
    let text = proof.join("\n") + "\n";
    std::fs::write(work.join("proof.txt"), &text)?;
    eprintln!(
        "\nguest-kexec: the guest's serial lines (kept in {}):",
        work.join("proof.txt").display()
    );
    eprint!("{text}");
    eprintln!("guest-kexec: passed");
    Ok(())
}

/// Runs the test; returns the work folder and the serial lines that prove
/// the capture kernel booted: the first kernel's reservation and our
/// loader's steps, then the capture kernel's (see [`proof_lines`]).
fn run_steps(steps: &mut Steps, cpus: u32) -> Result<(std::path::PathBuf, Vec<String>)> {
    let (cache, kernel) = steps.time("fixtures (amd64 kernel)", super::fixture_kernel)?;
    let image = cache.join(&kernel.image);
    let tools = steps.time("static kexec-load (cargo build, +crt-static)", || {
        super::static_tools(&["kexec-load"])
    })?;
    let _lock = super::lock(steps, &cache)?;
    let work = work_dir(&cache, "guest-kexec")?;
    let initrd = work.join("initramfs.cpio");
    steps.time("initramfs (first kernel + capture)", || {
        let capture = initramfs(&[], &[])?.finish();
        let mut first = initramfs(&[("kexec-load", &tools.join("kexec-load"))], &[])?;
        first.file("boot/vmlinuz", &std::fs::read(&image)?, 0o644);
        first.file("boot/capture.cpio", &capture, 0o644);
        std::fs::write(&initrd, first.finish())?;
        Ok(())
    })?;
    let append = "console=ttyS0 no_timer_check crashkernel=256M panic=-1 kdumprs.e2e=kexec";
    let args = x86_args(&cache, &image, &initrd, RAM_MIB, cpus, append);
    let console = work.join("console.txt");
    let mut vm = Vm::start("qemu-system-x86_64", &args, &console, None)?;
    steps.time("boot first kernel to init", || {
        wait(&mut vm, "kexec-load -S -p before loading", 300)
    })?;
    steps.time(
        "kexec-load -p, -S -p, -u -p, -S -p, -p again (in the guest)",
        || wait(&mut vm, &format!("{SAY}CRASHING"), 120),
    )?;
    steps.time("sysrq-c to the capture kernel's first line", || {
        wait(&mut vm, "Kernel panic - not syncing", 60)?;
        vm.wait_until(
            "the capture kernel's banner after the panic",
            std::time::Duration::from_secs(180),
            |text| {
                lines_after(text, "Kernel panic - not syncing", 0)
                    .iter()
                    .any(|l| l.contains("Linux version"))
            },
        )
    })?;
    steps.time("capture kernel boot to /proc/vmcore check", || {
        wait(&mut vm, &format!("{SAY}CAPTURE-CHECKED"), 300)
    })?;
    steps.time("capture kernel powers off", || {
        vm.wait_exit(std::time::Duration::from_secs(60))
    })?;
    let text = vm.console();
    let mut lines: Vec<String> = text
        .lines()
        .take_while(|l| !l.contains("Kernel panic - not syncing"))
        .filter(|l| l.contains("for crashkernel") || l.starts_with(SAY))
        .map(|l| l.trim_end().to_string())
        .collect();
    lines.extend(proof_lines(&text)?);
    Ok((work, lines))
}

/// `kexec-load -l -c` then `-e` in a guest; returns the serial lines that prove
/// the kexec'd kernel booted from our segments.
fn reboot_steps(steps: &mut Steps, cpus: u32) -> Result<Vec<String>> {
    let (cache, kernel) = steps.time("fixtures (amd64 kernel)", super::fixture_kernel)?;
    let image = cache.join(&kernel.image);
    let tools = super::static_tools(&["kexec-load"])?;
    let _lock = super::lock(steps, &cache)?;
    let work = work_dir(&cache, "guest-kexec-reboot")?;
    let initrd = work.join("initramfs.cpio");
    steps.time("initramfs (first kernel + kexec'd)", || {
        let next = initramfs(&[], &[])?.finish();
        let mut first = initramfs(&[("kexec-load", &tools.join("kexec-load"))], &[])?;
        first.file("boot/vmlinuz", &std::fs::read(&image)?, 0o644);
        first.file("boot/capture.cpio", &next, 0o644);
        std::fs::write(&initrd, first.finish())?;
        Ok(())
    })?;
    let append = "console=ttyS0 no_timer_check panic=-1 kdumprs.e2e=reboot";
    let args = x86_args(&cache, &image, &initrd, RAM_MIB, cpus, append);
    let mut vm = Vm::start("qemu-system-x86_64", &args, &work.join("console.txt"), None)?;
    steps.time("kexec-load -l -c, -S -l, -e (in the guest)", || {
        wait(&mut vm, &format!("{SAY}KEXEC-EXEC"), 300)
    })?;
    steps.time("kexec-load -e to the new kernel's init", || {
        wait(&mut vm, &format!("{SAY}REBOOTED"), 300)
    })?;
    vm.wait_exit(std::time::Duration::from_secs(60))?;
    reboot_proof(&vm.console())
}

/// A crash load with a corrupted initrd; returns the purgatory's refusal line.
fn corrupt_steps(steps: &mut Steps, cpus: u32) -> Result<Vec<String>> {
    let (cache, kernel) = steps.time("fixtures (amd64 kernel)", super::fixture_kernel)?;
    let image = cache.join(&kernel.image);
    let tools = super::static_tools(&["kexec-load"])?;
    let _lock = super::lock(steps, &cache)?;
    let work = work_dir(&cache, "guest-kexec-corrupt")?;
    let initrd = work.join("initramfs.cpio");
    let capture = initramfs(&[], &[])?.finish();
    let mut first = initramfs(&[("kexec-load", &tools.join("kexec-load"))], &[])?;
    first.file("boot/vmlinuz", &std::fs::read(&image)?, 0o644);
    first.file("boot/capture.cpio", &capture, 0o644);
    std::fs::write(&initrd, first.finish())?;
    let append = "console=ttyS0 no_timer_check crashkernel=256M panic=-1 kdumprs.e2e=corrupt";
    let args = x86_args(&cache, &image, &initrd, RAM_MIB, cpus, append);
    let mut vm = Vm::start("qemu-system-x86_64", &args, &work.join("console.txt"), None)?;
    steps.time(
        "kexec-load -c -p with a flipped initrd byte, sysrq-c",
        || wait(&mut vm, "Kernel panic - not syncing", 300),
    )?;
    let refusal = steps.time("the purgatory refuses the corrupted segments", || {
        wait(&mut vm, "purgatory: sha256 digest mismatch", 120)
    })?;
    // The purgatory halts; nothing after it may be a kernel booting.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let text = vm.console();
    vm.kill();
    if lines_after(&text, "Kernel panic - not syncing", 0)
        .iter()
        .any(|l| l.contains("Linux version"))
    {
        bail!("a kernel booted after the purgatory should have refused");
    }
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| l.contains("KEXEC_LOAD_CORRUPT_SEGMENT") || l.contains("(corrupted initrd)"))
        .map(|l| l.trim_end().to_string())
        .collect();
    out.push(refusal.trim_end().to_string());
    Ok(out)
}

/// The lines after `KEXEC-EXEC` that prove the new kernel is the one we loaded.
fn reboot_proof(console: &str) -> Result<Vec<String>> {
    let after = lines_after(console, &format!("{SAY}KEXEC-EXEC"), 0);
    let find = |needle: &str| -> Result<String> {
        after
            .iter()
            .find(|l| l.contains(needle))
            .map(|l| l.trim_end().to_string())
            .ok_or_else(|| anyhow::anyhow!("no {needle:?} after kexec-load -e"))
    };
    let banner = find("Linux version")?;
    let cmdline = find("Command line:")?;
    if !cmdline.contains("kdumprs.e2e=rebooted") {
        bail!("the kexec'd kernel's command line is not ours: {cmdline}");
    }
    let up = find("rebooted by kexec-load -e")?;
    if !up.ends_with("/proc/vmcore absent") {
        bail!("the kexec'd kernel sees a /proc/vmcore: {up}");
    }
    let mut out: Vec<String> = console
        .lines()
        .filter(|l| l.contains("kexec-load -l -c:") || l.contains("-S -l before"))
        .map(|l| l.trim_end().to_string())
        .collect();
    out.extend([banner, cmdline, up]);
    Ok(out)
}

/// The serial lines after the panic that prove the capture kernel is the
/// one our loader placed: its banner, its command line (our `--append` plus
/// the `elfcorehdr=` that `kexec_file_load` adds) and the init's
/// `/proc/vmcore` line; fails when one is missing or wrong.
fn proof_lines(console: &str) -> Result<Vec<String>> {
    let after = lines_after(console, "Kernel panic - not syncing", 0);
    let find = |needle: &str| -> Result<String> {
        after
            .iter()
            .find(|l| l.contains(needle))
            .map(|l| l.trim_end().to_string())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no {needle:?} after the panic\n{}",
                    crate::fixtures::guest::tail(console)
                )
            })
    };
    let panic = find("Kernel panic - not syncing")?;
    let banner = find("Linux version")?;
    let cmdline = find("Command line:")?;
    for want in [
        "elfcorehdr=",
        "kdumprs.e2e=check",
        "nr_cpus=1",
        "reset_devices",
    ] {
        if !cmdline.contains(want) {
            bail!("the capture kernel's command line lacks {want}: {cmdline}");
        }
    }
    let vmcore = find("/proc/vmcore size=")?;
    if !vmcore.contains("magic=7f454c46") {
        bail!("the capture kernel's /proc/vmcore is not ELF: {vmcore}");
    }
    let mut out = vec![panic, banner, cmdline];
    out.extend(
        after
            .iter()
            .filter(|l| l.contains("Crash kernel") || l.contains("crashkernel"))
            .take(2)
            .map(|l| l.trim_end().to_string()),
    );
    out.push(vmcore);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::proof_lines;

    #[test]
    fn reboot_proof_needs_the_new_kernel() {
        let good = "KDUMP-RS-E2E: KEXEC-EXEC\nLinux version 6.1\nCommand line: console=ttyS0 kdumprs.e2e=rebooted\n\
            KDUMP-RS-E2E: rebooted by kexec-load -e into 6.1; /proc/vmcore absent\n";
        assert_eq!(super::reboot_proof(good).unwrap().len(), 3);
        assert!(super::reboot_proof(&good.replace("=rebooted", "=reboot")).is_err());
        assert!(super::reboot_proof(&good.replace("absent", "present")).is_err());
        assert!(super::reboot_proof(&good.replace("KEXEC-EXEC", "X")).is_err());
    }

    #[test]
    fn proof_needs_the_loaded_kernels_lines() {
        let good = "Linux version 6.1 first\nKernel panic - not syncing: sysrq\n\
            Linux version 6.1 capture\n\
            Command line: console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=-1 kdumprs.e2e=check elfcorehdr=0x3f000000\n\
            KDUMP-RS-E2E: capture kernel 6.1 up; /proc/vmcore size=1 magic=7f454c46\n";
        assert_eq!(proof_lines(good).unwrap().len(), 4);
        assert!(proof_lines(&good.replace("elfcorehdr=0x3f000000", "")).is_err());
        assert!(proof_lines(&good.replace("7f454c46", "00000000")).is_err());
        // The first kernel's banner does not count.
        assert!(proof_lines(&good.replace("Linux version 6.1 capture\n", "")).is_err());
    }
}
