//! Finds where a query stops being valid PromQL, for error messages: the parser we use reports
//! some syntax errors without a position, so we look for the first token after which no simple
//! completion of the query parses.

/// A token of the query with its byte offset.
struct Tok {
    start: usize,
    end: usize,
}

fn tokenize(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(b' ');
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'#' {
            while i < b.len() && b.get(i) != Some(&b'\n') {
                i += 1;
            }
            continue;
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() {
                let d = b.get(i).copied().unwrap_or(c);
                if d == b'\\' && c != b'`' {
                    i += 2;
                    continue;
                }
                i += 1;
                if d == c {
                    break;
                }
            }
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b':' || c == b'.' {
            while i < b.len()
                && b.get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == b'_' || *d == b':' || *d == b'.')
            {
                i += 1;
            }
        } else if i + 1 < b.len()
            && matches!(
                (c, b.get(i + 1).copied().unwrap_or(0)),
                (b'=', b'=') | (b'!', b'=') | (b'>', b'=') | (b'<', b'=') | (b'=', b'~') | (b'!', b'~')
            )
        {
            i += 2;
        } else {
            i += 1;
            // Keep whole UTF-8 characters together.
            while i < b.len() && !s.is_char_boundary(i) {
                i += 1;
            }
        }
        out.push(Tok {
            start,
            end: i.min(b.len()),
        });
    }
    out
}

/// Closing brackets for the brackets left open in `s`.
fn closers(s: &str) -> String {
    let mut stack = Vec::new();
    let mut in_str: Option<char> = None;
    let mut esc = false;
    for c in s.chars() {
        if let Some(q) = in_str {
            if esc {
                esc = false;
            } else if c == '\\' && q != '`' {
                esc = true;
            } else if c == q {
                in_str = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => in_str = Some(c),
            '(' => stack.push(')'),
            '[' => stack.push(']'),
            '{' => stack.push('}'),
            ')' | ']' | '}' if stack.pop() != Some(c) => {
                return "\u{0}".to_string(); // unbalanced: nothing can complete this
            }
            _ => {}
        }
    }
    let mut out = String::new();
    if let Some(q) = in_str {
        out.push(q);
    }
    out.extend(stack.iter().rev());
    out
}

const COMPLETIONS: &[&str] = &[
    "", " x", " 1", " x[1m]", "[1m]", "\"a\"", "=\"a\"", " 5m", "m", ":1m", "1m", " (a) x", "(x)", " x)", " bool x",
];

fn completable(prefix: &str) -> bool {
    COMPLETIONS.iter().any(|c| {
        let mut q = String::with_capacity(prefix.len() + 8);
        q.push_str(prefix);
        q.push_str(c);
        let close = closers(&q);
        if close.contains('\u{0}') {
            return false;
        }
        q.push_str(&close);
        // The completion may itself make an out-of-range duration (`[99999999999` + `m`).
        crate::engine::check_shape(&q).is_ok() && crate::engine::parse_caught(&q).is_ok()
    })
}

/// Byte offset of the first offending token and its text, or the end of input (`None`).
pub(crate) fn locate(query: &str) -> (usize, Option<String>) {
    let toks = tokenize(query);
    if toks.len() > 300 {
        return (query.len(), None);
    }
    for t in &toks {
        let prefix = query.get(..t.end).unwrap_or(query);
        if !completable(prefix) {
            let text = query.get(t.start..t.end).unwrap_or("").to_string();
            return (t.start, Some(text));
        }
    }
    (query.len(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bad_token() {
        assert_eq!(locate("foo + )").0, 6);
        assert_eq!(locate("sum(rate(x[5m])").0, 15);
        assert_eq!(locate("foo +").0, 5);
        assert_eq!(locate("a b").0, 2);
    }
}
