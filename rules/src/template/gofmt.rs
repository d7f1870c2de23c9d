//! Go's number formatting, as Prometheus' templates print through it: `%v` of a float64 (shortest
//! `%g`: 2000000 is `2e+06`), `%.4g` (what `humanize` uses), and the `printf` verbs.

/// A float's decimal digits (no leading or trailing zeros) and the decimal point's position:
/// the value is `0.DIGITS × 10^dp`. Zero has no digits. `sig`: round to that many significant
/// digits; `None`: the shortest digits that read back to the same float.
fn digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (Vec::new(), 0);
    }
    let s = match sig {
        Some(n) => format!("{:.*e}", n.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp + 1)
}

/// Go's `fmtE`: `d.ddde±xx` with `prec` digits after the point.
fn fmt_e(out: &mut String, d: &[u8], dp: i32, prec: usize, upper: bool) {
    out.push(d.first().map_or('0', |&c| char::from(c)));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.get(i).map_or('0', |&c| char::from(c)));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

/// Go's `fmtF`: `ddd.ddd` with `prec` digits after the point.
fn fmt_f(out: &mut String, d: &[u8], dp: i32, prec: usize) {
    let at = |j: i64| -> char {
        usize::try_from(j)
            .ok()
            .and_then(|j| d.get(j))
            .map_or('0', |&c| char::from(c))
    };
    if dp > 0 {
        for j in 0..i64::from(dp) {
            out.push(at(j));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(at(i64::from(dp) + i as i64 - 1));
        }
    }
}

/// `strconv.FormatFloat(v, verb, prec, 64)` for verbs `e E f F g G`; `prec` `None` is Go's -1
/// (shortest). Infinities and NaN are `+Inf`, `-Inf`, `NaN`.
pub(crate) fn format_float(v: f64, verb: char, prec: Option<usize>) -> String {
    // Rust's formatter panics past u16::MAX digits; nobody asks for more than this.
    let prec = prec.map(|p| p.min(10_000));
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let upper = verb.is_ascii_uppercase();
    match verb.to_ascii_lowercase() {
        'e' => {
            let (d, dp) = digits(v, prec.map(|p| p + 1));
            let p = prec.unwrap_or(d.len().saturating_sub(1));
            fmt_e(&mut out, &d, dp, p, upper);
        }
        'f' => {
            let (d, dp) = match prec {
                // Round at a fixed decimal position: let Rust do it, then read the digits back.
                Some(p) => {
                    let s = format!("{:.*}", p, v.abs());
                    out.push_str(&s);
                    return out;
                }
                None => digits(v, None),
            };
            let p = usize::try_from(i64::try_from(d.len()).unwrap_or(0) - i64::from(dp)).unwrap_or(0);
            fmt_f(&mut out, &d, dp, p);
        }
        _ => {
            // %g: Go's rules for when to switch to the exponent form.
            let shortest = prec.is_none();
            let sig = prec.map(|p| p.max(1));
            let (d, dp) = digits(v, sig);
            let nd = d.len();
            let mut prec = sig.unwrap_or(nd);
            let mut eprec = prec;
            if eprec > nd && i64::try_from(nd).unwrap_or(0) >= i64::from(dp) {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            let eprec = i32::try_from(eprec).unwrap_or(i32::MAX);
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                fmt_e(&mut out, &d, dp, prec.saturating_sub(1), upper);
            } else {
                if i64::try_from(prec).unwrap_or(0) > i64::from(dp) {
                    prec = nd;
                }
                let p = usize::try_from(i64::try_from(prec).unwrap_or(0) - i64::from(dp)).unwrap_or(0);
                fmt_f(&mut out, &d, dp, p);
            }
        }
    }
    out
}

/// Go's `%v` of a float64 (`2e+06`, `0.5`, `+Inf`): how `{{ $value }}` prints.
pub fn go_float(v: f64) -> String {
    format_float(v, 'g', None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_v_as_go_prints_it() {
        let cases = [
            (2_000_000.0, "2e+06"),
            (0.5, "0.5"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.0, "0"),
            (-0.0, "-0"),
            (-1.5, "-1.5"),
            (100.0, "100"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (v, want) in cases {
            assert_eq!(go_float(v), want, "{v}");
        }
    }

    #[test]
    fn precision_verbs() {
        let cases = [
            (100_000.0, 'g', 4, "1e+05"),
            (123.0, 'g', 4, "123"),
            (1234.5678, 'g', 4, "1235"),
            (12.345, 'g', 4, "12.35"),
            (0.0, 'g', 4, "0"),
            (1.0, 'g', 4, "1"),
            (0.000_012_34, 'g', 4, "1.234e-05"),
            (12.3456, 'f', 2, "12.35"),
            (2.5, 'f', 0, "2"),
            (1234.5, 'e', 2, "1.23e+03"),
            (0.0, 'e', 3, "0.000e+00"),
            (1.0, 'f', 6, "1.000000"),
        ];
        for (v, verb, p, want) in cases {
            assert_eq!(format_float(v, verb, Some(p)), want, "{v} %.{p}{verb}");
        }
        assert_eq!(format_float(1e6, 'e', None), "1e+06");
        assert_eq!(format_float(1e21, 'f', None), "1000000000000000000000");
        assert_eq!(format_float(0.25, 'f', None), "0.25");
    }
}
