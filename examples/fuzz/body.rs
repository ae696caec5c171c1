// The body of the `kdump_config` fuzz target, shared with the replay test in
// `tests/kdump_config_fuzz.rs` through `include!`: whatever the bytes, the
// configuration parsers and the edits setup makes never panic, and the edits
// keep their promises (one crashkernel= token, a 1024-byte grubenv, a diff
// whose sides are the two texts).
fn kdump_config_fuzz_body(data: &[u8]) {
    use kdump_examples::kdump_config::conf::{Collector, KdumpConf, KdumpTools};
    use kdump_examples::kdump_config::facts::{MemInfo, OsRelease, crashkernel_tokens};
    use kdump_examples::kdump_config::kconfig::KernelConfig;
    use kdump_examples::kdump_config::setup::{set_arg, set_grubenv, unified_diff};
    let text = String::from_utf8_lossy(data);

    let conf = KdumpConf::parse(&text);
    assert!(conf.target.is_some());
    if let Some(c) = &conf.collector {
        assert!(c.dump_level.is_none_or(|l| l <= 31), "{c:?}");
    }
    let _ = KdumpTools::parse(&text);
    if let Ok(c) = Collector::parse(&text) {
        assert!(c.effective_level() <= 31);
    }
    let os = OsRelease::parse(&text);
    let _ = (os.family(), os.distro());
    let _ = MemInfo::parse(&text);
    let _ = KernelConfig::parse(&text).arch();

    let edited = set_arg(&text, "256M");
    assert_eq!(crashkernel_tokens(&edited), ["crashkernel=256M"]);
    assert_eq!(set_arg(&edited, "256M"), edited);
    if let Ok((_, after)) = set_grubenv(&text, "kernelopts", |v| set_arg(v, "256M")) {
        assert_eq!(after.len(), 1024);
    }

    let half = text.len() / 2;
    let split = (half..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    let (a, b) = text.split_at(split);
    let diff = unified_diff("f", Some(a), b);
    let (mut old, mut new) = (Vec::new(), Vec::new());
    // Split on '\n' alone: the diff writes each line followed by '\n', and a
    // line of the input may itself end in '\r'.
    for line in diff
        .split('\n')
        .skip(2)
        .filter(|l| !l.is_empty() && !l.starts_with("@@"))
    {
        let (tag, rest) = line.split_at(1);
        if tag != "+" {
            old.push(rest);
        }
        if tag != "-" {
            new.push(rest);
        }
    }
    let a_lines: Vec<&str> = a.lines().collect();
    let b_lines: Vec<&str> = b.lines().collect();
    // Every removed or kept line is one of a's, every added or kept line one of b's.
    assert!(old.iter().all(|l| a_lines.contains(l)), "{diff}");
    assert!(new.iter().all(|l| b_lines.contains(l)), "{diff}");
}
