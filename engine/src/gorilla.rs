//! Gorilla compression for head chunks (Pelkonen et al., "Gorilla: a fast, scalable, in-memory
//! time series database", VLDB 2015): delta-of-delta timestamps and XOR-ed floats in one bit stream.
//!
//! The encoder appends in place, so an open chunk is always readable: a copy of
//! [`GorillaEncoder::as_bytes`] together with [`GorillaEncoder::len`] decodes to exactly the samples
//! pushed so far. Every `i64` timestamp sequence (any order, any magnitude; arithmetic wraps) and every
//! `f64` bit pattern (NaN payloads, `-0.0`, infinities) round-trips exactly.
//!
//! # Stream layout
//!
//! Bits are packed least-significant-bit first: bit `i` of the stream is bit `i % 8` of byte `i / 8`
//! (equivalently, the stream read as little-endian 64-bit words is a plain LSB-first bit string). A
//! multi-bit field is written low bit first. Prefix codes below are listed in stream order.
//!
//! - First sample: `len` (7 bits, 0..=64), then the zigzag-encoded timestamp in `len` bits; then the
//!   value's 64 raw bits.
//! - Each later sample: the timestamp's delta-of-delta `dod = (t - t_prev) - (t_prev - t_prev2)` (with
//!   wrapping arithmetic, and the delta before the second sample taken as 0), as
//!   `0` (dod = 0), `10`+7 bits, `110`+14 bits, `1110`+20 bits, `11110`+32 bits (two's complement)
//!   or `11111`+64 bits; then the value's XOR with the previous value's bits: `0` (same bits),
//!   `10` + the meaningful bits inside the previous window, or `11` + leading zeros (5 bits, capped at
//!   31) + meaningful length - 1 (6 bits) + the meaningful bits, which opens a new window.

use thiserror::Error;

/// Error returned by every decoder of this crate's codecs (Gorilla chunks and block columns) when the
/// input is truncated or not a valid encoding. Decoders never panic on any input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended inside `what`.
    #[error("truncated input: {what} at byte {offset}")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Byte offset in the input where the field starts or where the input ran out.
        offset: usize,
    },
    /// `what` holds a value that no encoder writes.
    #[error("invalid {what} at byte {offset}: {reason}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// Byte offset in the input of the field.
        offset: usize,
        /// Why the value is rejected.
        reason: &'static str,
    },
}

/// Appends bits LSB-first to a byte vector.
///
/// The word being filled lives in a register-sized accumulator and is stored (never loaded back) at
/// its aligned place in the vector when it is complete and on [`Self::sync`], so writes do not stall
/// on store-to-load forwarding. [`Self::as_bytes`] reads the vector: call `sync` (or use
/// [`Self::finish`]) after the last write.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Bits of the 64-bit word being filled (bits at `acc_bits` and above are zero).
    acc: u64,
    acc_bits: u32,
    /// Complete words before the accumulator's.
    words: usize,
}

/// Below this capacity a [`BitWriter`] grows by [`GROWTH_STEP`] bytes, not by doubling.
const SMALL_BUFFER: usize = 1024;
const GROWTH_STEP: usize = 64;

/// Unary quotients of Rice codes stop at this many ones; larger values are written with their length.
pub(crate) const RICE_ESCAPE: u32 = 16;

#[inline]
fn mask(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

#[inline]
fn load_le(bytes: &[u8], pos: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(pos..pos + 8) {
        word.copy_from_slice(src);
    } else if let Some(src) = bytes.get(pos..) {
        word[..src.len()].copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A writer whose buffer holds `bytes` before it grows.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            buf: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Number of bits written.
    pub(crate) fn bit_len(&self) -> usize {
        self.words * 64 + self.acc_bits as usize
    }

    /// Writes the low `n` bits of `value` (`n <= 64`).
    #[inline]
    pub(crate) fn write(&mut self, value: u64, n: u32) {
        let value = value & mask(n);
        let total = self.acc_bits + n;
        // `acc_bits < 64`, so the shift is in range.
        self.acc |= value << self.acc_bits;
        if total >= 64 {
            self.store();
            self.words += 1;
            let used = 64 - self.acc_bits;
            self.acc = value.checked_shr(used).unwrap_or(0);
            self.acc_bits = total - 64;
        } else {
            self.acc_bits = total;
        }
    }

    /// Stores the word being filled, so that [`Self::as_bytes`] holds every bit written.
    #[inline]
    pub(crate) fn sync(&mut self) {
        if self.acc_bits > 0 {
            self.store();
        }
    }

    /// Every bit written, the last byte zero-padded.
    pub(crate) fn finish(&mut self) -> &[u8] {
        self.sync();
        self.as_bytes()
    }

    /// Stores the accumulator at its word's place, growing the vector when needed.
    #[inline]
    fn store(&mut self) {
        let pos = self.words * 8;
        if self.buf.len() < pos + 8 {
            // Small buffers (the head's open chunks, one per series) grow 64 bytes at a time so
            // that they waste little; past 1 KiB `Vec` doubles its capacity as usual.
            if self.buf.capacity() < pos + 8 && self.buf.capacity() < SMALL_BUFFER {
                self.buf.reserve_exact(pos + 8 + GROWTH_STEP - self.buf.len());
            }
            // `resize` zero-fills.
            self.buf.resize(pos + 8, 0);
        }
        if let Some(slot) = self.buf.get_mut(pos..pos + 8) {
            slot.copy_from_slice(&self.acc.to_le_bytes());
        }
    }

    /// Writes `z` as a Rice code with parameter `k <= 62`: the quotient `z >> k` in unary (ones
    /// closed by a zero) and the `k` low bits; a quotient of [`RICE_ESCAPE`] or more is written as
    /// `RICE_ESCAPE` ones, the bit length of `z` minus one (6 bits) and `z` itself.
    #[inline]
    pub(crate) fn write_rice(&mut self, z: u64, k: u32) {
        let q = z >> k;
        if q < u64::from(RICE_ESCAPE) {
            let unary = (1u64 << q) - 1;
            let n = q as u32 + 1 + k;
            if n <= 64 {
                self.write(unary | ((z & mask(k)) << (q + 1)), n);
            } else {
                self.write(unary, q as u32 + 1);
                self.write(z, k);
            }
        } else {
            let len = 64 - z.leading_zeros();
            self.write(mask(RICE_ESCAPE) | (u64::from(len - 1) << RICE_ESCAPE), RICE_ESCAPE + 6);
            self.write(z, len);
        }
    }

    /// Bits [`Self::write_rice`] takes for `z`.
    #[inline]
    pub(crate) fn rice_len(z: u64, k: u32) -> u64 {
        let q = z >> k;
        if q < u64::from(RICE_ESCAPE) {
            q + 1 + u64::from(k)
        } else {
            u64::from(RICE_ESCAPE + 6 + 64 - z.leading_zeros())
        }
    }

    /// The bytes holding the bits written up to the last [`Self::sync`]; the last byte is zero-padded.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        debug_assert!(
            self.buf.get(self.words * 8..self.bit_len().div_ceil(8))
                == self.acc.to_le_bytes().get(..(self.acc_bits as usize).div_ceil(8)),
            "BitWriter::as_bytes without sync"
        );
        let len = self.bit_len().div_ceil(8);
        self.buf.get(..len).unwrap_or(&[])
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    fn shrink_to_fit(&mut self) {
        // The next write stores the whole accumulator word again.
        self.buf.truncate(self.bit_len().div_ceil(8));
        self.buf.shrink_to_fit();
    }
}

/// Reads an LSB-first bit stream, keeping up to 64 bits buffered in a register.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the next byte to load into `buf`.
    next: usize,
    /// Buffered bits, the next one at bit 0. Bits at `avail` and above may hold stream bits that
    /// are loaded again later; they are never used before being counted in `avail`.
    buf: u64,
    avail: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            next: 0,
            buf: 0,
            avail: 0,
        }
    }

    /// Bits consumed so far.
    pub(crate) fn bit_pos(&self) -> usize {
        self.next * 8 - self.avail as usize
    }

    /// Bytes consumed so far, counting a partly read byte.
    pub(crate) fn byte_pos(&self) -> usize {
        self.bit_pos().div_ceil(8)
    }

    /// Loads bytes until at least 56 bits are buffered or the input ends.
    #[inline]
    fn refill(&mut self) {
        if self.next + 8 <= self.data.len() {
            let word = load_le(self.data, self.next);
            self.buf |= word << self.avail;
            let bytes = (63 - self.avail) >> 3;
            self.next += bytes as usize;
            self.avail += bytes * 8;
        } else {
            while self.avail <= 56 {
                let Some(&byte) = self.data.get(self.next) else {
                    break;
                };
                self.buf |= u64::from(byte) << self.avail;
                self.next += 1;
                self.avail += 8;
            }
        }
    }

    /// Makes sure `n <= 56` bits are buffered.
    #[inline]
    pub(crate) fn ensure(&mut self, n: u32, what: &'static str) -> Result<(), CodecError> {
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return Err(CodecError::Truncated {
                    what,
                    offset: self.data.len(),
                });
            }
        }
        Ok(())
    }

    /// The next `n <= 56` bits without consuming them; bits past the end of the input read as zero.
    #[inline]
    pub(crate) fn peek(&mut self, n: u32) -> u64 {
        if self.avail < n {
            self.refill();
        }
        if self.avail < n {
            // Only zero bits lie beyond the end: mask out the unloaded part explicitly.
            self.buf & mask(self.avail)
        } else {
            self.buf & mask(n)
        }
    }

    /// Consumes `n` bits that [`Self::ensure`] made available.
    #[inline]
    pub(crate) fn skip(&mut self, n: u32) {
        debug_assert!(n <= self.avail);
        self.buf = if n >= 64 { 0 } else { self.buf >> n };
        self.avail -= n.min(self.avail);
    }

    /// Reads `n <= 56` bits.
    #[inline]
    pub(crate) fn read(&mut self, n: u32, what: &'static str) -> Result<u64, CodecError> {
        self.ensure(n, what)?;
        let value = self.buf & mask(n);
        self.skip(n);
        Ok(value)
    }

    /// Reads `n <= 64` bits.
    #[inline]
    pub(crate) fn read_long(&mut self, n: u32, what: &'static str) -> Result<u64, CodecError> {
        if n <= 56 {
            self.read(n, what)
        } else {
            let low = self.read(32, what)?;
            let high = self.read(n - 32, what)?;
            Ok(low | (high << 32))
        }
    }

    /// Reads one Rice code with parameter `k <= 62` as written by [`BitWriter::write_rice`].
    #[inline]
    pub(crate) fn read_rice(&mut self, k: u32, what: &'static str) -> Result<u64, CodecError> {
        if self.avail < 56 {
            self.refill();
        }
        let ones = (!self.buf).trailing_zeros();
        let total = ones + 1 + k;
        if ones < RICE_ESCAPE && total <= self.avail {
            // `total <= 64` here, so neither shift overflows and `ones << k` keeps every bit.
            let low = (self.buf >> (ones + 1)) & mask(k);
            self.skip(total);
            return Ok((u64::from(ones) << k) | low);
        }
        self.read_rice_slow(k, what)
    }

    /// Fills `out` with Rice codes of parameter `k <= 62`: [`Self::read_rice`] in a loop that keeps
    /// the reader's state in registers.
    pub(crate) fn read_rice_batch(&mut self, k: u32, out: &mut [u64], what: &'static str) -> Result<(), CodecError> {
        let low_mask = mask(k);
        let mut i = 0;
        while i < out.len() {
            // Fast loop while 8 more bytes can be loaded unconditionally.
            let (mut buf, mut avail, mut next) = (self.buf, self.avail, self.next);
            while next + 8 <= self.data.len() {
                let Some(slot) = out.get_mut(i) else {
                    break;
                };
                if avail < 56 {
                    buf |= load_le(self.data, next) << avail;
                    let bytes = (63 - avail) >> 3;
                    next += bytes as usize;
                    avail += bytes * 8;
                }
                let ones = (!buf).trailing_zeros();
                let total = ones + 1 + k;
                if ones >= RICE_ESCAPE || total > avail {
                    break;
                }
                *slot = (u64::from(ones) << k) | ((buf >> (ones + 1)) & low_mask);
                // `total` may be 64: shift in two steps.
                buf = (buf >> (total - 1)) >> 1;
                avail -= total;
                i += 1;
            }
            (self.buf, self.avail, self.next) = (buf, avail, next);
            // Near the end of the input, or an escaped code: one at a time.
            if let Some(slot) = out.get_mut(i) {
                *slot = self.read_rice(k, what)?;
                i += 1;
            }
        }
        Ok(())
    }

    #[cold]
    fn read_rice_slow(&mut self, k: u32, what: &'static str) -> Result<u64, CodecError> {
        let mut q = 0u64;
        while q < u64::from(RICE_ESCAPE) {
            if self.read(1, what)? == 0 {
                if k > 0 && q >> (64 - k) != 0 {
                    return Err(self.invalid(what, "rice quotient overflows 64 bits"));
                }
                return Ok((q << k) | self.read_long(k, what)?);
            }
            q += 1;
        }
        let len = self.read(6, what)? as u32 + 1;
        self.read_long(len, what)
    }

    pub(crate) fn invalid(&self, what: &'static str, reason: &'static str) -> CodecError {
        CodecError::Invalid {
            what,
            offset: self.bit_pos() / 8,
            reason,
        }
    }
}

#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
fn sign_extend(v: u64, n: u32) -> i64 {
    let shift = 64 - n;
    ((v << shift) as i64) >> shift
}

#[inline]
fn fits_signed(v: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    (-half..half).contains(&v)
}

/// Writes a chunk's first timestamp: its zigzag bit length in 7 bits, then those bits.
pub(crate) fn write_first_ts(w: &mut BitWriter, ts: i64) {
    let z = zigzag(ts);
    let len = 64 - z.leading_zeros();
    w.write(u64::from(len), 7);
    w.write(z, len);
}

/// Reads what [`write_first_ts`] wrote.
pub(crate) fn read_first_ts(r: &mut BitReader<'_>, what: &'static str) -> Result<i64, CodecError> {
    let len = r.read(7, what)? as u32;
    if len > 64 {
        return Err(r.invalid(what, "timestamp longer than 64 bits"));
    }
    Ok(unzigzag(r.read_long(len, what)?))
}

/// Delta-of-delta buckets: (prefix bits in stream order as an LSB-first value, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 4] = [(0b01, 2, 7), (0b011, 3, 14), (0b0111, 4, 20), (0b01111, 5, 32)];

pub(crate) fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write(0, 1);
        return;
    }
    for (prefix, plen, nbits) in DOD_BUCKETS {
        if fits_signed(dod, nbits) {
            w.write(prefix | ((dod as u64 & mask(nbits)) << plen), plen + nbits);
            return;
        }
    }
    w.write(0b11111, 5);
    w.write(dod as u64, 64);
}

#[inline(always)]
pub(crate) fn read_dod(r: &mut BitReader<'_>) -> Result<i64, CodecError> {
    if r.avail < 56 {
        r.refill();
    }
    // Regular samples: a single 0 bit.
    if r.buf & 1 == 0 && r.avail > 0 {
        r.skip(1);
        return Ok(0);
    }
    read_dod_bucket(r)
}

#[inline(never)]
fn read_dod_bucket(r: &mut BitReader<'_>) -> Result<i64, CodecError> {
    const WHAT: &str = "gorilla timestamp";
    let ones = (!r.peek(5)).trailing_zeros().min(5);
    match ones {
        0 => {
            r.ensure(1, WHAT)?;
            r.skip(1);
            Ok(0)
        }
        5 => {
            r.ensure(5, WHAT)?;
            r.skip(5);
            Ok(r.read_long(64, WHAT)? as i64)
        }
        _ => {
            let (_, plen, nbits) = DOD_BUCKETS[(ones - 1) as usize];
            let v = r.read(plen + nbits, WHAT)? >> plen;
            Ok(sign_extend(v, nbits))
        }
    }
}

/// State of the XOR float coder: the previous value's bits and the current meaningful-bit window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct XorState {
    prev: u64,
    lead: u32,
    /// Length of the window in bits; 0 until the first window is opened.
    len: u32,
}

impl XorState {
    pub(crate) fn new(first: u64) -> Self {
        Self {
            prev: first,
            lead: 0,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn encode(&mut self, w: &mut BitWriter, bits: u64) {
        let xor = bits ^ self.prev;
        self.prev = bits;
        if xor == 0 {
            w.write(0, 1);
            return;
        }
        let lead = xor.leading_zeros().min(31);
        let trail = xor.trailing_zeros();
        let len = 64 - lead - trail;
        // Reuse the open window when the value fits in it, unless a new, tighter window is
        // cheaper even with its 11-bit header (the paper always reuses; decoders cannot tell).
        if self.len != 0 && lead >= self.lead && trail >= 64 - self.lead - self.len && self.len <= len + 11 {
            let shift = 64 - self.lead - self.len;
            w.write(0b01, 2);
            w.write(xor >> shift, self.len);
        } else {
            w.write(0b11 | (u64::from(lead) << 2) | (u64::from(len - 1) << 7), 13);
            w.write(xor >> trail, len);
            self.lead = lead;
            self.len = len;
        }
    }

    #[inline(always)]
    pub(crate) fn decode(&mut self, r: &mut BitReader<'_>) -> Result<u64, CodecError> {
        const WHAT: &str = "gorilla value";
        if r.avail < 56 {
            r.refill();
        }
        let control = r.buf & mask(r.avail.min(2));
        if control & 1 == 0 {
            r.ensure(1, WHAT)?;
            r.skip(1);
            return Ok(self.prev);
        }
        if control & 2 == 0 {
            r.ensure(2, WHAT)?;
            if self.len == 0 {
                return Err(r.invalid(WHAT, "reuses a window before one was opened"));
            }
            r.skip(2);
        } else {
            let header = r.read(13, WHAT)?;
            let lead = ((header >> 2) & 31) as u32;
            let len = ((header >> 7) & 63) as u32 + 1;
            if lead + len > 64 {
                return Err(r.invalid(WHAT, "window extends past 64 bits"));
            }
            self.lead = lead;
            self.len = len;
        }
        let shift = 64 - self.lead - self.len;
        let meaningful = r.read_long(self.len, WHAT)?;
        self.prev ^= meaningful << shift;
        Ok(self.prev)
    }
}

/// The bit writer, the sample count and the timestamp state of a chunk encoder (Gorilla's and the
/// head's): a sample is [`Self::begin`], its value written to `w`, then [`Self::end`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeWriter {
    pub(crate) w: BitWriter,
    pub(crate) count: usize,
    pub(crate) first_ts: i64,
    pub(crate) last_ts: i64,
    last_delta: i64,
}

impl TimeWriter {
    /// Writes the timestamp of the next sample; true for the first sample of the chunk.
    #[inline]
    pub(crate) fn begin(&mut self, ts: i64) -> bool {
        if self.count == 0 {
            write_first_ts(&mut self.w, ts);
            self.first_ts = ts;
            return true;
        }
        let delta = ts.wrapping_sub(self.last_ts);
        write_dod(&mut self.w, delta.wrapping_sub(self.last_delta));
        self.last_delta = delta;
        false
    }

    /// Completes the sample begun with `ts`.
    #[inline]
    pub(crate) fn end(&mut self, ts: i64) {
        self.w.sync();
        self.last_ts = ts;
        self.count += 1;
    }
}

/// The accessors every chunk encoder (Gorilla's and the head's) has, over its [`TimeWriter`] `t`.
macro_rules! stream_accessors {
    () => {
        /// Number of samples pushed.
        pub fn len(&self) -> usize {
            self.t.count
        }

        /// True before the first push.
        pub fn is_empty(&self) -> bool {
            self.t.count == 0
        }

        /// Timestamp of the first sample.
        pub fn first_ts(&self) -> Option<i64> {
            (self.t.count > 0).then_some(self.t.first_ts)
        }

        /// Timestamp of the last sample.
        pub fn last_ts(&self) -> Option<i64> {
            (self.t.count > 0).then_some(self.t.last_ts)
        }

        /// The bytes written so far (last byte zero-padded). Together with [`Self::len`], a copy of
        /// these decodes to exactly the samples pushed so far.
        pub fn as_bytes(&self) -> &[u8] {
            self.t.w.as_bytes()
        }

        /// Number of bits written so far.
        pub fn bit_len(&self) -> usize {
            self.t.w.bit_len()
        }

        /// Heap bytes used (for RAM accounting).
        pub fn heap_bytes(&self) -> usize {
            self.t.w.heap_bytes()
        }
    };
}
pub(crate) use stream_accessors;

/// `Iterator` for a chunk decoder with a [`Cursor`] `c` and a method `decode_next`: exactly
/// `count` samples, or an error and then `None`.
macro_rules! sample_iterator {
    ($decoder:ident) => {
        impl Iterator for $decoder<'_> {
            type Item = Result<(i64, f64), CodecError>;

            #[inline]
            fn next(&mut self) -> Option<Self::Item> {
                if self.c.failed || self.c.done >= self.c.count {
                    return None;
                }
                match self.decode_next() {
                    Ok(sample) => {
                        self.c.done += 1;
                        Some(Ok(sample))
                    }
                    Err(e) => {
                        self.c.failed = true;
                        Some(Err(e))
                    }
                }
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                if self.c.failed {
                    (0, Some(0))
                } else {
                    (0, Some(self.c.count - self.c.done))
                }
            }
        }
    };
}
pub(crate) use sample_iterator;

/// Appends samples to an in-memory Gorilla chunk. See the [module docs](self) for the layout.
#[derive(Debug, Clone, Default)]
pub struct GorillaEncoder {
    t: TimeWriter,
    xor: XorState,
}

impl GorillaEncoder {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a sample. Any `i64` sequence (any order and magnitude) and any `f64` bit pattern
    /// round-trips exactly.
    pub fn push(&mut self, ts: i64, value: f64) {
        let bits = value.to_bits();
        if self.t.begin(ts) {
            self.t.w.write(bits, 64);
            self.xor = XorState::new(bits);
        } else {
            self.xor.encode(&mut self.t.w, bits);
        }
        self.t.end(ts);
    }

    stream_accessors!();

    /// Value of the last sample (bit for bit).
    pub fn last_value(&self) -> Option<f64> {
        (!self.is_empty()).then(|| f64::from_bits(self.xor.prev))
    }

    /// Releases spare capacity, e.g. when a chunk is sealed; later pushes still work.
    pub fn shrink_to_fit(&mut self) {
        self.t.w.shrink_to_fit();
    }

    /// Decodes the samples pushed so far.
    pub fn iter(&self) -> GorillaDecoder<'_> {
        GorillaDecoder::new(self.as_bytes(), self.len())
    }
}

/// Iterates over the samples of a Gorilla chunk.
///
/// Yields exactly `count` samples, or an error (and then `None`) when the bytes are truncated or
/// invalid. Bytes after the `count`-th sample are ignored.
#[derive(Debug, Clone)]
pub struct GorillaDecoder<'a> {
    c: Cursor<'a>,
    xor: XorState,
}

/// The reader, the progress and the timestamp state of a chunk decoder (Gorilla's and the head's).
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    pub(crate) r: BitReader<'a>,
    pub(crate) count: usize,
    pub(crate) done: usize,
    pub(crate) failed: bool,
    pub(crate) ts: i64,
    pub(crate) delta: i64,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], count: usize) -> Self {
        Cursor {
            r: BitReader::new(bytes),
            count,
            done: 0,
            failed: false,
            ts: 0,
            delta: 0,
        }
    }

    /// Reserves room for the samples left; each takes at least two bits, so `count` is trusted no
    /// further than the input.
    pub(crate) fn reserve(&self, ts: &mut Vec<i64>, values: &mut Vec<f64>) {
        let hint = (self.count - self.done).min(self.r.data.len().saturating_mul(4));
        ts.reserve(hint);
        values.reserve(hint);
    }

    /// Reads the timestamp of a sample after the first.
    #[inline(always)]
    pub(crate) fn next_ts(&mut self) -> Result<i64, CodecError> {
        let dod = read_dod(&mut self.r)?;
        self.delta = self.delta.wrapping_add(dod);
        self.ts = self.ts.wrapping_add(self.delta);
        Ok(self.ts)
    }
}

impl<'a> GorillaDecoder<'a> {
    /// A decoder of the first `count` samples in `bytes`.
    pub fn new(bytes: &'a [u8], count: usize) -> Self {
        Self {
            c: Cursor::new(bytes, count),
            xor: XorState::default(),
        }
    }

    /// Decodes every remaining sample, appending timestamps to `ts` and values to `values`: the
    /// fast way to read a whole chunk. On error, the samples before the bad one have been appended.
    pub fn decode_into(mut self, ts: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<(), CodecError> {
        if self.c.failed {
            return Ok(());
        }
        self.c.reserve(ts, values);
        if self.c.done == 0 && self.c.count > 0 {
            let (t, v) = self.decode_first()?;
            ts.push(t);
            values.push(v);
            self.c.done = 1;
        }
        // Work on locals so that the reader's state stays in registers.
        let mut r = self.c.r.clone();
        let mut xor = self.xor;
        let (mut t, mut delta) = (self.c.ts, self.c.delta);
        for _ in self.c.done..self.c.count {
            let dod = read_dod(&mut r)?;
            delta = delta.wrapping_add(dod);
            t = t.wrapping_add(delta);
            let bits = xor.decode(&mut r)?;
            ts.push(t);
            values.push(f64::from_bits(bits));
        }
        Ok(())
    }

    #[inline(never)]
    fn decode_first(&mut self) -> Result<(i64, f64), CodecError> {
        const WHAT: &str = "gorilla first sample";
        self.c.ts = read_first_ts(&mut self.c.r, WHAT)?;
        let bits = self.c.r.read_long(64, WHAT)?;
        self.xor = XorState::new(bits);
        Ok((self.c.ts, f64::from_bits(bits)))
    }

    #[inline(always)]
    fn decode_next(&mut self) -> Result<(i64, f64), CodecError> {
        if self.c.done == 0 {
            return self.decode_first();
        }
        let t = self.c.next_ts()?;
        let bits = self.xor.decode(&mut self.c.r)?;
        Ok((t, f64::from_bits(bits)))
    }
}

sample_iterator!(GorillaDecoder);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec_testkit::{any_ts, any_value, check_round_trip, realistic};
    use proptest::prelude::*;

    #[test]
    fn empty_and_single() {
        check_round_trip(&[]);
        check_round_trip(&[(0, 0.0)]);
        check_round_trip(&[(i64::MIN, f64::NAN)]);
        check_round_trip(&[(i64::MAX, -0.0)]);
    }

    #[test]
    fn regular_series_is_small() {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (1_700_000_000_000 + i * 10_000, 42.0)).collect();
        check_round_trip(&samples);
        let mut enc = GorillaEncoder::new();
        for &(t, v) in &samples {
            enc.push(t, v);
        }
        // 49 + 64 bits for the first sample, 24 + 1 for the second, then 2 bits per sample.
        assert_eq!(enc.bit_len(), 49 + 64 + 24 + 1 + 118 * 2);
    }

    #[test]
    fn extremes_and_special_floats() {
        let specials = [
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0002), // Prometheus stale marker
            f64::from_bits(0xfff8_dead_beef_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            1.5,
        ];
        let times = [
            i64::MIN,
            i64::MAX,
            0,
            -1,
            i64::MIN,
            1,
            i64::MAX,
            i64::MAX,
            -5,
            7,
            1 << 40,
            -(1 << 33),
            3,
        ];
        let samples: Vec<_> = times.iter().copied().zip(specials.iter().copied()).collect();
        check_round_trip(&samples);
    }

    #[test]
    fn every_dod_bucket() {
        let mut t = 0i64;
        let mut samples = vec![(t, 1.0)];
        let mut delta = 0i64;
        for dod in [
            0,
            1,
            -64,
            63,
            64,
            -8192,
            8191,
            8192,
            -(1 << 19),
            (1 << 19) - 1,
            1 << 19,
            i32::MIN as i64,
            i32::MAX as i64,
            1 << 31,
            i64::MIN,
            i64::MAX,
        ] {
            delta = delta.wrapping_add(dod);
            t = t.wrapping_add(delta);
            samples.push((t, 1.0));
        }
        check_round_trip(&samples);
    }

    #[test]
    fn garbage_does_not_panic() {
        let inputs: [&[u8]; 5] = [&[], &[0xff], &[0xff; 40], &[0x7f, 0, 0, 0], &[0x41; 3]];
        for bytes in inputs {
            for count in [0, 1, 2, 100] {
                let got: Vec<_> = GorillaDecoder::new(bytes, count).collect();
                assert!(got.len() <= count);
            }
        }
        // A window reused before one was opened is rejected.
        let mut w = BitWriter::new();
        w.write(0, 7);
        w.write(0, 64);
        w.write(0, 1);
        w.write(0b01, 2);
        let got: Vec<_> = GorillaDecoder::new(w.finish(), 2).collect();
        assert!(matches!(got.last(), Some(Err(CodecError::Invalid { .. }))));
    }

    #[test]
    fn bit_writer_and_reader_agree() {
        let mut w = BitWriter::new();
        let fields: Vec<(u64, u32)> = (0..200u32)
            .map(|i| ((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), i % 65))
            .collect();
        for &(v, n) in &fields {
            w.write(v, n);
        }
        let mut r = BitReader::new(w.finish());
        for &(v, n) in &fields {
            assert_eq!(r.read_long(n, "test").expect("bits"), v & mask(n));
        }
        assert_eq!(r.byte_pos(), w.as_bytes().len());
    }

    proptest! {
        #[test]
        fn arbitrary_samples_round_trip(samples in prop::collection::vec((any_ts(), any_value()), 0..64)) {
            check_round_trip(&samples);
        }

        #[test]
        fn realistic_samples_round_trip(samples in realistic()) {
            check_round_trip(&samples);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), count in 0usize..40) {
            let got: Vec<_> = GorillaDecoder::new(&bytes, count).collect();
            prop_assert!(got.len() <= count);
            if let Some(pos) = got.iter().position(Result::is_err) {
                prop_assert_eq!(pos + 1, got.len());
            }
        }
    }
}
