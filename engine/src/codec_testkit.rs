//! The one round-trip checker shared by every codec test (examples and proptests, Gorilla and
//! columns), plus the input strategies.
//! (Test-only; its own module so that the codecs do not import each other for their tests.)

use crate::chunk::{ChunkDecoder, ChunkEncoder};
use crate::column::*;
use crate::gorilla::{GorillaDecoder, GorillaEncoder};
use proptest::prelude::*;

/// Checks that `samples` round-trip bit for bit through a Gorilla chunk and a head chunk
/// (including snapshots of the open chunk) and through the timestamps and values columns
/// (concatenated, with trailing bytes), and that truncated or corrupted inputs fail without
/// panicking.
pub(crate) fn check_round_trip(samples: &[(i64, f64)]) {
    let gorilla: GorillaEncoder = check_stream(samples);
    // Sealing a Gorilla chunk keeps it readable and appendable.
    let mut sealed = gorilla.clone();
    sealed.shrink_to_fit();
    assert_eq!(sealed.as_bytes(), gorilla.as_bytes());
    sealed.push(1, 1.0);
    assert_eq!(sealed.iter().count(), samples.len() + 1);
    let _: ChunkEncoder = check_stream(samples);
    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    check_columns(&ts, &values);
}

pub(crate) fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The two appendable bit-stream codecs (Gorilla chunks and the head's chunks), as the checker
/// drives them.
pub(crate) trait Stream: Default {
    fn push(&mut self, ts: i64, v: f64);
    fn len(&self) -> usize;
    fn first_ts(&self) -> Option<i64>;
    fn last_ts(&self) -> Option<i64>;
    fn last_value(&self) -> Option<f64>;
    fn as_bytes(&self) -> &[u8];
    fn heap_bytes(&self) -> usize;
    fn decode(bytes: &[u8], count: usize) -> Vec<Result<(i64, f64), CodecError>>;
    fn decode_into(bytes: &[u8], count: usize, ts: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<(), CodecError>;
}

macro_rules! impl_stream {
    ($enc:ty, $dec:ty) => {
        impl Stream for $enc {
            fn push(&mut self, ts: i64, v: f64) {
                <$enc>::push(self, ts, v)
            }
            fn len(&self) -> usize {
                <$enc>::len(self)
            }
            fn first_ts(&self) -> Option<i64> {
                <$enc>::first_ts(self)
            }
            fn last_ts(&self) -> Option<i64> {
                <$enc>::last_ts(self)
            }
            fn last_value(&self) -> Option<f64> {
                <$enc>::last_value(self)
            }
            fn as_bytes(&self) -> &[u8] {
                <$enc>::as_bytes(self)
            }
            fn heap_bytes(&self) -> usize {
                <$enc>::heap_bytes(self)
            }
            fn decode(bytes: &[u8], count: usize) -> Vec<Result<(i64, f64), CodecError>> {
                <$dec>::new(bytes, count).collect()
            }
            fn decode_into(
                bytes: &[u8],
                count: usize,
                ts: &mut Vec<i64>,
                values: &mut Vec<f64>,
            ) -> Result<(), CodecError> {
                <$dec>::new(bytes, count).decode_into(ts, values)
            }
        }
    };
}
impl_stream!(GorillaEncoder, GorillaDecoder<'_>);
impl_stream!(ChunkEncoder, ChunkDecoder<'_>);

/// Pushes `samples` into a new `S`, checking snapshots, truncations and corruptions; returns it.
pub(crate) fn check_stream<S: Stream>(samples: &[(i64, f64)]) -> S {
    let mut enc = S::default();
    for (i, &(ts, v)) in samples.iter().enumerate() {
        enc.push(ts, v);
        assert_eq!(enc.len(), i + 1);
        assert_eq!(enc.last_ts(), Some(ts));
        assert_eq!(enc.last_value().map(f64::to_bits), Some(v.to_bits()));
        if i < 3 || i + 1 == samples.len() {
            let snapshot = enc.as_bytes().to_vec();
            assert_stream_decodes::<S>(&snapshot, &samples[..=i]);
        }
    }
    assert_eq!(enc.first_ts(), samples.first().map(|s| s.0));
    assert_eq!(enc.len() == 0, samples.is_empty());
    assert!(enc.heap_bytes() >= enc.as_bytes().len());
    let bytes = enc.as_bytes().to_vec();
    assert_stream_decodes::<S>(&bytes, samples);
    // A chunk's last byte holds at least one bit of the last sample: any cut fails, and fails
    // once, after the samples that were complete.
    for cut in cuts(bytes.len()) {
        let got = S::decode(&bytes[..cut], samples.len());
        assert!(matches!(got.last(), Some(Err(_))), "cut at {cut} of {}", bytes.len());
        assert!(got[..got.len() - 1].iter().all(Result::is_ok));
        let (mut ts, mut values) = (vec![], vec![]);
        let result = S::decode_into(&bytes[..cut], samples.len(), &mut ts, &mut values);
        assert!(result.is_err());
        assert_eq!((ts.len(), values.len()), (got.len() - 1, got.len() - 1));
    }
    for (i, corrupt) in corruptions(&bytes).enumerate() {
        let got = S::decode(&corrupt, samples.len() + i % 3);
        assert!(got.len() <= samples.len() + i % 3);
        let _ = S::decode_into(&corrupt, samples.len(), &mut vec![], &mut vec![]);
    }
    enc
}

fn assert_stream_decodes<S: Stream>(bytes: &[u8], samples: &[(i64, f64)]) {
    let got: Vec<(i64, u64)> = S::decode(bytes, samples.len())
        .into_iter()
        .map(|r| r.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .expect("decodes");
    let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(got, want);
    let (mut ts, mut values) = (vec![], vec![]);
    S::decode_into(bytes, samples.len(), &mut ts, &mut values).expect("decodes");
    let got: Vec<(i64, u64)> = ts.into_iter().zip(bits(&values)).collect();
    assert_eq!(got, want);
}

fn check_columns(ts: &[i64], values: &[f64]) {
    let mut block = vec![0xee];
    encode_timestamps(ts, &mut block);
    let ts_end = block.len();
    encode_values(values, &mut block);
    let values_end = block.len();
    block.extend_from_slice(&[0xff, 0x00, 0x7f]);

    let mut got_ts = vec![7];
    let used = decode_timestamps(&block[1..], &mut got_ts).expect("timestamps decode");
    assert_eq!(used, ts_end - 1);
    assert_eq!(got_ts[0], 7, "decode appends");
    assert_eq!(&got_ts[1..], ts);
    let mut got_values = vec![];
    let used = decode_values(&block[ts_end..], &mut got_values).expect("values decode");
    assert_eq!(used, values_end - ts_end);
    assert_eq!(bits(&got_values), bits(values));

    // Every strict prefix of a column is rejected, never misread.
    let ts_col = &block[1..ts_end];
    let values_col = &block[ts_end..values_end];
    for cut in cuts(ts_col.len()) {
        assert!(
            decode_timestamps(&ts_col[..cut], &mut Vec::new()).is_err(),
            "ts cut {cut}"
        );
    }
    for cut in cuts(values_col.len()) {
        assert!(
            decode_values(&values_col[..cut], &mut Vec::new()).is_err(),
            "values cut {cut}"
        );
    }
    for corrupt in corruptions(ts_col) {
        let _ = decode_timestamps(&corrupt, &mut Vec::new());
    }
    for corrupt in corruptions(values_col) {
        let _ = decode_values(&corrupt, &mut Vec::new());
    }
}

/// Prefix lengths to try: all of them for short inputs, a spread for long ones.
fn cuts(len: usize) -> Vec<usize> {
    if len <= 64 {
        (0..len).collect()
    } else {
        (0..len).step_by(len / 29).chain([len - 1]).collect()
    }
}

/// Copies of `bytes` with one byte changed, at a spread of positions.
fn corruptions(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let step = (bytes.len() / 16).max(1);
    (0..bytes.len()).step_by(step).flat_map(move |i| {
        [0x01u8, 0x80, 0xff].into_iter().map(move |x| {
            let mut copy = bytes.to_vec();
            copy[i] ^= x;
            copy
        })
    })
}

/// Any `i64` timestamp, extremes favoured.
pub(crate) fn any_ts() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -1_000i64..1_000]
}

/// Any `f64` bit pattern, special values favoured.
pub(crate) fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<u64>().prop_map(f64::from_bits),
        1 => Just(f64::NAN),
        1 => Just(-0.0),
        1 => Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        1 => Just(f64::INFINITY),
        2 => decimal(),
    ]
}

/// Decimal-looking values: 0..6 decimals, magnitudes from tiny to 2^53.
pub(crate) fn decimal() -> impl Strategy<Value = f64> {
    (any::<i64>(), 0u32..6, 1u32..54).prop_map(|(m, e, width)| {
        let m = m % (1i64 << width);
        m as f64 / 10f64.powi(e as i32)
    })
}

/// Samples as the engine sees them: a regular clock with jitter and gaps, and a random walk of
/// decimals with `decimals` digits, sometimes interrupted by special values.
pub(crate) fn realistic() -> impl Strategy<Value = Vec<(i64, f64)>> {
    (
        any::<i64>(),
        1i64..100_000,
        0u32..6,
        prop::collection::vec((0i64..4, -500i64..500, 0u8..100), 0..800),
    )
        .prop_map(|(start, step, decimals, steps)| {
            let start = start >> 2;
            let mut t = start;
            let mut m = 5_000i64;
            let scale = 10f64.powi(decimals as i32);
            steps
                .into_iter()
                .map(|(jitter, dv, special)| {
                    t = t.wrapping_add(step + if jitter == 3 { step * 7 } else { jitter });
                    m += dv;
                    let v = match special {
                        0 => f64::NAN,
                        1 => -0.0,
                        2 => 0.1 + 0.2,
                        _ => m as f64 / scale,
                    };
                    (t, v)
                })
                .collect()
        })
}
