//! The credential parsing of every request (`Authorization` header and InfluxDB 1.x `?u=&p=`):
//! any bytes must parse without panicking, and a token that comes out is always printable ASCII.
#![no_main]

use foresight_auth::{Credential, parse_credential};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: where the header ends and the query string begins, and whether the path is an
    // InfluxDB 1.x one.
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(ctl >> 1).min(rest.len());
    let (header, query) = rest.split_at(split);
    let query = std::str::from_utf8(query).ok();
    for h in [Some(header), None] {
        if let Credential::Token(t) = parse_credential(h, query, ctl & 1 == 1) {
            assert!(!t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()), "{t:?}");
        }
    }
});
