//! The expanding series notation of Prometheus' test files (`promqltest`'s `load`), as
//! `promtool test rules` reads `input_series[].values`: `1 2 3`, `_` (no sample), `stale`,
//! `a+bxn` and `a-bxn` (n+1 values from a, stepping by b), `axn` (a, n+1 times), `_xn` (n+1 gaps).

use foresight_promql::stale_nan;

/// One step of a series: a value, a stale marker (as a value), or nothing.
pub(crate) type Step = Option<f64>;

fn number(s: &str) -> Option<f64> {
    match s {
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok().filter(|_| !s.starts_with(['i', 'I', 'n', 'N'])),
    }
}

/// Most values one series may expand to (a typo like `1x999999999` must not eat the memory).
const MAX_STEPS: u64 = 1_000_000;

/// Expands a values string into steps; errors name the bad item.
pub(crate) fn expand(values: &str) -> Result<Vec<Step>, String> {
    let mut out: Vec<Step> = Vec::new();
    for item in values.split_whitespace() {
        if item.starts_with("{{") {
            return Err(format!("{item:?}: native histograms are not supported"));
        }
        if item == "_" {
            out.push(None);
            continue;
        }
        if item == "stale" {
            out.push(Some(stale_nan()));
            continue;
        }
        let bad = || format!("bad value {item:?} (want a number, `_`, `stale`, `a+bxn`, `a-bxn` or `axn`)");
        let Some((head, times)) = item.rsplit_once('x') else {
            out.push(Some(number(item).ok_or_else(bad)?));
            continue;
        };
        let n: u64 = times.parse().map_err(|_| bad())?;
        if n >= MAX_STEPS || out.len() as u64 + n >= MAX_STEPS {
            return Err(format!("{item:?}: more than {MAX_STEPS} values"));
        }
        if head == "_" {
            out.extend(std::iter::repeat_n(None, n as usize + 1));
            continue;
        }
        // `a+b`, `a-b` (a may itself be signed or in exponent form), or `a`.
        let split = head
            .char_indices()
            .skip(1)
            .filter(|&(i, c)| (c == '+' || c == '-') && !head[..i].ends_with(['e', 'E']))
            .last();
        let (start, step) = match split {
            Some((i, sign)) => {
                let a = number(&head[..i]).ok_or_else(bad)?;
                let b = number(&head[i + 1..]).ok_or_else(bad)?;
                (a, if sign == '-' { -b } else { b })
            }
            None => (number(head).ok_or_else(bad)?, 0.0),
        };
        let mut v = start;
        for _ in 0..=n {
            out.push(Some(v));
            v += step;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use foresight_promql::is_stale_nan;

    use super::*;

    #[test]
    fn expands_the_notation() {
        let e = |s: &str| expand(s).unwrap();
        assert_eq!(e("1 2 3"), [Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(e("0+10x3"), [Some(0.0), Some(10.0), Some(20.0), Some(30.0)]);
        assert_eq!(e("1-2x2"), [Some(1.0), Some(-1.0), Some(-3.0)]);
        assert_eq!(e("-1+1x1"), [Some(-1.0), Some(0.0)]);
        assert_eq!(e("1e3+1e2x1"), [Some(1000.0), Some(1100.0)]);
        assert_eq!(e("5x2"), [Some(5.0); 3]);
        assert_eq!(e("_ 1 _x1"), [None, Some(1.0), None, None]);
        assert!(is_stale_nan(e("stale")[0].unwrap()));
        assert!(e("NaN")[0].unwrap().is_nan());
        assert_eq!(e("+Inf -Inf"), [Some(f64::INFINITY), Some(f64::NEG_INFINITY)]);
        assert_eq!(e(""), []);
        for bad in ["a", "1+x3", "1+2xa", "1x99999999999", "{{schema:1}}", "nanx2x"] {
            assert!(expand(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_values_never_panic(text in "[0-9x+\\-_. eEa-z]{0,30}") {
            let _ = expand(&text);
        }
    }
}
