//! Property tests: canonical text round-trips, nothing panics, and on valid
//! generated command lines the evaluator agrees with a second model written
//! directly from the grammar in `shared/reference/crashkernel.md`.

use crashkernel_param::{
    Arch, CrashKernel, Failure, KernelVersion, Target, evaluate, evaluate_value,
};
use proptest::prelude::*;

const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

/// A size spelled one of the ways `memparse` reads.
fn spelled(v: u64) -> impl Strategy<Value = String> {
    let mut forms = vec![
        Just(format!("{v}")).boxed(),
        Just(format!("{v:#x}")).boxed(),
    ];
    for (shift, unit) in [(10, "K"), (20, "m"), (30, "G"), (40, "T")] {
        if v != 0 && v.trailing_zeros() >= shift {
            forms.push(Just(format!("{}{unit}", v >> shift)).boxed());
        }
    }
    if v != 0 {
        forms.push(Just(format!("0{v:o}")).boxed());
    }
    proptest::strategy::Union::new(forms)
}

fn any_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0u64..64).prop_map(|m| m * 16 * M),
        (1u64..4096).prop_map(|k| k << 10),
        any::<u32>().prop_map(u64::from),
    ]
}

/// A structured token, the input of the model.
#[derive(Debug, Clone)]
enum Token {
    Simple {
        size: u64,
        offset: Option<u64>,
    },
    Ranges {
        entries: Vec<(u64, Option<u64>, u64)>,
        offset: Option<u64>,
    },
    High(u64),
    Low(u64),
    Cma(u64),
    Noise(&'static str),
}

fn token() -> impl Strategy<Value = Token> {
    let offset = prop_oneof![
        Just(None),
        Just(Some(0)),
        (0u64..64).prop_map(|m| Some(m * 8 * M))
    ];
    let entry = (0u64..32, prop::option::of(1u64..32), any_size()).prop_map(|(s, len, size)| {
        let start = s * G;
        (start, len.map(|l| start + l * G), size)
    });
    prop_oneof![
        3 => (any_size(), offset.clone()).prop_map(|(size, offset)| Token::Simple { size, offset }),
        3 => (prop::collection::vec(entry, 1..5), offset).prop_map(|(entries, offset)| Token::Ranges { entries, offset }),
        2 => any_size().prop_map(Token::High),
        1 => any_size().prop_map(Token::Low),
        1 => any_size().prop_map(Token::Cma),
        1 => prop::sample::select(vec!["quiet", "root=/dev/sda1", "ro", "console=ttyS0,115200"]).prop_map(Token::Noise),
    ]
}

/// Renders a token with each number spelled at random.
fn rendered(t: Token) -> BoxedStrategy<String> {
    let num = |v: u64| spelled(v).boxed();
    let at = |o: Option<u64>| match o {
        None => Just(String::new()).boxed(),
        Some(o) => num(o).prop_map(|s| format!("@{s}")).boxed(),
    };
    match t {
        Token::Simple { size, offset } => (num(size), at(offset))
            .prop_map(|(s, o)| format!("crashkernel={s}{o}"))
            .boxed(),
        Token::Ranges { entries, offset } => {
            let parts: Vec<BoxedStrategy<String>> = entries
                .into_iter()
                .map(|(start, end, size)| {
                    let end = match end {
                        None => Just(String::new()).boxed(),
                        Some(e) => num(e),
                    };
                    (num(start), end, num(size))
                        .prop_map(|(a, b, c)| format!("{a}-{b}:{c}"))
                        .boxed()
                })
                .collect();
            (parts, at(offset))
                .prop_map(|(p, o)| format!("crashkernel={}{o}", p.join(",")))
                .boxed()
        }
        Token::High(s) => num(s).prop_map(|s| format!("crashkernel={s},high")).boxed(),
        Token::Low(s) => num(s).prop_map(|s| format!("crashkernel={s},low")).boxed(),
        Token::Cma(s) => num(s).prop_map(|s| format!("crashkernel={s},cma")).boxed(),
        Token::Noise(n) => Just(n.to_string()).boxed(),
    }
}

fn cmdline() -> impl Strategy<Value = (Vec<Token>, String)> {
    prop::collection::vec(token(), 0..5).prop_flat_map(|tokens| {
        let parts: Vec<BoxedStrategy<String>> = tokens.iter().cloned().map(rendered).collect();
        (Just(tokens), parts.prop_map(|p| p.join(" ")))
    })
}

/// size, base, high, low, cma — or the failure kind.
type Outcome = Result<(u64, Option<u64>, bool, Option<u64>, Option<u64>), &'static str>;

/// What the newest x86_64 kernel does, written from the grammar alone.
fn model(tokens: &[Token], ram: u64) -> Outcome {
    let last = |f: fn(&Token) -> Option<u64>| tokens.iter().rev().find_map(f);
    let cma = last(|t| {
        if let Token::Cma(s) = t {
            Some(*s)
        } else {
            None
        }
    })
    .filter(|&s| s != 0);
    let plain = tokens
        .iter()
        .rev()
        .find(|t| matches!(t, Token::Simple { .. } | Token::Ranges { .. }));
    let Some(plain) = plain else {
        let Some(high) = last(|t| {
            if let Token::High(s) = t {
                Some(*s)
            } else {
                None
            }
        }) else {
            return Err("absent");
        };
        if high == 0 {
            return Err("zero");
        }
        let low = last(|t| {
            if let Token::Low(s) = t {
                Some(*s)
            } else {
                None
            }
        })
        .unwrap_or(256 * M);
        if high >= ram {
            return Err("too_large");
        }
        return Ok((high, None, true, (low != 0).then_some(low), cma));
    };
    let (size, offset) = match plain {
        Token::Simple { size, offset } => (*size, *offset),
        Token::Ranges { entries, offset } => {
            let total = ram.div_ceil(128 * M) * 128 * M;
            let mut found = None;
            for &(start, end, size) in entries {
                if size >= total {
                    return Err("too_large");
                }
                if start <= total && end.is_none_or(|e| total < e) {
                    found = Some(size);
                    break;
                }
            }
            (found.ok_or("no_match")?, *offset)
        }
        _ => unreachable!(),
    };
    if size == 0 {
        return Err("zero");
    }
    if size >= ram {
        return Err("too_large");
    }
    let base = offset.filter(|&o| o != 0);
    if base.is_some_and(|b| b % (16 * M) != 0) {
        return Err("misaligned");
    }
    Ok((size, base, false, None, cma))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn evaluation_agrees_with_the_grammar_model((tokens, line) in cmdline(), ram in (1u64..256).prop_map(|g| g * 256 * M)) {
        let got = evaluate(&line, ram, Target::newest(Arch::X86_64))
            .map(|r| (r.size, r.base, r.high, r.low_size, r.cma_size))
            .map_err(|f| f.kind());
        prop_assert_eq!(got, model(&tokens, ram), "line {:?}", line);
    }

    #[test]
    fn canonical_text_round_trips((_, line) in cmdline()) {
        for token in line.split(' ').filter(|t| t.starts_with("crashkernel=")) {
            let ck = CrashKernel::parse(token).unwrap();
            let canonical = ck.to_string();
            let again = CrashKernel::parse(&canonical).unwrap();
            prop_assert_eq!(again, ck, "{} -> {}", token, canonical);
            prop_assert_eq!(again.to_string(), canonical);
        }
    }

    #[test]
    fn edits_add_the_delta_to_every_size((_, line) in cmdline(), delta in 0i64..(1 << 32)) {
        for token in line.split(' ').filter(|t| t.starts_with("crashkernel=")) {
            let ck = CrashKernel::parse(token).unwrap();
            let edited = ck.with_delta(delta).unwrap().to_string();
            let back = CrashKernel::parse(&edited).unwrap().with_delta(-delta).unwrap().to_string();
            prop_assert_eq!(back, ck.to_string());
        }
    }

    #[test]
    fn no_input_panics(text in ".{0,80}", bytes in prop::collection::vec(any::<u8>(), 0..80), ram in any::<u64>(), arch in 0usize..8, major in 3u16..8, minor in 0u16..20) {
        let target = Target::new(Arch::ALL[arch], KernelVersion::new(major, minor));
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        for s in [&text, &lossy] {
            for r in [evaluate(s, ram, target), evaluate_value(s, ram, target)] {
                if let Err(Failure::Malformed(m)) = r {
                    prop_assert!(m.pos <= s.len());
                }
            }
            if let Ok(ck) = CrashKernel::parse(s) {
                let _ = ck.to_string();
            }
        }
    }
}
