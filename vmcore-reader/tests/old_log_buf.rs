//! The log layouts before the lockless ring: `struct printk_log` records in `log_buf`
//! (3.5 to 5.9, with the zero-length wrap marker) and the plain character ring before 3.5.

use vmcore_reader::synth::{SynthKernel, elf_dump, vmcoreinfo_note};
use vmcore_reader::{Dump, Kernel, LogKind, read_log};

const KTEXT: u64 = 0xffff_ffff_8100_0000;
const VARS: usize = 0x1b_0000;
const BUF: usize = 0x1c_0000;

fn put(m: &mut [u8], at: usize, len: usize, v: u64) {
    m[at..at + len].copy_from_slice(&v.to_le_bytes()[..len]);
}

fn base_info() -> String {
    // Keep the translation keys of the synthetic kernel, drop its printk ring.
    let k = SynthKernel::new(&[], 2, 10);
    k.vmcoreinfo
        .lines()
        .filter(|l| !l.contains("prb") && !l.contains("printk") && !l.contains("dev_printk"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn dmesg(memory: Vec<u8>, info: &str) -> (LogKind, String, Vec<vmcore_reader::LogRecord>) {
    let file = elf_dump(
        elfcorehdr::Target::x86_64(),
        &[(0x100_0000, memory)],
        &vmcoreinfo_note(elfcorehdr::Endian::Little, info),
    );
    let dump = Dump::from_bytes(file).unwrap();
    let log = read_log(&Kernel::new(&dump).unwrap()).unwrap();
    let mut out = Vec::new();
    log.write_dmesg(&mut out).unwrap();
    (log.kind, String::from_utf8(out).unwrap(), log.records)
}

#[test]
fn structured_log_buf_with_wrap_marker() {
    let mut m = SynthKernel::new(&[], 2, 10).memory;
    let buf_len = 512usize;
    // Records: (ts, text, dict), written from index 400, wrapping to 0 after a zero marker.
    let recs: [(u64, &[u8], &[u8]); 4] = [
        (1_500_000_000, b"first", b"SUBSYSTEM=pci"),
        (2_000_001_000, b"second \x02 byte", b""),
        (3_000_000_000, b"after the wrap", b""),
        (4_250_000_000, b"last", b"DEVICE=+pci:0000:00:01.0"),
    ];
    let mut idx = 400usize;
    let first = idx;
    for (n, (ts, text, dict)) in recs.iter().enumerate() {
        let len = (16 + text.len() + dict.len()).div_ceil(8) * 8;
        if n == 2 {
            // No room left: a zero header marks the wrap.
            m[BUF + idx..BUF + idx + 16].fill(0);
            idx = 0;
        }
        let at = BUF + idx;
        put(&mut m, at, 8, *ts);
        put(&mut m, at + 8, 2, len as u64);
        put(&mut m, at + 10, 2, text.len() as u64);
        put(&mut m, at + 12, 2, dict.len() as u64);
        m[at + 15] = 3 << 5;
        m[at + 16..at + 16 + text.len()].copy_from_slice(text);
        m[at + 16 + text.len()..at + 16 + text.len() + dict.len()].copy_from_slice(dict);
        idx += len;
    }
    put(&mut m, VARS, 8, KTEXT + BUF as u64);
    put(&mut m, VARS + 8, 4, buf_len as u64);
    put(&mut m, VARS + 16, 4, first as u64);
    put(&mut m, VARS + 24, 4, idx as u64);
    let info = format!(
        "{}SYMBOL(log_buf)={:x}\nSYMBOL(log_buf_len)={:x}\nSYMBOL(log_first_idx)={:x}\nSYMBOL(log_next_idx)={:x}\n\
         SIZE(printk_log)=16\nOFFSET(printk_log.ts_nsec)=0\nOFFSET(printk_log.len)=8\nOFFSET(printk_log.text_len)=10\n",
        base_info(),
        KTEXT + VARS as u64,
        KTEXT + VARS as u64 + 8,
        KTEXT + VARS as u64 + 16,
        KTEXT + VARS as u64 + 24
    );
    let (kind, text, records) = dmesg(m, &info);
    assert_eq!(kind, LogKind::Structured);
    assert_eq!(
        text,
        "[    1.500000] first\n[    2.000001] second \\x02 byte\n[    3.000000] after the wrap\n[    4.250000] last\n"
    );
    assert_eq!(records[0].dict, vec![b"SUBSYSTEM=pci".to_vec()]);
    assert_eq!(records[3].level, Some(3));
}

#[test]
fn legacy_character_ring() {
    let mut m = SynthKernel::new(&[], 2, 10).memory;
    let buf_len = 64usize;
    // 100 characters written into a 64-byte ring: the last 64 survive, rotated.
    let stream: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
    for (i, &c) in stream.iter().enumerate() {
        m[BUF + i % buf_len] = c;
    }
    put(&mut m, VARS, 8, KTEXT + BUF as u64);
    put(&mut m, VARS + 8, 4, buf_len as u64);
    put(&mut m, VARS + 32, 4, stream.len() as u64);
    let info = format!(
        "{}SYMBOL(log_buf)={:x}\nSYMBOL(log_buf_len)={:x}\nSYMBOL(log_end)={:x}\n",
        base_info(),
        KTEXT + VARS as u64,
        KTEXT + VARS as u64 + 8,
        KTEXT + VARS as u64 + 32
    );
    let (kind, text, _) = dmesg(m, &info);
    assert_eq!(kind, LogKind::Legacy);
    assert_eq!(text.as_bytes(), &stream[36..]);
}
