#![no_main]
//! Codec fuzzing: arbitrary bytes into the Gorilla decoder, the head's chunk decoder (decimal and
//! XOR modes) and the block column decoders (which must return errors, never panic), and
//! arbitrary samples through each encode -> decode (which must round-trip bit for bit).
//!
//! `cargo fuzz run gorilla` from the repository root.

use foresight_engine::chunk::{ChunkDecoder, ChunkEncoder};
use foresight_engine::column::{decode_timestamps, decode_values, encode_timestamps, encode_values};
use foresight_engine::gorilla::{GorillaDecoder, GorillaEncoder};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => decode_garbage(rest),
        1 => round_trip(rest),
        _ => {
            // Both: garbage first, then the same bytes as samples.
            decode_garbage(rest);
            round_trip(rest);
        }
    }
});

fn decode_garbage(data: &[u8]) {
    // The sample count comes from the first two bytes.
    let (count, bytes) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    let mut n = 0;
    for sample in GorillaDecoder::new(bytes, count) {
        n += 1;
        if sample.is_err() {
            break;
        }
    }
    assert!(n <= count);
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    let _ = GorillaDecoder::new(bytes, count).decode_into(&mut ts, &mut values);
    assert!(ts.len() <= count && ts.len() == values.len());

    let mut n = 0;
    for sample in ChunkDecoder::new(bytes, count) {
        n += 1;
        if sample.is_err() {
            break;
        }
    }
    assert!(n <= count);
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    let _ = ChunkDecoder::new(bytes, count).decode_into(&mut ts, &mut values);
    assert!(ts.len() <= count && ts.len() == values.len());

    let mut ts = Vec::new();
    if let Ok(used) = decode_timestamps(data, &mut ts) {
        assert!(used <= data.len());
    }
    let mut values = Vec::new();
    if let Ok(used) = decode_values(data, &mut values) {
        assert!(used <= data.len());
    }
}

/// Reads the bytes as (i64 timestamp, f64 value) pairs, or, with a zero first byte, as small
/// timestamp jitters and decimal steps (so that the decimal column paths get exercised too).
fn round_trip(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let samples: Vec<(i64, f64)> = if mode == 0 {
        let mut t = 1_700_000_000_000i64;
        let mut m = 0i64;
        rest.chunks_exact(2)
            .map(|c| {
                t += 10_000 + i64::from(c[0] as i8 % 4);
                m += i64::from(c[1] as i8);
                let v = if c[1] == 0x80 { f64::NAN } else { m as f64 / 100.0 };
                (t, v)
            })
            .collect()
    } else {
        rest.chunks_exact(16)
            .map(|c| {
                let mut t = [0u8; 8];
                let mut v = [0u8; 8];
                t.copy_from_slice(&c[..8]);
                v.copy_from_slice(&c[8..]);
                (i64::from_le_bytes(t), f64::from_le_bytes(v))
            })
            .collect()
    };

    let mut enc = GorillaEncoder::new();
    for &(t, v) in &samples {
        enc.push(t, v);
    }
    let decoded: Vec<(i64, u64)> = GorillaDecoder::new(enc.as_bytes(), enc.len())
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(decoded, want, "gorilla round trip");

    let mut chunk = ChunkEncoder::new();
    for &(t, v) in &samples {
        chunk.push(t, v);
    }
    let decoded: Vec<(i64, u64)> = ChunkDecoder::new(chunk.as_bytes(), chunk.len())
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    assert_eq!(decoded, want, "head chunk round trip");
    let (mut ts2, mut values2) = (Vec::new(), Vec::new());
    ChunkDecoder::new(chunk.as_bytes(), chunk.len())
        .decode_into(&mut ts2, &mut values2)
        .expect("a chunk just encoded decodes");
    let got: Vec<(i64, u64)> = ts2.iter().zip(&values2).map(|(t, v)| (*t, v.to_bits())).collect();
    assert_eq!(got, want, "head chunk decode_into");

    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let mut block = Vec::new();
    encode_timestamps(&ts, &mut block);
    let ts_len = block.len();
    encode_values(&values, &mut block);
    let (mut ts2, mut values2) = (Vec::new(), Vec::new());
    assert_eq!(decode_timestamps(&block, &mut ts2), Ok(ts_len));
    assert_eq!(decode_values(&block[ts_len..], &mut values2), Ok(block.len() - ts_len));
    assert_eq!(ts2, ts, "timestamps column round trip");
    let got: Vec<u64> = values2.iter().map(|v| v.to_bits()).collect();
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want, "values column round trip");
}
