//! The credential a request presents, in every form existing clients send it:
//!
//! - `Authorization: Token <t>` (InfluxDB 2.x clients),
//! - `Authorization: Bearer <t>` (Prometheus remote write's `authorization`, Grafana, the web UI),
//! - `Authorization: Basic base64(user:token)`: the token is the password, any user (Grafana,
//!   promtool's `--http.config.file`, InfluxDB 1.x clients),
//! - `?u=<user>&p=<token>` on the InfluxDB 1.x paths only (`/write`, `/query`), where 1.x clients
//!   put it; anywhere else a token in the URL would end up in access logs and browser history.
//!
//! Parsing never fails loudly: what is not a well-formed credential is [`Credential::Malformed`]
//! and answered like a wrong token (401), so the answer says nothing about which part was wrong.

/// What a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// No credential at all.
    Missing,
    /// A token, in any of the accepted forms.
    Token(String),
    /// An `Authorization` header (or `u`/`p` pair) that is not a credential form we read.
    Malformed,
}

/// Longest token accepted: ours are 68 characters; anything far longer is not one of ours and
/// is not worth hashing.
const MAX_TOKEN_LEN: usize = 256;

/// The credential of a request from its `Authorization` header (raw bytes) and, on the InfluxDB
/// 1.x paths (`influx_v1`), its query string. A header wins over the query string.
pub fn parse_credential(authorization: Option<&[u8]>, query: Option<&str>, influx_v1: bool) -> Credential {
    if let Some(h) = authorization {
        return from_header(h);
    }
    if influx_v1 && let Some(q) = query {
        let mut password = None;
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if k == "p" {
                password = Some(v.into_owned());
            }
        }
        if let Some(p) = password {
            return token(p.as_bytes());
        }
    }
    Credential::Missing
}

fn from_header(h: &[u8]) -> Credential {
    let Ok(h) = std::str::from_utf8(h) else {
        return Credential::Malformed;
    };
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        token(rest.as_bytes())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let Some(decoded) = base64_decode(rest.as_bytes()) else {
            return Credential::Malformed;
        };
        // `user:password`; the user is ignored (a token names its tenant itself).
        match decoded.iter().position(|&b| b == b':') {
            Some(i) => token(&decoded[i + 1..]),
            None => Credential::Malformed,
        }
    } else {
        Credential::Malformed
    }
}

/// A token's text: printable ASCII without spaces, not empty, not overlong.
fn token(t: &[u8]) -> Credential {
    if t.is_empty() || t.len() > MAX_TOKEN_LEN || !t.iter().all(|b| b.is_ascii_graphic()) {
        return Credential::Malformed;
    }
    // Only ASCII passed the check above, so this is valid UTF-8.
    match std::str::from_utf8(t) {
        Ok(s) => Credential::Token(s.to_owned()),
        Err(_) => Credential::Malformed,
    }
}

/// Standard base64 (RFC 4648, padding optional), as HTTP Basic uses; `None` when it is not.
fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let input = match input.iter().position(|&b| b == b'=') {
        Some(i) if input[i..].iter().all(|&b| b == b'=') && input.len() - i <= 2 => &input[..i],
        Some(_) => return None,
        None => input,
    };
    if input.len() % 4 == 1 || input.len() > 4 * MAX_TOKEN_LEN {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tok(s: &str) -> Credential {
        Credential::Token(s.to_owned())
    }

    /// Standard base64 with padding, for the tests.
    fn b64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for chunk in data.chunks(3) {
            let n = chunk.len();
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= n {
                    s.push(A[((v >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    #[test]
    fn every_form_clients_send() {
        assert_eq!(parse_credential(Some(b"Token fst_abc"), None, false), tok("fst_abc"));
        assert_eq!(parse_credential(Some(b"Bearer fst_abc"), None, false), tok("fst_abc"));
        assert_eq!(parse_credential(Some(b"bearer  fst_abc "), None, false), tok("fst_abc"));
        let basic = format!("Basic {}", b64(b"grafana:fst_abc"));
        assert_eq!(parse_credential(Some(basic.as_bytes()), None, false), tok("fst_abc"));
        let no_user = format!("Basic {}", b64(b":fst_abc"));
        assert_eq!(parse_credential(Some(no_user.as_bytes()), None, false), tok("fst_abc"));
        assert_eq!(
            parse_credential(None, Some("db=x&u=me&p=fst_abc"), true),
            tok("fst_abc")
        );
        assert_eq!(parse_credential(None, Some("u=me&p=fst%5Fabc"), true), tok("fst_abc"));
    }

    #[test]
    fn query_credentials_only_on_influx_v1_paths() {
        assert_eq!(
            parse_credential(None, Some("u=me&p=fst_abc"), false),
            Credential::Missing
        );
        assert_eq!(parse_credential(None, Some("db=x"), true), Credential::Missing);
        assert_eq!(parse_credential(None, None, true), Credential::Missing);
    }

    #[test]
    fn malformed_forms() {
        for h in [
            &b"Digest x"[..],
            b"Token",
            b"Bearer ",
            b"Bearer a b",
            b"Basic !!!!",
            b"Basic Zm9v", // "foo": no colon
            b"\xff\xfe",
        ] {
            assert_eq!(parse_credential(Some(h), None, false), Credential::Malformed, "{h:?}");
        }
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(
            parse_credential(Some(long.as_bytes()), None, false),
            Credential::Malformed
        );
        assert_eq!(parse_credential(None, Some("p="), true), Credential::Malformed);
    }

    proptest! {
        #[test]
        fn basic_round_trips(user in "[ -~]{0,20}", t in "[!-~]{1,100}") {
            prop_assume!(!user.contains(':'));
            let h = format!("Basic {}", b64(format!("{user}:{t}").as_bytes()));
            prop_assert_eq!(parse_credential(Some(h.as_bytes()), None, false), tok(&t));
        }

        #[test]
        fn never_panics(h in proptest::collection::vec(any::<u8>(), 0..300), q in ".{0,100}") {
            let _ = parse_credential(Some(&h), Some(&q), true);
            let _ = parse_credential(None, Some(&q), true);
        }
    }
}
