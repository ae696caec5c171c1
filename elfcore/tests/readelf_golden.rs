//! `readelf -h -l -n` (GNU binutils, an independent ELF reader) on a built `elfcorehdr=`
//! header and a built ELF dump file per architecture, compared with the goldens in
//! `tests/golden/`. Set `ELFCOREHDR_BLESS=1` to rewrite the goldens after a deliberate change.

mod support;

use std::path::PathBuf;
use std::process::Command;

fn readelf(bytes: &[u8], name: &str) -> String {
    let path = std::env::temp_dir().join(format!("elfcorehdr-{}-{name}.elf", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("readelf")
        .args(["-W", "-h", "-l", "-n"])
        .arg(&path)
        .env("LC_ALL", "C")
        .output()
        .expect("readelf (GNU binutils) must be installed for this test");
    std::fs::remove_file(&path).unwrap();
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "readelf failed on {name}"
    );
    String::from_utf8(out.stdout).unwrap()
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"))
}

fn compare(name: &str, text: &str) {
    let path = golden(name);
    if std::env::var_os("ELFCOREHDR_BLESS").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with ELFCOREHDR_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        text,
        want,
        "readelf output for {name} differs from {}",
        path.display()
    );
}

#[test]
fn readelf_matches_goldens() {
    for (name, target) in support::named_targets() {
        let header = support::sample_crash_header(target).build().unwrap();
        let text = readelf(&header, &format!("{name}-corehdr"));
        // readelf must see what we built: class, machine, one line per program header.
        assert!(text.contains("CORE (Core file)"), "{name}: {text}");
        compare(&format!("{name}-corehdr"), &text);

        let dump = support::sample_dump(target);
        let text = readelf(&dump.bytes, &format!("{name}-dump"));
        assert!(text.contains("NT_PRSTATUS"), "{name}: {text}");
        assert!(text.contains("VMCOREINFO"), "{name}: {text}");
        compare(&format!("{name}-dump"), &text);
    }
}
