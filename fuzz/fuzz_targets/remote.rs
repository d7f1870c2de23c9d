//! Arbitrary bytes through the remote write and remote read decoders, as the server feeds them.
//!
//! Decoding must never panic, whatever the bytes (as a snappy block or as a raw protobuf message,
//! as 1.0 or 2.0), and every series a decoded write hands over must have its labels sorted,
//! unique, non-empty and named; the streamed-read frame reader and the XOR chunk decoder get the
//! same bytes.
#![no_main]

use foresight_remote::{Protocol, decode_read, decode_write, decode_write_raw, decode_xor, read_frames};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for protocol in [Protocol::V1, Protocol::V2] {
        let decoded = [
            decode_write(data, protocol, 1 << 20).ok(),
            decode_write_raw(data.to_vec().into(), protocol).ok(),
        ];
        for body in decoded.into_iter().flatten() {
            body.visit(|_, labels, samples| {
                assert!(!samples.is_empty());
                assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "{labels:?}");
                assert!(labels.iter().all(|(n, v)| !n.is_empty() && !v.is_empty()));
                assert!(labels.iter().any(|(n, _)| *n == "__name__"));
            });
        }
    }
    let _ = decode_read(data, 1 << 20);
    let _ = read_frames(data);
    let _ = decode_xor(data);
});
