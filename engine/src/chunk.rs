//! The head's open chunks: the bit stream every series appends its samples to, in memory only.
//!
//! Timestamps are coded as in Gorilla ([`crate::gorilla`]: the first one whole, then deltas of
//! deltas, one bit for a regular clock). Values are coded in one of two modes:
//!
//! - **decimal**, while the values are short decimals `m / 10^e` (what most gauges and counters
//!   are): the difference of consecutive mantissas `m`, zigzagged, as a Rice code whose parameter
//!   follows a running mean of the codes, so a random walk of 2-decimal values costs about as many
//!   bits as its increments' entropy (~9 bits a sample against Gorilla XOR's ~60, whose XOR of
//!   decimal fractions is noise). A value with up to four more digits widens the scale for the rest
//!   of the chunk; any other value (NaN, a stale marker, `-0.0`, an infinity, `0.1 + 0.2`) is
//!   kept as its 64 bits.
//! - **XOR**, Gorilla's float coding, for chunks whose first value is not a short decimal, and from
//!   the second of two consecutive non-decimal values on.
//!
//! As with Gorilla, the encoder appends in place and a copy of [`ChunkEncoder::as_bytes`] together
//! with [`ChunkEncoder::len`] decodes to exactly the samples pushed so far; every `i64` timestamp
//! sequence and every `f64` bit pattern round-trips. The layout is in `docs/format.md` ("Head
//! chunks"); it is never written to disk (the WAL holds samples, blocks hold columns), so it may
//! change between builds.

use crate::column::{MAX_SCALE, POW10, min_scale, rescale, scaled};
use crate::gorilla::{
    CodecError, Cursor, TimeWriter, XorState, read_first_ts, sample_iterator, stream_accessors, unzigzag, zigzag,
};

/// The Rice code of decimal mode that announces something else than a mantissa delta.
const ESCAPE: u64 = 1;

/// The Rice code of a mantissa delta: 0 for an unchanged value (one bit in a constant series),
/// `zigzag(d) + 1` otherwise, so that [`ESCAPE`] is never one. Mantissas are within ±2^53, so
/// `d` is within ±2^54 and the code below 2^56.
#[inline]
fn delta_code(d: i64) -> u64 {
    if d == 0 { 0 } else { zigzag(d) + 1 }
}

/// After an escape code: the value's 64 bits follow (decimal mode continues).
const ESC_RAW: u64 = 0;
/// After an escape code: a larger scale (5 bits), then the mantissa delta as a length and bits.
const ESC_RESCALE: u64 = 1;
/// After an escape code: the value as an XOR code against the previous value; XOR mode from here.
const ESC_XOR: u64 = 2;
const ESC_BITS: u32 = 2;
const SCALE_BITS: u32 = 5;
/// Bit length of a zigzagged mantissa or mantissa delta (at most 55 bits, since `|m| <= 2^53`).
const LEN_BITS: u32 = 6;

/// A value that needs more than this many extra digits is kept as bits rather than widening the
/// scale of every later delta.
const MAX_RESCALE_DIGITS: usize = 4;

/// The running mean of Rice codes is kept times `2^MEAN_SHIFT` (an exponential mean over about
/// `2^MEAN_SHIFT` samples).
const MEAN_SHIFT: u32 = 3;
/// The mean a chunk starts with: codes of about 16 (mantissa steps of about 8).
const MEAN_START: u64 = 16 << MEAN_SHIFT;
const MEAN_MAX: u64 = 1 << 60;
/// Largest Rice parameter used (codes are below 2^56).
const MAX_K: u32 = 54;

/// The Rice parameter for a running mean: `floor(log2(mean))`, about the optimum for geometric
/// and uniform residuals alike.
#[inline]
fn rice_k(mean: u64) -> u32 {
    (63 - ((mean >> MEAN_SHIFT) | 1).leading_zeros()).min(MAX_K)
}

#[inline]
fn update_mean(mean: u64, code: u64) -> u64 {
    (mean - (mean >> MEAN_SHIFT)).saturating_add(code).min(MEAN_MAX)
}

/// How values are being coded, and the state each mode carries from sample to sample.
#[derive(Debug, Clone, Copy)]
enum Values {
    Decimal(Decimal),
    Xor(XorState),
}

/// The state of decimal mode.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    /// Decimal scale `e` of the mantissas (`<= MAX_SCALE`).
    scale: u8,
    /// Whether the previous value was kept as bits (two in a row switch to XOR).
    exception: bool,
    /// The last decimal value's mantissa at `scale` (an exception does not change it).
    mantissa: i64,
    /// Running mean of the Rice codes, times `2^MEAN_SHIFT`.
    mean: u64,
}

impl Decimal {
    fn new(scale: usize, mantissa: i64) -> Self {
        Decimal {
            scale: scale as u8,
            exception: false,
            mantissa,
            mean: MEAN_START,
        }
    }
}

impl Default for Values {
    fn default() -> Self {
        Values::Xor(XorState::default())
    }
}

/// Appends samples to an open head chunk. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct ChunkEncoder {
    t: TimeWriter,
    last_bits: u64,
    values: Values,
}

impl ChunkEncoder {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a sample. Any `i64` sequence and any `f64` bit pattern round-trips exactly.
    pub fn push(&mut self, ts: i64, value: f64) {
        let bits = value.to_bits();
        if self.t.begin(ts) {
            let w = &mut self.t.w;
            self.values = match min_scale(value, 0) {
                Some((scale, m)) => {
                    let z = zigzag(m);
                    let len = 64 - z.leading_zeros();
                    w.write(
                        1 | ((scale as u64) << 1) | (u64::from(len) << (1 + SCALE_BITS)),
                        1 + SCALE_BITS + LEN_BITS,
                    );
                    w.write(z, len);
                    Values::Decimal(Decimal::new(scale, m))
                }
                None => {
                    w.write(0, 1);
                    w.write(bits, 64);
                    Values::Xor(XorState::new(bits))
                }
            };
        } else {
            self.push_value(value, bits);
        }
        self.t.end(ts);
        self.last_bits = bits;
    }

    #[inline]
    fn push_value(&mut self, value: f64, bits: u64) {
        let w = &mut self.t.w;
        let Values::Decimal(Decimal {
            scale,
            exception,
            mantissa,
            mean,
        }) = &mut self.values
        else {
            if let Values::Xor(x) = &mut self.values {
                x.encode(w, bits);
            }
            return;
        };
        let k = rice_k(*mean);
        if let Some(m) = scaled(value, usize::from(*scale)) {
            let code = delta_code(m - *mantissa);
            w.write_rice(code, k);
            *mantissa = m;
            *mean = update_mean(*mean, code);
            *exception = false;
            return;
        }
        w.write_rice(ESCAPE, k);
        let wider = min_scale(value, usize::from(*scale)).and_then(|(e, m)| {
            let digits = e
                .checked_sub(usize::from(*scale))
                .filter(|d| (1..=MAX_RESCALE_DIGITS).contains(d))?;
            Some((e, m, rescale(*mantissa, digits)?, digits))
        });
        if let Some((e, m, base, digits)) = wider {
            let z = zigzag(m - base);
            let len = 64 - z.leading_zeros();
            w.write(
                ESC_RESCALE | ((e as u64) << ESC_BITS) | (u64::from(len) << (ESC_BITS + SCALE_BITS)),
                ESC_BITS + SCALE_BITS + LEN_BITS,
            );
            w.write(z, len);
            *scale = e as u8;
            *mantissa = m;
            *mean = update_mean(mean.saturating_mul(POW10_INT[digits]).min(MEAN_MAX), z + 1);
            *exception = false;
        } else if *exception {
            w.write(ESC_XOR, ESC_BITS);
            let mut x = XorState::new(self.last_bits);
            x.encode(w, bits);
            self.values = Values::Xor(x);
        } else {
            w.write(ESC_RAW, ESC_BITS);
            w.write(bits, 64);
            *exception = true;
        }
    }

    stream_accessors!();

    /// Value of the last sample (bit for bit).
    pub fn last_value(&self) -> Option<f64> {
        (!self.is_empty()).then(|| f64::from_bits(self.last_bits))
    }

    /// Decodes the samples pushed so far.
    pub fn iter(&self) -> ChunkDecoder<'_> {
        ChunkDecoder::new(self.as_bytes(), self.len())
    }
}

/// `10^d` for the rescale digits.
const POW10_INT: [u64; MAX_RESCALE_DIGITS + 1] = [1, 10, 100, 1_000, 10_000];

/// Iterates over the samples of a head chunk.
///
/// Yields exactly `count` samples, or an error (and then `None`) when the bytes are truncated or
/// invalid. Bytes after the `count`-th sample are ignored.
#[derive(Debug, Clone)]
pub struct ChunkDecoder<'a> {
    c: Cursor<'a>,
    bits: u64,
    values: Values,
}

const WHAT_TS: &str = "head chunk timestamp";
const WHAT_VALUE: &str = "head chunk value";

impl<'a> ChunkDecoder<'a> {
    /// A decoder of the first `count` samples in `bytes`.
    pub fn new(bytes: &'a [u8], count: usize) -> Self {
        Self {
            c: Cursor::new(bytes, count),
            bits: 0,
            values: Values::default(),
        }
    }

    /// Decodes every remaining sample, appending timestamps to `ts` and values to `values`: the
    /// fast way to read a whole chunk. On error, the samples before the bad one have been appended.
    pub fn decode_into(mut self, ts: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<(), CodecError> {
        if self.c.failed {
            return Ok(());
        }
        self.c.reserve(ts, values);
        while self.c.done < self.c.count {
            let (t, v) = self.decode_next()?;
            ts.push(t);
            values.push(v);
            self.c.done += 1;
        }
        Ok(())
    }

    #[inline(never)]
    fn decode_first(&mut self) -> Result<(i64, f64), CodecError> {
        self.c.ts = read_first_ts(&mut self.c.r, WHAT_TS)?;
        if self.c.r.read(1, WHAT_VALUE)? == 1 {
            let scale = self.c.r.read(SCALE_BITS, WHAT_VALUE)? as usize;
            let len = self.c.r.read(LEN_BITS, WHAT_VALUE)? as u32;
            let Some(&pow) = POW10.get(scale).filter(|_| len <= 64) else {
                return Err(self.c.r.invalid(WHAT_VALUE, "scale or mantissa length out of range"));
            };
            let m = unzigzag(self.c.r.read_long(len, WHAT_VALUE)?);
            self.bits = (m as f64 / pow).to_bits();
            self.values = Values::Decimal(Decimal::new(scale, m));
        } else {
            self.bits = self.c.r.read_long(64, WHAT_VALUE)?;
            self.values = Values::Xor(XorState::new(self.bits));
        }
        Ok((self.c.ts, f64::from_bits(self.bits)))
    }

    #[inline(always)]
    fn decode_next(&mut self) -> Result<(i64, f64), CodecError> {
        if self.c.done == 0 {
            return self.decode_first();
        }
        let t = self.c.next_ts()?;
        self.bits = self.decode_value()?;
        Ok((t, f64::from_bits(self.bits)))
    }

    #[inline(always)]
    fn decode_value(&mut self) -> Result<u64, CodecError> {
        let r = &mut self.c.r;
        let d = match &mut self.values {
            Values::Xor(x) => return x.decode(r),
            Values::Decimal(d) => d,
        };
        let Decimal {
            scale,
            exception,
            mantissa,
            mean,
        } = d;
        let code = r.read_rice(rice_k(*mean), WHAT_VALUE)?;
        if code != ESCAPE {
            *mantissa = mantissa.wrapping_add(code.checked_sub(1).map_or(0, unzigzag));
            *mean = update_mean(*mean, code);
            *exception = false;
            return Ok((*mantissa as f64 / POW10[usize::from(*scale)]).to_bits());
        }
        match r.read(ESC_BITS, WHAT_VALUE)? {
            ESC_RAW => {
                *exception = true;
                r.read_long(64, WHAT_VALUE)
            }
            ESC_RESCALE => {
                let e = r.read(SCALE_BITS, WHAT_VALUE)? as usize;
                let len = r.read(LEN_BITS, WHAT_VALUE)? as u32;
                let digits = e.wrapping_sub(usize::from(*scale));
                let base = (e <= MAX_SCALE && (1..=MAX_RESCALE_DIGITS).contains(&digits) && len <= 64)
                    .then(|| rescale(*mantissa, digits))
                    .flatten()
                    .ok_or_else(|| r.invalid(WHAT_VALUE, "bad rescale"))?;
                let z = r.read_long(len, WHAT_VALUE)?;
                *scale = e as u8;
                *mantissa = base.wrapping_add(unzigzag(z));
                *mean = update_mean(
                    mean.saturating_mul(POW10_INT[digits]).min(MEAN_MAX),
                    z.saturating_add(1),
                );
                *exception = false;
                Ok((*mantissa as f64 / POW10[e]).to_bits())
            }
            ESC_XOR => {
                let mut x = XorState::new(self.bits);
                let bits = x.decode(r)?;
                self.values = Values::Xor(x);
                Ok(bits)
            }
            _ => Err(r.invalid(WHAT_VALUE, "unknown escape")),
        }
    }
}

sample_iterator!(ChunkDecoder);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec_testkit::{any_ts, any_value, check_round_trip, check_stream, decimal, realistic};
    use crate::gorilla::{BitWriter, GorillaEncoder, write_first_ts};
    use proptest::prelude::*;

    /// A random walk of 2-decimal values on a 10 s clock, as `foresight bench` writes.
    fn walk(n: usize, seed: u64) -> Vec<(i64, f64)> {
        let mut rng = seed;
        let mut v = 50.0f64;
        (0..n as i64)
            .map(|i| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                v = ((v + (rng % 201) as f64 / 100.0 - 1.0).clamp(0.0, 100.0) * 100.0).round() / 100.0;
                (1_700_000_000_000 + i * 10_000, v)
            })
            .collect()
    }

    fn encode(samples: &[(i64, f64)]) -> ChunkEncoder {
        let mut enc = ChunkEncoder::new();
        for &(t, v) in samples {
            enc.push(t, v);
        }
        enc
    }

    fn mode(enc: &ChunkEncoder) -> &'static str {
        match enc.values {
            Values::Decimal(_) => "decimal",
            Values::Xor(_) => "xor",
        }
    }

    #[test]
    fn short_decimals_cost_near_their_entropy() {
        let samples = walk(120, 0x2545_f491_4f6c_dd1d);
        check_round_trip(&samples);
        let enc = encode(&samples);
        let mut gorilla = GorillaEncoder::new();
        for &(t, v) in &samples {
            gorilla.push(t, v);
        }
        assert_eq!(mode(&enc), "decimal");
        // Increments uniform over 201 values: 7.65 bits of entropy, plus one bit of timestamp.
        let per_sample = enc.bit_len() as f64 / samples.len() as f64;
        assert!(per_sample < 11.0, "{per_sample} bits per sample");
        assert!(enc.as_bytes().len() * 4 < gorilla.as_bytes().len());
        // A constant costs two bits a sample (as in Gorilla) once the running mean has settled.
        let constant: Vec<(i64, f64)> = (0..120).map(|i| (i * 1000, 3.5)).collect();
        let enc = encode(&constant);
        check_round_trip(&constant);
        assert!(enc.bit_len() < 120 * 2 + 100, "{} bits", enc.bit_len());
    }

    #[test]
    fn special_values_inside_a_decimal_chunk() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let mut samples = walk(40, 7);
        for (i, v) in [
            (3, f64::NAN),
            (9, stale),
            (15, -0.0),
            (21, f64::INFINITY),
            (30, 0.1 + 0.2),
        ] {
            samples[i].1 = v;
        }
        samples.push((i64::MAX, f64::NEG_INFINITY));
        check_round_trip(&samples);
        // Isolated exceptions are kept as bits: the chunk stays decimal.
        assert_eq!(mode(&encode(&samples)), "decimal");
    }

    #[test]
    fn modes_switch_mid_chunk() {
        // Integers, then one more digit, then four more at once (a rescale each), then two
        // non-decimals in a row (XOR for the rest of the chunk), then decimals again.
        let mut samples: Vec<(i64, f64)> = (0..10).map(|i| (i, f64::from(i as i32 * 3))).collect();
        samples.extend((10..20).map(|i| (i, i as f64 / 10.0)));
        samples.extend((20..30).map(|i| (i, i as f64 / 100_000.0)));
        let enc = encode(&samples);
        assert!(matches!(enc.values, Values::Decimal(Decimal { scale: 5, .. })));
        // Five more digits than the chunk's scale: kept as bits.
        samples.push((30, 1e-10));
        assert_eq!(mode(&encode(&samples)), "decimal");
        samples.extend([(31, 1.0 / 3.0), (32, 2.0 / 3.0), (33, std::f64::consts::PI)]);
        assert_eq!(mode(&encode(&samples)), "xor");
        samples.extend((34..60).map(|i| (i, i as f64 / 4.0)));
        check_round_trip(&samples);
        // A chunk that starts with a non-decimal is XOR from the start.
        let enc = encode(&[(0, f64::NAN), (1, 1.0)]);
        assert_eq!(mode(&enc), "xor");
        check_round_trip(&[(0, f64::NAN), (1, 1.0), (2, 1.0)]);
        // Mantissas at the ±2^53 bound, and a rescale that would overflow it (kept as bits).
        let big = 9_007_199_254_740_992.0;
        check_round_trip(&[(0, big), (1, -big), (2, big), (3, 0.5), (4, 1.5), (5, 0.25)]);
        check_round_trip(&[(0, 1e15), (1, 1e15 + 0.5), (2, 0.001), (3, 7.0)]);
    }

    #[test]
    fn invalid_streams_are_errors() {
        // First value: decimal flag with scale 31.
        let mut w = BitWriter::new();
        write_first_ts(&mut w, 0);
        w.write(1 | (31 << 1), 1 + SCALE_BITS + LEN_BITS);
        let got: Vec<_> = ChunkDecoder::new(w.finish(), 1).collect();
        assert!(matches!(got.as_slice(), [Err(CodecError::Invalid { .. })]));
        // An escape with the reserved code 3, and a rescale to a smaller scale.
        for escape in [3, ESC_RESCALE] {
            let mut w = BitWriter::new();
            write_first_ts(&mut w, 0);
            w.write(1 | (2 << 1), 1 + SCALE_BITS + LEN_BITS);
            w.write(0, 1); // dod
            w.write_rice(ESCAPE, rice_k(MEAN_START));
            w.write(escape | (1 << ESC_BITS), ESC_BITS + SCALE_BITS + LEN_BITS);
            let got: Vec<_> = ChunkDecoder::new(w.finish(), 2).collect();
            assert!(
                matches!(got.as_slice(), [Ok(_), Err(CodecError::Invalid { .. })]),
                "{got:?}"
            );
        }
    }

    /// Runs of decimals at changing scales, interrupted by runs of arbitrary doubles.
    fn mixed() -> impl Strategy<Value = Vec<(i64, f64)>> {
        prop::collection::vec(
            prop_oneof![
                3 => (decimal(), 1usize..30).prop_map(|(v, n)| vec![v; n]),
                3 => prop::collection::vec(decimal(), 1..30),
                2 => prop::collection::vec(any_value(), 1..4),
            ],
            0..8,
        )
        .prop_map(|runs| {
            runs.into_iter()
                .flatten()
                .enumerate()
                .map(|(i, v)| (i as i64 * 15_000, v))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn arbitrary_samples_round_trip(samples in prop::collection::vec((any_ts(), any_value()), 0..64)) {
            let _: ChunkEncoder = check_stream(&samples);
        }

        #[test]
        fn realistic_samples_round_trip(samples in realistic()) {
            let _: ChunkEncoder = check_stream(&samples);
        }

        #[test]
        fn mixed_runs_round_trip(samples in mixed()) {
            let _: ChunkEncoder = check_stream(&samples);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), count in 0usize..40) {
            let got: Vec<_> = ChunkDecoder::new(&bytes, count).collect();
            prop_assert!(got.len() <= count);
            if let Some(pos) = got.iter().position(Result::is_err) {
                prop_assert_eq!(pos + 1, got.len());
            }
        }
    }
}
