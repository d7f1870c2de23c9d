//! Prometheus' XOR float chunk (`tsdb/chunkenc/xor.go`, described in
//! `tsdb/docs/format/chunks.md`), the chunk format of streamed remote read.
//!
//! Layout: the number of samples as a big-endian `u16`, then a bit stream written most
//! significant bit first:
//! - sample 0: the timestamp as a signed (zigzag) varint, the value's 64 raw bits;
//! - sample 1: the timestamp delta as an unsigned varint, then the value as below;
//! - later samples: the delta-of-delta of the timestamp as `0` (zero), `10` + 14 bits, `110` + 17
//!   bits, `1110` + 20 bits or `1111` + 64 bits (two's complement; the n-bit forms hold
//!   `-(2^(n-1) - 1) ..= 2^(n-1)`), then the value XOR-ed with the previous one: `0` (equal), `10`
//!   + the meaningful bits inside the previous window, or `11` + leading zeros (5 bits, capped at
//!   31) + the number of meaningful bits (6 bits, 64 written as 0) + the meaningful bits.
//!
//! This is not the engine's own Gorilla layout (least significant bit first, other prefix sizes):
//! remote read clients decode Prometheus' exactly.

// Big-endian by Prometheus' definition of the format (not the host's order), so explicit.
#![allow(clippy::big_endian_bytes)]

/// Samples per chunk Prometheus cuts at; remote read chunks follow it.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// An XOR chunk being written.
#[derive(Debug, Clone)]
pub struct XorChunk {
    bytes: Vec<u8>,
    /// Unused low bits of the last byte.
    free: u8,
    count: u16,
    t: i64,
    v: u64,
    t_delta: i64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        XorChunk {
            bytes: vec![0, 0],
            free: 0,
            count: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The chunk's bytes (header included).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Appends a sample; timestamps must increase (the format stores the first delta unsigned).
    /// Returns false (and appends nothing) once the chunk holds `u16::MAX` samples.
    pub fn append(&mut self, t: i64, v: f64) -> bool {
        if self.count == u16::MAX {
            return false;
        }
        let vb = v.to_bits();
        match self.count {
            0 => {
                let zz = ((t << 1) ^ (t >> 63)) as u64;
                self.write_uvarint(zz);
                self.write_bits(vb, 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                self.write_uvarint(delta as u64);
                self.write_value(vb);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                if dod == 0 {
                    self.write_bits(0, 1);
                } else if in_range(dod, 14) {
                    self.write_bits(0b10, 2);
                    self.write_bits(dod as u64, 14);
                } else if in_range(dod, 17) {
                    self.write_bits(0b110, 3);
                    self.write_bits(dod as u64, 17);
                } else if in_range(dod, 20) {
                    self.write_bits(0b1110, 4);
                    self.write_bits(dod as u64, 20);
                } else {
                    self.write_bits(0b1111, 4);
                    self.write_bits(dod as u64, 64);
                }
                self.write_value(vb);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = vb;
        self.count += 1;
        let [hi, lo] = self.count.to_be_bytes();
        self.bytes[0] = hi;
        self.bytes[1] = lo;
        true
    }

    fn write_value(&mut self, vb: u64) {
        let delta = vb ^ self.v;
        if delta == 0 {
            self.write_bits(0, 1);
            return;
        }
        self.write_bits(1, 1);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.write_bits(0, 1);
            let n = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.write_bits(delta >> self.trailing, n);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.write_bits(1, 1);
        self.write_bits(u64::from(leading), 5);
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // 64 does not fit in 6 bits and is written as 0 (readers take 0 as 64).
        self.write_bits(u64::from(sig), 6);
        self.write_bits(delta >> trailing, sig);
    }

    fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_bits((v & 0x7f) | 0x80, 8);
            v >>= 7;
        }
        self.write_bits(v, 8);
    }

    /// Writes the low `n` bits of `v` (n <= 64), most significant first.
    fn write_bits(&mut self, v: u64, n: u32) {
        let mut n = n;
        while n > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = n.min(u32::from(self.free));
            let shift = n - take;
            let bits = ((v >> shift) & ((1u64 << take) - 1)) as u8;
            let free = u32::from(self.free);
            if let Some(last) = self.bytes.last_mut() {
                *last |= bits << (free - take);
            }
            self.free -= take as u8;
            n -= take;
        }
    }
}

/// Whether `x` fits the n-bit delta-of-delta form: `-(2^(n-1) - 1) ..= 2^(n-1)`.
fn in_range(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Why bytes are not an XOR chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad XOR chunk: {0}")]
pub struct ChunkError(pub &'static str);

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bits(&mut self, n: u32) -> Result<u64, ChunkError> {
        let mut out = 0u64;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).ok_or(ChunkError("truncated"))?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            out = (out << 1) | u64::from(bit);
            self.pos += 1;
        }
        Ok(out)
    }

    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.bits(8)?;
            v |= (b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ChunkError("varint too long"))
    }
}

/// Decodes an XOR chunk (for tests and fuzzing: the server only writes them).
pub fn decode_xor(chunk: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    let (head, data) = chunk.split_at_checked(2).ok_or(ChunkError("no header"))?;
    let n = u16::from_be_bytes([head[0], head[1]]);
    let mut r = BitReader { data, pos: 0 };
    let mut out = Vec::with_capacity(usize::from(n));
    let (mut t, mut v, mut delta) = (0i64, 0u64, 0i64);
    let (mut leading, mut trailing) = (0u32, 0u32);
    for i in 0..n {
        match i {
            0 => {
                let zz = r.uvarint()?;
                t = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
                v = r.bits(64)?;
            }
            _ => {
                if i == 1 {
                    delta = r.uvarint()? as i64;
                } else {
                    let mut prefix = 0u8;
                    for _ in 0..4 {
                        prefix <<= 1;
                        if r.bits(1)? == 0 {
                            break;
                        }
                        prefix |= 1;
                    }
                    let dod = match prefix {
                        0b0 => 0,
                        0b10 => signed(r.bits(14)?, 14),
                        0b110 => signed(r.bits(17)?, 17),
                        0b1110 => signed(r.bits(20)?, 20),
                        _ => r.bits(64)? as i64,
                    };
                    delta = delta.wrapping_add(dod);
                }
                t = t.wrapping_add(delta);
                if r.bits(1)? == 1 {
                    if r.bits(1)? == 1 {
                        leading = r.bits(5)? as u32;
                        let mut sig = r.bits(6)? as u32;
                        if sig == 0 {
                            sig = 64;
                        }
                        if leading + sig > 64 {
                            return Err(ChunkError("meaningful bits past 64"));
                        }
                        trailing = 64 - leading - sig;
                    }
                    let sig = 64 - leading - trailing;
                    v ^= r.bits(sig)? << trailing;
                }
            }
        }
        out.push((t, f64::from_bits(v)));
    }
    Ok(out)
}

fn signed(bits: u64, n: u32) -> i64 {
    if bits > 1 << (n - 1) {
        (bits as i64) - (1i64 << n)
    } else {
        bits as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The one round-trip checker every test here goes through.
    fn round_trip(samples: &[(i64, f64)]) {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            assert!(c.append(t, v));
        }
        assert_eq!(c.len(), samples.len());
        let back = decode_xor(c.bytes()).unwrap();
        assert_eq!(back.len(), samples.len());
        for (a, b) in back.iter().zip(samples) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits());
        }
    }

    #[test]
    fn known_bytes() {
        // Two samples as Prometheus writes them: header 0x0002, zigzag varint 1000 -> d0 0f,
        // 1.0's bits, uvarint delta 15 -> 0f, value unchanged -> one 0 bit.
        let mut c = XorChunk::new();
        c.append(1000, 1.0);
        c.append(1015, 1.0);
        assert_eq!(
            c.bytes(),
            &[0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x0f, 0x00]
        );
    }

    #[test]
    fn examples() {
        round_trip(&[]);
        round_trip(&[(0, 0.0)]);
        round_trip(&[(-5, f64::NAN), (0, f64::INFINITY)]);
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        round_trip(&[(1, 1.0), (2, stale), (3, -0.0), (1_000_000, 1e300), (1_000_001, 5.5)]);
        let regular: Vec<_> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i % 7) as f64))
            .collect();
        round_trip(&regular);
        // Every delta-of-delta size class, at its bounds.
        let mut t = 0i64;
        let mut delta = 10i64;
        let mut s = vec![(0, 0.0), (10, 1.0)];
        t += 10;
        for dod in [
            0,
            8192,
            -8191,
            65536,
            -65535,
            524288,
            -524287,
            524289,
            1 << 40,
            -(1 << 20),
        ] {
            delta += dod;
            if delta <= 0 {
                delta = 1;
            }
            t += delta;
            s.push((t, dod as f64));
        }
        round_trip(&s);
    }

    #[test]
    fn garbage_never_panics() {
        assert!(decode_xor(&[]).is_err());
        assert!(decode_xor(&[0, 5, 1]).is_err());
        let _ = decode_xor(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }

    proptest! {
        #[test]
        fn any_increasing_series_round_trips(
            start in -1i64 << 50..1i64 << 50,
            steps in proptest::collection::vec((1i64..1 << 40, any::<u64>()), 0..200),
        ) {
            let mut t = start;
            let mut s = Vec::new();
            for (d, bits) in steps {
                s.push((t, f64::from_bits(bits)));
                t += d;
            }
            round_trip(&s);
        }
    }
}
