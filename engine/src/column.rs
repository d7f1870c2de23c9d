//! Column codecs of on-disk blocks: one timestamps column and one values column per series and
//! partition.
//!
//! Both columns are self-delimiting (they record their own length), so columns can be concatenated
//! and read back one after the other. The byte layout is specified in `docs/format.md`, section
//! "Column encodings"; in short:
//!
//! - Integers (timestamps, and values that are short decimals scaled to integers) are coded by an
//!   integer sequence coder that picks, per column, whichever of raw / delta / delta-of-delta /
//!   delta-minus-a-constant residuals is cheapest, zigzags them and writes them as Rice codes with
//!   a per-column parameter (or writes nothing when every residual is zero, as for regular
//!   timestamps and constant values).
//! - Values: when every value (up to a few exceptions) is exactly `m / 10^e` for a per-column scale
//!   `e`, the integers `m` are coded as above and the exceptions are kept bit for bit on the side.
//!   Other columns fall back to Gorilla XOR, raw bits, or a single constant, whichever is smallest.
//!
//! Every `f64` bit pattern round-trips exactly (NaN payloads, `-0.0`, infinities), and so does every
//! `i64` sequence; timestamps compress best when strictly increasing and regular.
//!
//! # Example
//!
//! ```
//! use foresight_engine::column::{decode_timestamps, decode_values, encode_timestamps, encode_values};
//!
//! let ts: Vec<i64> = (0..720).map(|i| 1_700_000_000_000 + i * 10_000).collect();
//! let values: Vec<f64> = (0..720).map(|i| f64::from(i % 7) * 0.25).collect();
//! let mut block = Vec::new();
//! encode_timestamps(&ts, &mut block);
//! encode_values(&values, &mut block);
//!
//! let (mut ts2, mut values2) = (Vec::new(), Vec::new());
//! let used = decode_timestamps(&block, &mut ts2)?;
//! decode_values(&block[used..], &mut values2)?;
//! assert_eq!(ts, ts2);
//! assert_eq!(values, values2);
//! # Ok::<(), foresight_engine::column::CodecError>(())
//! ```

pub use crate::gorilla::CodecError;
use crate::gorilla::{BitReader, BitWriter, RICE_ESCAPE, XorState, unzigzag, zigzag};

/// Longest column the decoders accept. Encoders must not be given longer slices (split them into
/// several columns): a longer column is written but rejected on decode.
pub const MAX_COLUMN_LEN: usize = 1 << 24;

/// Powers of ten that are exact in `f64` (10^22 is the largest).
pub(crate) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Largest decimal scale: values are `m / 10^e` with `e <= MAX_SCALE`.
pub(crate) const MAX_SCALE: usize = POW10.len() - 1;

/// Scaled integers stay within ±2^53 so that `m as f64` is exact.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

// Values column kinds (low 3 bits of the tag byte; the high 5 bits hold the decimal scale).
const KIND_DECIMAL: u8 = 0;
const KIND_DECIMAL_PATCHED: u8 = 1;
const KIND_CONST: u8 = 2;
const KIND_XOR: u8 = 3;
const KIND_RAW: u8 = 4;

// Integer sequence residual modes (low 2 bits of its header byte).
const MODE_RAW: u8 = 0;
const MODE_DELTA: u8 = 1;
const MODE_DELTA2: u8 = 2;
const MODE_DELTA_BIAS: u8 = 3;

/// Largest Rice parameter; the header byte stores `k + 1` in 6 bits, 0 meaning "all residuals zero".
const MAX_RICE_K: u32 = 61;

/// Header code reserved for residual coders added later (the Rice codes use 1..=62).
const CODE_RESERVED: u32 = 63;

// ---------------------------------------------------------------------------------------------
// Public API

/// Appends the timestamps column for `ts` to `out`.
///
/// Any `i64` sequence round-trips; strictly increasing, regular timestamps (the case blocks hold)
/// cost a few bytes for the whole column. The encoding records its own length, so columns can be
/// concatenated. `ts.len()` must not exceed [`MAX_COLUMN_LEN`].
pub fn encode_timestamps(ts: &[i64], out: &mut Vec<u8>) {
    debug_assert!(ts.len() <= MAX_COLUMN_LEN, "column longer than MAX_COLUMN_LEN");
    put_varint(out, ts.len() as u64);
    if !ts.is_empty() {
        encode_ints(ts, out);
    }
}

/// Appends the timestamps decoded from the column at the start of `data` to `out`; returns the
/// number of bytes the column takes. Bytes after the column are ignored.
pub fn decode_timestamps(data: &[u8], out: &mut Vec<i64>) -> Result<usize, CodecError> {
    let mut pos = 0;
    let n = read_count(data, &mut pos)?;
    if n > 0 {
        out.reserve(n.min(data.len().saturating_mul(8)));
        decode_ints(data, &mut pos, n, out)?;
    }
    Ok(pos)
}

/// Appends the values column for `values` to `out`.
///
/// Every bit pattern round-trips. Columns of short decimals (like `12.34`) are stored as scaled
/// integers; others fall back to Gorilla XOR or raw bits. The encoding records its own length, so
/// columns can be concatenated. `values.len()` must not exceed [`MAX_COLUMN_LEN`].
pub fn encode_values(values: &[f64], out: &mut Vec<u8>) {
    debug_assert!(values.len() <= MAX_COLUMN_LEN, "column longer than MAX_COLUMN_LEN");
    put_varint(out, values.len() as u64);
    let Some(first) = values.first() else {
        return;
    };
    let n = values.len();
    let start = out.len();
    // A constant that is not a short decimal (a stale marker, say): 9 bytes for the column.
    if min_scale(*first, 0).is_none() && values.iter().all(|v| v.to_bits() == first.to_bits()) {
        out.push(KIND_CONST);
        out.extend_from_slice(&first.to_bits().to_le_bytes());
        return;
    }
    if let Some(dec) = Decimal::detect(values) {
        dec.write(out);
        // Scaled integers nearly always win; only when they are expensive try the float coders.
        if out.len() - start <= 4 * n {
            return;
        }
        let mut alt = Vec::new();
        encode_float_fallback(values, &mut alt);
        if alt.len() < out.len() - start {
            out.truncate(start);
            out.extend_from_slice(&alt);
        }
        return;
    }
    encode_float_fallback(values, out);
}

/// Appends the values decoded from the column at the start of `data` to `out`; returns the number
/// of bytes the column takes. Bytes after the column are ignored.
pub fn decode_values(data: &[u8], out: &mut Vec<f64>) -> Result<usize, CodecError> {
    const WHAT: &str = "values column tag";
    let mut pos = 0;
    let n = read_count(data, &mut pos)?;
    if n == 0 {
        return Ok(pos);
    }
    let tag = *data.get(pos).ok_or(CodecError::Truncated {
        what: WHAT,
        offset: pos,
    })?;
    let tag_offset = pos;
    pos += 1;
    let (kind, scale) = (tag & 7, usize::from(tag >> 3));
    if matches!(kind, KIND_DECIMAL | KIND_DECIMAL_PATCHED) && scale > MAX_SCALE {
        return Err(CodecError::Invalid {
            what: WHAT,
            offset: tag_offset,
            reason: "decimal scale above 22",
        });
    }
    if scale != 0 && !matches!(kind, KIND_DECIMAL | KIND_DECIMAL_PATCHED) {
        return Err(CodecError::Invalid {
            what: WHAT,
            offset: tag_offset,
            reason: "unused tag bits are set",
        });
    }
    let base = out.len();
    match kind {
        KIND_DECIMAL | KIND_DECIMAL_PATCHED => {
            let patches = if kind == KIND_DECIMAL_PATCHED {
                read_patches(data, &mut pos, n)?
            } else {
                Vec::new()
            };
            out.reserve(n.min(data.len().saturating_mul(8)));
            let pow = POW10.get(scale).copied().unwrap_or(1.0);
            let mut sink = Scaled {
                out: &mut *out,
                pow,
                ints: [0; 256],
            };
            decode_ints(data, &mut pos, n, &mut sink)?;
            for (index, bits) in patches {
                if let Some(slot) = out.get_mut(base + index) {
                    *slot = f64::from_bits(bits);
                }
            }
        }
        KIND_CONST => {
            let bits = read_u64_le(data, &mut pos, "constant value")?;
            out.resize(base + n, f64::from_bits(bits));
        }
        KIND_XOR => {
            let rest = data.get(pos..).unwrap_or(&[]);
            if n > rest.len().saturating_mul(8) {
                return Err(CodecError::Truncated {
                    what: "xor values",
                    offset: data.len(),
                });
            }
            out.reserve(n);
            let mut r = BitReader::new(rest);
            let first = r.read_long(64, "xor values").map_err(|e| shift_offset(e, pos))?;
            out.push(f64::from_bits(first));
            let mut xor = XorState::new(first);
            for _ in 1..n {
                let bits = xor.decode(&mut r).map_err(|e| shift_offset(e, pos))?;
                out.push(f64::from_bits(bits));
            }
            pos += r.byte_pos();
        }
        KIND_RAW => {
            let len = n
                .checked_mul(8)
                .filter(|&len| len <= data.len() - pos)
                .ok_or(CodecError::Truncated {
                    what: "raw values",
                    offset: data.len(),
                })?;
            let raw = data.get(pos..pos + len).unwrap_or(&[]);
            out.extend(raw.chunks_exact(8).map(|c| {
                let mut word = [0u8; 8];
                word.copy_from_slice(c);
                f64::from_le_bytes(word)
            }));
            pos += len;
        }
        _ => {
            return Err(CodecError::Invalid {
                what: WHAT,
                offset: tag_offset,
                reason: "unknown values encoding",
            });
        }
    }
    Ok(pos)
}

// ---------------------------------------------------------------------------------------------
// Values: decimal detection and float fallbacks

/// A values column as scaled integers `m / 10^scale`, with the values that do not fit kept aside.
#[derive(Debug)]
struct Decimal {
    scale: usize,
    mantissas: Vec<i64>,
    /// (index, bits) of values that are not `m / 10^scale`; their slot in `mantissas` repeats the
    /// previous mantissa so that it costs a zero residual.
    patches: Vec<(usize, u64)>,
}

/// `|s| <= 2^53`, false for NaN.
#[inline]
fn fits_mantissa(s: f64) -> bool {
    s.abs() <= MAX_MANTISSA
}

/// `Some(m)` if `v` is exactly `m / 10^scale` (as `f64` division rounds it) with `|m| <= 2^53`.
#[inline]
pub(crate) fn scaled(v: f64, scale: usize) -> Option<i64> {
    let pow = *POW10.get(scale)?;
    let s = v * pow;
    // Also rejects NaN and infinities.
    if !fits_mantissa(s) {
        return None;
    }
    // Round half away from zero without a libm call (`f64::round` is one on baseline x86-64):
    // for |s| <= 2^53 the truncation and the fraction below are exact.
    let t = s as i64;
    let frac = s - t as f64;
    let m = t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5);
    // Rebuild from the integer (not from `s.round()`) so that -0.0 is rejected.
    ((m as f64 / pow).to_bits() == v.to_bits()).then_some(m)
}

/// The smallest scale `e` and the mantissa `m` with `v == m / 10^e` exactly, as the decimal column
/// kinds store values; `None` when `v` is not such a decimal.
pub(crate) fn as_decimal(v: f64) -> Option<(usize, i64)> {
    min_scale(v, 0)
}

/// Smallest scale at which `v` is a decimal, with the mantissa at that scale; `guess` (the previous
/// value's scale) is tried first.
#[inline]
pub(crate) fn min_scale(v: f64, guess: usize) -> Option<(usize, i64)> {
    if let Some(mut m) = scaled(v, guess) {
        // Valid at `guess`: walk down while the next smaller scale still works (usually 1 step).
        // If `v` were `m' / 10^(e-1)`, then `v * 10^e` would be within 2.2 ulp of `10 m'`, so
        // for |m| < 2^50 the rounding gives `m = 10 m'`: a mantissa not divisible by ten ends the
        // walk without the division.
        let mut e = guess;
        while e > 0 && (m % 10 == 0 || m.unsigned_abs() >= 1 << 50) {
            match scaled(v, e - 1) {
                Some(smaller) => {
                    e -= 1;
                    m = smaller;
                }
                None => break,
            }
        }
        return Some((e, m));
    }
    for (e, pow) in POW10.iter().enumerate() {
        if !fits_mantissa(v * pow) {
            return None;
        }
        if let Some(m) = scaled(v, e) {
            return Some((e, m));
        }
    }
    None
}

/// `m * 10^digits` if it stays within ±2^53.
///
/// If `v` is `m / 10^e` (as [`scaled`] checks), it is also `(m * 10^d) / 10^(e + d)`: both divisions
/// round the same real number, and every operand is exact.
#[inline]
pub(crate) fn rescale(m: i64, digits: usize) -> Option<i64> {
    const POW10_INT: [i64; 19] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
        10_000_000_000,
        100_000_000_000,
        1_000_000_000_000,
        10_000_000_000_000,
        100_000_000_000_000,
        1_000_000_000_000_000,
        10_000_000_000_000_000,
        100_000_000_000_000_000,
        1_000_000_000_000_000_000,
    ];
    if m == 0 {
        return Some(0);
    }
    let r = m.checked_mul(*POW10_INT.get(digits)?)?;
    (r.unsigned_abs() <= 1 << 53).then_some(r)
}

impl Decimal {
    /// Finds the scale that minimises the column's size; `None` when too many values are not short
    /// decimals (random doubles, results of arithmetic like `0.1 + 0.2`).
    fn detect(values: &[f64]) -> Option<Self> {
        let n = values.len();
        // Histogram of each value's smallest scale; the last bucket counts non-decimals.
        let mut hist = [0usize; MAX_SCALE + 2];
        // Each value's smallest scale (`NOT_DECIMAL` if none) and its mantissa at that scale.
        const NOT_DECIMAL: u8 = u8::MAX;
        let mut scales = Vec::with_capacity(n);
        let mut mantissas = Vec::with_capacity(n);
        let mut guess = 0;
        for (i, &v) in values.iter().enumerate() {
            match min_scale(v, guess) {
                Some((e, m)) => {
                    guess = e;
                    hist[e] += 1;
                    scales.push(e as u8);
                    mantissas.push(m);
                }
                None => {
                    hist[MAX_SCALE + 1] += 1;
                    scales.push(NOT_DECIMAL);
                    mantissas.push(0);
                }
            }
            // Give up early on columns of arbitrary doubles.
            if hist[MAX_SCALE + 1] * 4 > i + 32 {
                return None;
            }
        }
        // Each further decimal digit costs about 3.3 bits per value; a patch about 80 bits.
        let mut best = (u64::MAX, 0);
        let mut exceptions = hist[MAX_SCALE + 1];
        for e in (0..=MAX_SCALE).rev() {
            let cost = exceptions as u64 * 80 + (n - exceptions) as u64 * e as u64 * 10 / 3;
            if cost <= best.0 {
                best = (cost, e);
            }
            exceptions += hist[e];
        }
        let scale = best.1;
        let mut patches = Vec::new();
        let mut prev = 0;
        for (i, (m, &e)) in mantissas.iter_mut().zip(&scales).enumerate() {
            let rescaled = (usize::from(e) <= scale)
                .then(|| rescale(*m, scale - usize::from(e)))
                .flatten();
            match rescaled {
                Some(r) => {
                    *m = r;
                    prev = r;
                }
                None => {
                    *m = prev;
                    patches.push((i, values.get(i).map_or(0, |v| v.to_bits())));
                }
            }
        }
        (patches.len() * 4 <= n + 32).then_some(Self {
            scale,
            mantissas,
            patches,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        let kind = if self.patches.is_empty() {
            KIND_DECIMAL
        } else {
            KIND_DECIMAL_PATCHED
        };
        out.push(kind | ((self.scale as u8) << 3));
        if !self.patches.is_empty() {
            put_varint(out, self.patches.len() as u64);
            let mut next = 0;
            for &(index, bits) in &self.patches {
                put_varint(out, (index - next) as u64);
                out.extend_from_slice(&bits.to_le_bytes());
                next = index + 1;
            }
        }
        encode_ints(&self.mantissas, out);
    }
}

/// Reads the patch list of a `KIND_DECIMAL_PATCHED` column: strictly increasing indexes below `n`.
fn read_patches(data: &[u8], pos: &mut usize, n: usize) -> Result<Vec<(usize, u64)>, CodecError> {
    const WHAT: &str = "values patch list";
    let offset = *pos;
    let count = get_varint(data, pos, WHAT)?;
    // Each patch takes at least 9 bytes: reject impossible counts before allocating.
    if count > n as u64 || count > (data.len() / 9) as u64 {
        return Err(CodecError::Invalid {
            what: WHAT,
            offset,
            reason: "more patches than values or bytes",
        });
    }
    let mut patches = Vec::with_capacity(count as usize);
    let mut next = 0u64;
    for _ in 0..count {
        let offset = *pos;
        let index = next.saturating_add(get_varint(data, pos, WHAT)?);
        if index >= n as u64 {
            return Err(CodecError::Invalid {
                what: WHAT,
                offset,
                reason: "patch index past the end of the column",
            });
        }
        let bits = read_u64_le(data, pos, WHAT)?;
        patches.push((index as usize, bits));
        next = index + 1;
    }
    Ok(patches)
}

/// Writes the smaller of Gorilla XOR and raw little-endian bits.
fn encode_float_fallback(values: &[f64], out: &mut Vec<u8>) {
    let Some(first) = values.first() else {
        return;
    };
    let mut w = BitWriter::new();
    w.write(first.to_bits(), 64);
    let mut xor = XorState::new(first.to_bits());
    for v in &values[1..] {
        xor.encode(&mut w, v.to_bits());
    }
    let xored = w.finish();
    if xored.len() < values.len() * 8 {
        out.push(KIND_XOR);
        out.extend_from_slice(xored);
    } else {
        out.push(KIND_RAW);
        for v in values {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Integer sequences

/// Reusable buffers for choosing an integer sequence encoding.
#[derive(Debug, Default)]
struct Scratch {
    residuals: Vec<u64>,
    best: Vec<u64>,
}

/// A candidate encoding of an integer sequence.
#[derive(Debug, Clone, Copy)]
struct IntPlan {
    mode: u8,
    /// Rice parameter, or `None` when every residual is zero.
    k: Option<u32>,
    /// Constant subtracted from every delta (`MODE_DELTA_BIAS`).
    bias: i64,
    /// Estimated size in bits.
    bits: u64,
}

/// Number of leading values stored as varints before the residuals, per mode.
fn leading(mode: u8, n: usize) -> usize {
    let lead = match mode {
        MODE_RAW => 0,
        MODE_DELTA | MODE_DELTA_BIAS => 1,
        _ => 2,
    };
    lead.min(n)
}

/// Zigzagged residuals of `xs` under `mode` (after its leading values), written to `out`.
fn residuals(xs: &[i64], mode: u8, bias: i64, out: &mut Vec<u64>) {
    out.clear();
    match mode {
        MODE_RAW => out.extend(xs.iter().map(|&x| zigzag(x))),
        MODE_DELTA | MODE_DELTA_BIAS => out.extend(
            xs.windows(2)
                .map(|w| zigzag(w[1].wrapping_sub(w[0]).wrapping_sub(bias))),
        ),
        _ => out.extend(xs.windows(3).map(|w| {
            let d1 = w[1].wrapping_sub(w[0]);
            let d2 = w[2].wrapping_sub(w[1]);
            zigzag(d2.wrapping_sub(d1))
        })),
    }
}

/// Histograms of the bit lengths of `xs`'s residuals under `MODE_DELTA` and `MODE_DELTA2`, in one
/// pass and without storing them.
fn delta_histograms(xs: &[i64]) -> ([u64; 65], [u64; 65]) {
    let (mut h1, mut h2) = ([0u64; 65], [0u64; 65]);
    let bits = |z: u64| (64 - z.leading_zeros()) as usize;
    if let [a, b, ..] = xs {
        h1[bits(zigzag(b.wrapping_sub(*a)))] += 1;
    }
    for w in xs.windows(3) {
        let d1 = w[1].wrapping_sub(w[0]);
        let d2 = w[2].wrapping_sub(w[1]);
        h1[bits(zigzag(d2))] += 1;
        h2[bits(zigzag(d2.wrapping_sub(d1)))] += 1;
    }
    (h1, h2)
}

/// Histogram of the bit lengths of `xs`'s residuals under `MODE_RAW` or `MODE_DELTA_BIAS`.
fn histogram(xs: &[i64], mode: u8, bias: i64) -> [u64; 65] {
    let mut hist = [0u64; 65];
    let mut count = |z: u64| hist[(64 - z.leading_zeros()) as usize] += 1;
    if mode == MODE_RAW {
        xs.iter().for_each(|&x| count(zigzag(x)));
    } else {
        xs.windows(2)
            .for_each(|w| count(zigzag(w[1].wrapping_sub(w[0]).wrapping_sub(bias))));
    }
    hist
}

fn varint_len(v: u64) -> u64 {
    u64::from((64 - (v | 1).leading_zeros()).div_ceil(7))
}

/// Estimated cheapest Rice parameter for `zs` and its estimated cost in bits; `None` if every
/// residual is zero.
///
/// The histogram of residual bit lengths gives an estimate of the cost of every `k` without another
/// pass over the data (outliers do not drag `k` up as they would drag a mean). [`refine_rice`] then
/// makes it exact.
fn estimate_rice(hist: &[u64; 65]) -> (Option<u32>, u64) {
    if hist[1..].iter().all(|&count| count == 0) {
        return (None, 0);
    }
    // Non-empty buckets as (typical member, count); a typical member of bit length `len` is
    // 1.5 * 2^(len - 1).
    let mut buckets = [(0u64, 0u64); 65];
    let mut used = 0;
    for (len, &count) in hist.iter().enumerate() {
        if count > 0 {
            let top = if len == 0 { 0 } else { 1u64 << (len - 1) };
            buckets[used] = (top | (top >> 1), count);
            used += 1;
        }
    }
    let buckets = &buckets[..used];
    let longest = 64 - buckets.last().map_or(0, |b| b.0.leading_zeros());
    let estimate = |k: u32| -> u64 {
        buckets
            .iter()
            .map(|&(z, count)| count * BitWriter::rice_len(z, k))
            .sum()
    };
    // Every residual costs at least `k + 1` bits, so no `k` past `best / n - 1` can do better: the
    // scan stops there instead of trying every `k` up to the longest residual.
    let n: u64 = hist.iter().sum();
    let mut best = (None, u64::MAX);
    for k in 0..=longest.min(MAX_RICE_K) {
        if (u64::from(k) + 1).saturating_mul(n) >= best.1 {
            break;
        }
        let bits = estimate(k);
        if bits < best.1 {
            best = (Some(k), bits);
        }
    }
    if best.0.is_none() {
        return (None, 0);
    }
    best
}

/// A lower bound of the Rice cost of residuals with the bit-length histogram `hist`, whatever the
/// parameter: a residual of `len` bits never takes fewer than `max(len, 1)` bits.
fn rice_lower_bound(hist: &[u64; 65]) -> u64 {
    hist.iter()
        .enumerate()
        .map(|(len, &count)| count * (len as u64).max(1))
        .sum()
}

/// The exact cheapest Rice parameter among `guess` and its neighbours (one pass over `zs`).
fn refine_rice(zs: &[u64], guess: u32) -> u32 {
    let lo = guess.saturating_sub(1);
    let hi = (guess + 1).min(MAX_RICE_K);
    // Sums of the quotients at `lo`, `lo + 1` and `lo + 2` over the residuals that no parameter
    // escapes (the quotient only shrinks as `k` grows); the others are costed one by one.
    let (mut q, mut plain) = ([0u64; 3], 0u64);
    let mut escaped = [0u64; 3];
    for &z in zs {
        let q0 = z >> lo;
        if q0 < u64::from(RICE_ESCAPE) {
            q[0] += q0;
            q[1] += q0 >> 1;
            q[2] += q0 >> 2;
            plain += 1;
        } else {
            for (slot, k) in escaped.iter_mut().zip(lo..=hi) {
                *slot += BitWriter::rice_len(z, k);
            }
        }
    }
    let mut best = (guess, u64::MAX);
    for (i, k) in (lo..=hi).enumerate() {
        let bits = q[i] + plain * (1 + u64::from(k)) + escaped[i];
        if bits < best.1 {
            best = (k, bits);
        }
    }
    best.0
}

/// Median delta of `xs`, the bias of `MODE_DELTA_BIAS`.
fn median_delta(xs: &[i64], scratch: &mut Vec<u64>) -> i64 {
    scratch.clear();
    scratch.extend(xs.windows(2).map(|w| w[1].wrapping_sub(w[0]) as u64));
    let mid = scratch.len() / 2;
    match scratch.get_mut(..) {
        Some(deltas) if !deltas.is_empty() => {
            // Order as i64 by flipping the sign bit.
            deltas.select_nth_unstable_by_key(mid, |&d| d ^ (1 << 63));
            deltas.get(mid).map_or(0, |&d| d as i64)
        }
        _ => 0,
    }
}

/// Picks the residual mode and Rice parameter for `xs`; leaves the chosen residuals in
/// `scratch.best`.
///
/// Modes are costed from histograms of residual bit lengths (the two delta modes in one pass); only
/// the chosen mode's residuals are materialised.
fn plan_ints(xs: &[i64], scratch: &mut Scratch) -> IntPlan {
    let mut best = IntPlan {
        mode: MODE_RAW,
        k: None,
        bias: 0,
        bits: u64::MAX,
    };
    let (delta, delta2) = delta_histograms(xs);
    for mode in [MODE_DELTA, MODE_DELTA2, MODE_DELTA_BIAS, MODE_RAW] {
        let (hist, bias) = match mode {
            MODE_DELTA => (delta, 0),
            MODE_DELTA2 => (delta2, 0),
            MODE_DELTA_BIAS => match median_delta(xs, &mut scratch.residuals) {
                // Same residuals as MODE_DELTA, plus a byte.
                0 => continue,
                bias => (histogram(xs, mode, bias), bias),
            },
            _ => (histogram(xs, mode, 0), 0),
        };
        let lead_bits: u64 = lead_values(xs, mode, bias).map(|v| varint_len(zigzag(v)) * 8).sum();
        if lead_bits + rice_lower_bound(&hist) >= best.bits {
            // Cannot win: skip costing each Rice parameter.
            continue;
        }
        let (k, rice_bits) = estimate_rice(&hist);
        let bits = lead_bits + rice_bits.div_ceil(8) * 8;
        if bits < best.bits {
            best = IntPlan { mode, k, bias, bits };
            if k.is_none() {
                // Nothing beats residuals that cost nothing.
                break;
            }
        }
    }
    if best.k.is_some() {
        residuals(xs, best.mode, best.bias, &mut scratch.best);
    }
    best.k = best.k.map(|k| refine_rice(&scratch.best, k));
    best
}

/// The values stored as varints ahead of the residuals.
fn lead_values(xs: &[i64], mode: u8, bias: i64) -> impl Iterator<Item = i64> {
    let first = xs.first().copied().unwrap_or(0);
    let second = match mode {
        MODE_DELTA2 => xs.get(1).map(|x| x.wrapping_sub(first)),
        MODE_DELTA_BIAS => Some(bias),
        _ => None,
    };
    let first = (leading(mode, xs.len()) > 0).then_some(first);
    first.into_iter().chain(second)
}

/// Writes a non-empty integer sequence (its length is stored by the caller):
/// a header byte (mode in bits 0-1, Rice `k + 1` or 0 in bits 2-7), the leading values as zigzag
/// varints, then the residuals as Rice codes in a byte-padded bit stream.
fn encode_ints(xs: &[i64], out: &mut Vec<u8>) {
    thread_local! {
        // Reused by every column a thread encodes (the WAL encodes one pair per series per write).
        static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => encode_ints_with(xs, out, &mut scratch),
        Err(_) => encode_ints_with(xs, out, &mut Scratch::default()),
    });
}

fn encode_ints_with(xs: &[i64], out: &mut Vec<u8>, scratch: &mut Scratch) {
    let plan = plan_ints(xs, scratch);
    let code = plan.k.map_or(0, |k| k as u8 + 1);
    out.push(plan.mode | (code << 2));
    for v in lead_values(xs, plan.mode, plan.bias) {
        put_varint(out, zigzag(v));
    }
    if let Some(k) = plan.k {
        // The plan's estimate sizes the buffer: no growth steps on the way.
        let mut w = BitWriter::with_capacity((plan.bits / 8) as usize + 16);
        for &z in &scratch.best {
            w.write_rice(z, k);
        }
        out.extend_from_slice(w.finish());
    }
}

/// Where decoded integers go: timestamps as they are, scaled integers divided into floats.
trait IntSink {
    fn extend(&mut self, x: i64);
    /// Appends `f(z)` for each `z`, in order.
    fn extend_from(&mut self, zs: &[u64], f: impl FnMut(u64) -> i64);
}

impl IntSink for Vec<i64> {
    #[inline]
    fn extend(&mut self, x: i64) {
        self.push(x);
    }

    #[inline]
    fn extend_from(&mut self, zs: &[u64], f: impl FnMut(u64) -> i64) {
        Extend::extend(self, zs.iter().copied().map(f));
    }
}

/// Appends `m / 10^scale` for each decoded `m`.
struct Scaled<'a> {
    out: &'a mut Vec<f64>,
    pow: f64,
    ints: [i64; 256],
}

impl IntSink for Scaled<'_> {
    #[inline]
    fn extend(&mut self, x: i64) {
        self.out.push(x as f64 / self.pow);
    }

    #[inline]
    fn extend_from(&mut self, zs: &[u64], mut f: impl FnMut(u64) -> i64) {
        // Two passes so that the divisions, independent of each other, run back to back.
        for (slot, &z) in self.ints.iter_mut().zip(zs) {
            *slot = f(z);
        }
        let pow = self.pow;
        let len = zs.len().min(self.ints.len());
        Extend::extend(self.out, self.ints[..len].iter().map(|&m| m as f64 / pow));
    }
}

/// Decodes `n >= 1` integers written by [`encode_ints`] starting at `data[*pos]`, appending them to
/// `sink` in order; advances `pos` past them.
fn decode_ints<S: IntSink>(data: &[u8], pos: &mut usize, n: usize, sink: &mut S) -> Result<(), CodecError> {
    const WHAT: &str = "integer column";
    let header_offset = *pos;
    let header = *data.get(*pos).ok_or(CodecError::Truncated {
        what: WHAT,
        offset: *pos,
    })?;
    *pos += 1;
    let mode = header & 3;
    let code = u32::from(header >> 2);
    if code == CODE_RESERVED {
        return Err(CodecError::Invalid {
            what: WHAT,
            offset: header_offset,
            reason: "reserved residual coder",
        });
    }
    if code > MAX_RICE_K + 1 {
        return Err(CodecError::Invalid {
            what: WHAT,
            offset: header_offset,
            reason: "rice parameter above 61",
        });
    }
    let lead = leading(mode, n);
    let first = if lead > 0 {
        unzigzag(get_varint(data, pos, WHAT)?)
    } else {
        0
    };
    let second = match mode {
        MODE_DELTA2 if lead > 1 => unzigzag(get_varint(data, pos, WHAT)?),
        MODE_DELTA_BIAS => unzigzag(get_varint(data, pos, WHAT)?),
        _ => 0,
    };
    let rest = n - lead;
    let stream = data.get(*pos..).unwrap_or(&[]);
    let mut r = BitReader::new(stream);
    if code > 0 && rest > stream.len().saturating_mul(8) {
        // Every Rice code takes at least one bit.
        return Err(CodecError::Truncated {
            what: WHAT,
            offset: data.len(),
        });
    }
    // Residuals are decoded in batches into a stack buffer, then summed in a tight loop.
    let mut batch = [0u64; 256];
    let mut x = first;
    let mut delta = second;
    if lead > 0 {
        sink.extend(x);
    }
    if lead > 1 {
        x = x.wrapping_add(delta);
        sink.extend(x);
    }
    let mut left = rest;
    while left > 0 {
        let len = left.min(batch.len());
        let zs = &mut batch[..len];
        if code > 0 {
            r.read_rice_batch(code - 1, zs, WHAT)
                .map_err(|e| shift_offset(e, *pos))?;
        }
        match mode {
            MODE_RAW => sink.extend_from(zs, unzigzag),
            MODE_DELTA | MODE_DELTA_BIAS => sink.extend_from(zs, |z| {
                x = x.wrapping_add(unzigzag(z).wrapping_add(delta));
                x
            }),
            _ => sink.extend_from(zs, |z| {
                delta = delta.wrapping_add(unzigzag(z));
                x = x.wrapping_add(delta);
                x
            }),
        }
        left -= len;
    }
    *pos += r.byte_pos();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn shift_offset(e: CodecError, base: usize) -> CodecError {
    match e {
        CodecError::Truncated { what, offset } => CodecError::Truncated {
            what,
            offset: offset + base,
        },
        CodecError::Invalid { what, offset, reason } => CodecError::Invalid {
            what,
            offset: offset + base,
            reason,
        },
    }
}

/// Unsigned LEB128.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(data: &[u8], pos: &mut usize, what: &'static str) -> Result<u64, CodecError> {
    let start = *pos;
    let mut v = 0u64;
    for i in 0..10 {
        let byte = *data.get(*pos).ok_or(CodecError::Truncated { what, offset: *pos })?;
        *pos += 1;
        if i == 9 && byte > 1 {
            return Err(CodecError::Invalid {
                what,
                offset: start,
                reason: "varint overflows 64 bits",
            });
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(v);
        }
    }
    Err(CodecError::Invalid {
        what,
        offset: start,
        reason: "varint longer than 10 bytes",
    })
}

fn read_count(data: &[u8], pos: &mut usize) -> Result<usize, CodecError> {
    const WHAT: &str = "column length";
    let offset = *pos;
    let n = get_varint(data, pos, WHAT)?;
    if n > MAX_COLUMN_LEN as u64 {
        return Err(CodecError::Invalid {
            what: WHAT,
            offset,
            reason: "column longer than MAX_COLUMN_LEN",
        });
    }
    Ok(n as usize)
}

fn read_u64_le(data: &[u8], pos: &mut usize, what: &'static str) -> Result<u64, CodecError> {
    let bytes = data
        .get(*pos..*pos + 8)
        .ok_or(CodecError::Truncated { what, offset: *pos })?;
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    *pos += 8;
    Ok(u64::from_le_bytes(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec_testkit::*;
    use proptest::prelude::*;

    fn encoded_len(ts: &[i64], values: &[f64]) -> (usize, usize) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode_timestamps(ts, &mut a);
        encode_values(values, &mut b);
        (a.len(), b.len())
    }

    fn regular(n: usize) -> Vec<i64> {
        (0..n as i64).map(|i| 1_700_000_000_000 + i * 10_000).collect()
    }

    #[test]
    fn empty_and_single() {
        check_round_trip(&[]);
        check_round_trip(&[(0, 0.0)]);
        check_round_trip(&[(i64::MIN, f64::NAN)]);
        check_round_trip(&[(i64::MAX, -0.0)]);
        check_round_trip(&[(5, 12.34)]);
        assert_eq!(encoded_len(&[], &[]), (1, 1));
    }

    #[test]
    fn constant_and_regular_columns_are_tiny() {
        let ts = regular(720);
        let (ts_len, values_len) = encoded_len(&ts, &[42.5; 720]);
        // count (2) + header (1) + first timestamp (6) + step (3).
        assert_eq!(ts_len, 12);
        // count (2) + tag (1) + header (1) + mantissa (2).
        assert_eq!(values_len, 6);
        assert_eq!(encoded_len(&ts, &[f64::NAN; 720]).1, 2 + 1 + 8);
        let samples: Vec<_> = ts.iter().map(|&t| (t, 42.5)).collect();
        check_round_trip(&samples);
    }

    #[test]
    fn decimal_scale_is_found() {
        for (values, scale) in [
            (vec![1.0, 2.0, 300.0], 0u8),
            (vec![15.59, 23.7, 0.0, 100.0], 2),
            (vec![0.001, 1e-6, 5.0], 6),
            (vec![-1.25e-10, 3e-10], 12),
            ((0..60).map(|i| 9_007_199_254_740_992.0 - f64::from(i)).collect(), 0),
        ] {
            let mut out = Vec::new();
            encode_values(&values, &mut out);
            assert_eq!(out[1], KIND_DECIMAL | (scale << 3), "{values:?}");
            let mut back = Vec::new();
            decode_values(&out, &mut back).expect("decodes");
            assert_eq!(bits(&back), bits(&values));
        }
    }

    #[test]
    fn few_odd_values_are_patched() {
        let mut values: Vec<f64> = (0..720).map(|i| f64::from(i % 50) / 4.0).collect();
        values[3] = f64::NAN;
        values[100] = -0.0;
        values[719] = 0.1 + 0.2;
        values[500] = f64::INFINITY;
        let mut out = Vec::new();
        encode_values(&values, &mut out);
        assert_eq!(out[2] & 7, KIND_DECIMAL_PATCHED);
        assert!(out.len() < 720, "{} bytes", out.len());
        let samples: Vec<_> = regular(720).into_iter().zip(values).collect();
        check_round_trip(&samples);
    }

    #[test]
    fn arbitrary_doubles_fall_back() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let values: Vec<f64> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                f64::from_bits(x)
            })
            .collect();
        let mut out = Vec::new();
        encode_values(&values, &mut out);
        assert_eq!(out[2], KIND_RAW);
        assert_eq!(out.len(), 2 + 1 + 300 * 8);
        let thirds: Vec<f64> = (0..300).map(|i| f64::from(i / 10) / 3.0).collect();
        let mut out = Vec::new();
        encode_values(&thirds, &mut out);
        assert_eq!(out[2], KIND_XOR);
        let samples: Vec<_> = regular(300).into_iter().zip(values).collect();
        check_round_trip(&samples);
    }

    #[test]
    fn timestamp_extremes() {
        let ts = [i64::MIN, i64::MAX, 0, -1, i64::MIN, i64::MAX, 1 << 62, -(1 << 62), 3];
        let samples: Vec<_> = ts.iter().map(|&t| (t, 1.0)).collect();
        check_round_trip(&samples);
        let increasing: Vec<i64> = vec![i64::MIN, i64::MIN + 1, 0, i64::MAX - 1, i64::MAX];
        let samples: Vec<_> = increasing.iter().map(|&t| (t, 1.0)).collect();
        check_round_trip(&samples);
    }

    #[test]
    fn jittered_and_gappy_timestamps_stay_small() {
        let mut t = 1_700_000_000_000i64;
        let ts: Vec<i64> = (0..720)
            .map(|i| {
                t += 10_000 + [0, 1, -1, 2, 0, 0, -2][i % 7] + if i % 100 == 99 { 60_000 } else { 0 };
                t
            })
            .collect();
        let (ts_len, _) = encoded_len(&ts, &[]);
        assert!(ts_len < 300, "{ts_len} bytes");
        let samples: Vec<_> = ts.iter().map(|&t| (t, 0.5)).collect();
        check_round_trip(&samples);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs: [&[u8]; 9] = [
            &[],
            &[0x80],
            &[0xff; 11],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02],
            &[0xff, 0xff, 0xff, 0x07, 0x00, 0x00],
            &[5, 0xff, 1, 2, 3],
            &[5, 0x03, 0xff, 0xff, 0xff, 0xff],
            &[3, 0xfc, 0x00],
            &[
                2, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ];
        for bytes in inputs {
            let _ = decode_timestamps(bytes, &mut Vec::new());
            let _ = decode_values(bytes, &mut Vec::new());
        }
        // A claimed length above the limit is refused before any work.
        let mut huge = Vec::new();
        put_varint(&mut huge, MAX_COLUMN_LEN as u64 + 1);
        huge.push(0);
        assert!(matches!(
            decode_timestamps(&huge, &mut Vec::new()),
            Err(CodecError::Invalid { .. })
        ));
    }

    /// Columns of every kind, for the format fixture: two timestamps columns, then values columns.
    fn fixture_columns() -> (Vec<Vec<i64>>, Vec<Vec<f64>>) {
        let ts = vec![
            vec![
                1_700_000_000_000,
                1_700_000_010_000,
                1_700_000_020_000,
                1_700_000_030_001,
            ],
            vec![-3, 5, 4, 100],
        ];
        let values = vec![
            vec![12.5, 12.75, 12.25, 13.0, 13.0, -1.5],
            vec![1.5, f64::NAN, 2.5, -0.0, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5],
            vec![f64::NAN; 3],
            vec![1.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0],
            vec![
                f64::from_bits(0x0123_4567_89ab_cdef),
                f64::from_bits(0xfedc_ba98_7654_3210),
            ],
            vec![],
        ];
        (ts, values)
    }

    /// Blocks written today must be read by every later build: these bytes may only change together
    /// with the block format version.
    #[test]
    fn format_is_stable() {
        const FIXTURE: &str = concat!(
            "040680a0abfef962a09c0106041905a0f003061029c4136418c31200df540c090201000000000000f87f010000000000",
            "0000800e1e001fef0f0000000302000000000000f87f0303555555555555d53f56c10204efcdab896745230110325476",
            "98badcfe00",
        );
        let (ts, values) = fixture_columns();
        let mut bytes = Vec::new();
        ts.iter().for_each(|c| encode_timestamps(c, &mut bytes));
        values.iter().for_each(|c| encode_values(c, &mut bytes));
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, FIXTURE);

        let fixture: Vec<u8> = (0..FIXTURE.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&FIXTURE[i..i + 2], 16).expect("hex"))
            .collect();
        let mut pos = 0;
        for want in &ts {
            let mut got = Vec::new();
            pos += decode_timestamps(&fixture[pos..], &mut got).expect("fixture decodes");
            assert_eq!(&got, want);
        }
        for want in &values {
            let mut got = Vec::new();
            pos += decode_values(&fixture[pos..], &mut got).expect("fixture decodes");
            assert_eq!(bits(&got), bits(want));
        }
        assert_eq!(pos, fixture.len());
        // One column of each values kind.
        let kinds = [KIND_DECIMAL, KIND_DECIMAL_PATCHED, KIND_CONST, KIND_XOR, KIND_RAW];
        for (column, kind) in values.iter().zip(kinds) {
            let mut out = Vec::new();
            encode_values(column, &mut out);
            assert_eq!(out[1] & 7, kind, "{column:?}");
        }
    }

    #[test]
    fn reserved_residual_coder_is_rejected() {
        let column = [2u8, 0x01 | (63 << 2), 0x00, 0xff];
        assert!(matches!(
            decode_timestamps(&column, &mut Vec::new()),
            Err(CodecError::Invalid {
                reason: "reserved residual coder",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_samples_round_trip(samples in prop::collection::vec((any_ts(), any_value()), 0..80)) {
            check_round_trip(&samples);
        }

        #[test]
        fn realistic_samples_round_trip(samples in realistic()) {
            check_round_trip(&samples);
        }

        #[test]
        fn decimal_columns_round_trip(values in prop::collection::vec(decimal(), 0..300)) {
            let samples: Vec<_> = regular(values.len()).into_iter().zip(values).collect();
            check_round_trip(&samples);
        }

        #[test]
        fn sorted_timestamps_round_trip(mut ts in prop::collection::vec(any_ts(), 0..200)) {
            ts.sort_unstable();
            ts.dedup();
            let samples: Vec<_> = ts.into_iter().map(|t| (t, 1.0)).collect();
            check_round_trip(&samples);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
            let mut ts = Vec::new();
            if let Ok(used) = decode_timestamps(&bytes, &mut ts) {
                prop_assert!(used <= bytes.len());
            }
            let mut values = Vec::new();
            if let Ok(used) = decode_values(&bytes, &mut values) {
                prop_assert!(used <= bytes.len());
            }
        }
    }
}
