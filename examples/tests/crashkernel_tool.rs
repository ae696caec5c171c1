//! The `crashkernel` tool on every vector of crashkernel-param's
//! `tests/vectors.txt`, and the acceptance commands of its issue.

use std::process::Command;

fn tool(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crashkernel"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn bytes(s: &str) -> u64 {
    let (v, n) = crashkernel_param::memparse(s.as_bytes());
    assert_eq!(n, s.len());
    v
}

#[test]
fn every_vector_through_the_tool() {
    let text = include_str!("../../crashkernel-param/tests/vectors.txt");
    let mut checked = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, " | ");
        let (head, cmdline, expected) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let head: Vec<&str> = head.split(' ').collect();
        let mut args = vec!["eval", "--arch", head[0], "--ram", head[2], "--json"];
        if head[1] != "newest" {
            args.extend(["--kernel", head[1]]);
        }
        args.push(cmdline);
        let (code, stdout, stderr) = tool(&args);
        let mut json: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("vectors.txt:{}: {e}: {stdout:?} {stderr:?}", i + 1));
        // The parse is what the vectors give; the placement (in the assumed map) is
        // checked by crashkernel-param's tests and decides the exit code too.
        let placement = json.as_object_mut().unwrap().remove("placement");
        let unplaced = placement
            .as_ref()
            .is_some_and(|p| p.get("error").is_some() && p["kind"] != "not_modelled");
        if unplaced {
            eprintln!(
                "vectors.txt:{}: {cmdline}: {}",
                i + 1,
                placement.as_ref().unwrap()
            );
        }
        let at = format!("vectors.txt:{}: {json}", i + 1);
        if let Some(kind) = expected.strip_prefix("error=") {
            assert_eq!(code, 1, "{at}");
            let mut words = kind.split(' ');
            assert_eq!(json["kind"], words.next().unwrap(), "{at}");
            assert!(
                json["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{at}"
            );
            if let Some(pos) = words.next().and_then(|w| w.strip_prefix("pos=")) {
                assert_eq!(json["position"], pos.parse::<u64>().unwrap(), "{at}");
            }
        } else {
            assert_eq!(code, i32::from(unplaced), "{at}");
            let mut want = serde_json::json!({"base": null, "high": false, "low_size": null, "cma_size": null});
            for word in expected.split(' ') {
                match word.split_once('=') {
                    Some(("size", v)) => want["size"] = bytes(v).into(),
                    Some(("base", v)) => want["base"] = bytes(v).into(),
                    Some(("low", v)) => want["low_size"] = bytes(v).into(),
                    Some(("cma", v)) => want["cma_size"] = bytes(v).into(),
                    None if word == "high" => want["high"] = true.into(),
                    _ => panic!("{at}: bad expectation {word}"),
                }
            }
            assert_eq!(json, want, "{at}");
        }
        checked += 1;
    }
    assert!(checked > 80);
}

#[test]
fn acceptance_eval_4095m() {
    let (code, out, _) = tool(&[
        "eval",
        "--arch",
        "x86_64",
        "--ram",
        "4095M",
        "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("\"size\":268435456"), "{out}");
}

#[test]
fn acceptance_recommend_rhel9() {
    let (code, out, _) = tool(&[
        "recommend",
        "--distro",
        "rhel9",
        "--arch",
        "x86_64",
        "--ram",
        "16G",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("1G-4G:192M,4G-64G:256M,64G-:512M"), "{out}");
    assert!(out.contains("256 MiB"), "{out}");
    let (_, json, _) = tool(&[
        "recommend",
        "--distro",
        "centos9",
        "--arch",
        "x86_64",
        "--ram",
        "16G",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["reservation"]["size"], 256u64 << 20);
    assert_eq!(
        json["cmdline"],
        "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
    );
}

#[test]
fn sentences_and_edits() {
    let (code, out, _) = tool(&[
        "eval",
        "--arch",
        "x86_64",
        "--kernel",
        "6.1.0-41-amd64",
        "--ram",
        "8G",
        "crashkernel=256M@1G",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "Linux 6.1 on x86_64 with 8 GiB of RAM reserves 256 MiB (268435456 bytes) for the crash kernel at 0x40000000 exactly. It fits in RAM assumed to be one piece from address 0 with the first MiB (x86) and 64 MiB for the running kernel taken (--iomem FILE gives the real map): at 0x40000000 at the highest."
    );
    // A base 6.1 accepts (1M-aligned) whose range runs past the RAM: nothing is reserved.
    let (code, out, _) = tool(&[
        "eval",
        "--arch",
        "x86_64",
        "--kernel",
        "6.1.0-41-amd64",
        "--ram",
        "8G",
        "crashkernel=256M@8000M",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("exactly"), "{out}");
    assert!(
        out.contains("But it cannot be placed") && out.contains("memory is in use"),
        "{out}"
    );
    // About all of the RAM parses (it is below RAM) but cannot be placed, on either kernel.
    for kernel in ["6.1", "6.12"] {
        let (code, out, _) = tool(&[
            "eval",
            "--arch",
            "x86_64",
            "--kernel",
            kernel,
            "--ram",
            "6G",
            "--json",
            "crashkernel=6143M",
        ]);
        assert_eq!(code, 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["size"], 6143u64 << 20);
        assert_eq!(v["placement"]["kind"], "no_room", "{out}");
        assert_eq!(v["placement"]["map"], "assumed");
    }
    let (code, out, _) = tool(&[
        "eval",
        "--arch",
        "x86_64",
        "--kernel",
        "6.12",
        "--ram",
        "8G",
        "crashkernel=256M@8M",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("not a multiple of 16M"), "{out}");
    let (code, out, _) = tool(&["add", "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M", "64M"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "crashkernel=1G-4G:256M,4G-64G:320M,64G-:576M\n")
    );
    let (code, _, err) = tool(&["add", "1G-4G:64M", "-128M"]);
    assert_eq!(code, 1);
    assert!(err.contains("negative"), "{err}");
    let (code, _, err) = tool(&["eval", "--ram", "lots", "crashkernel=1G"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a size"), "{err}");
}

/// With `--iomem` the room is looked for in the machine's own map: this CentOS 9 guest has
/// RAM below 3 GiB (less its kernel image) and 2 GiB above 4 GiB, so 2G fits below 4G and
/// 3G fits nowhere, though 3G parses (it is below the 5 GiB of RAM).
#[test]
fn eval_places_in_the_map_of_a_proc_iomem() {
    let iomem = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/roots/centos9-loaded/proc/iomem");
    let iomem = iomem.to_str().unwrap();
    let eval = |v: &str| {
        let (code, out, err) = tool(&[
            "eval", "--arch", "x86_64", "--kernel", "6.12", "--iomem", iomem, "--json", v,
        ]);
        assert!(err.is_empty(), "{err}");
        (
            code,
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        )
    };
    let (code, v) = eval("crashkernel=2G");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["placement"]["map"], "iomem");
    // Top-down below the end of low RAM (0xbffe0000), 16M-aligned.
    assert_eq!(
        v["placement"]["base_at_most"],
        0xbf00_0000u64 - (2u64 << 30)
    );
    let (code, v) = eval("crashkernel=3G");
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["placement"]["kind"], "no_room");
    // ,high: 1G above 4G, the 256M low region below.
    let (code, v) = eval("crashkernel=1G,high");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["placement"]["base_at_most"], 0x1_4000_0000u64);
    assert!(v["placement"]["low_base_at_most"].as_u64().unwrap() < 1 << 32);
    // An unreadable or address-hidden file is a usage error.
    let hidden = std::env::temp_dir().join(format!("iomem-hidden-{}", std::process::id()));
    std::fs::write(
        &hidden,
        "00000000-00000000 : System RAM\n00000000-00000000 : Kernel code\n",
    )
    .unwrap();
    let (code, _, err) = tool(&[
        "eval",
        "--iomem",
        hidden.to_str().unwrap(),
        "crashkernel=256M",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
    std::fs::remove_file(hidden).unwrap();
}
