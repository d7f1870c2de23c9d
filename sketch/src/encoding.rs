//! The sketch's compact byte form (docs/format.md, "Quantile sketch"):
//!
//! ```text
//! uvarint header        n_pos << 2 | (negative store present) << 1 | (zero or non-finite counts follow)
//! [uvarint zero count, uvarint non-finite count]      when bit 0
//! [uvarint n_neg, store of n_neg buckets]             when bit 1
//! store of n_pos buckets
//! store:  ivarint first key, uvarint (count - 1),
//!         then per further bucket: uvarint ((count - 1) << 1 | skips), [uvarint (key gap - 2)] when skips
//! ```
//!
//! A bucket next to the previous one (the usual case) costs one byte when its count is below 64.
//! Minimum and maximum are not stored: the rollup keeps them exactly, and passes them to
//! [`Sketch::decode`].

use crate::Sketch;
use crate::store::Store;

/// Bytes that are not a sketch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad sketch encoding at byte {offset}: {reason}")]
pub struct DecodeError {
    /// Offset in the input where decoding failed.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_store(out: &mut Vec<u8>, s: &Store) {
    let mut prev: Option<i32> = None;
    for &(k, c) in s.bins() {
        match prev {
            None => {
                put_ivarint(out, i64::from(k));
                put_uvarint(out, c - 1);
            }
            Some(p) => {
                let gap = i64::from(k) - i64::from(p);
                put_uvarint(out, ((c - 1) << 1) | u64::from(gap > 1));
                if gap > 1 {
                    put_uvarint(out, (gap - 2) as u64);
                }
            }
        }
        prev = Some(k);
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            reason,
        }
    }

    fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.err("truncated"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err("varint too long"));
            }
        }
    }

    fn ivarint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn count(&mut self, stored: u64) -> Result<u64, DecodeError> {
        stored.checked_add(1).ok_or_else(|| self.err("bucket count overflows"))
    }

    fn store(&mut self, n: u64) -> Result<Store, DecodeError> {
        // Every bucket takes at least one byte: a count larger than the input is corrupt.
        if n > (self.buf.len() - self.pos.min(self.buf.len())) as u64 {
            return Err(self.err("more buckets than bytes"));
        }
        let mut bins = Vec::with_capacity(n as usize);
        let mut total = 0u64;
        let mut key = 0i64;
        for i in 0..n {
            let c = if i == 0 {
                key = self.ivarint()?;
                let c = self.uvarint()?;
                self.count(c)?
            } else {
                let v = self.uvarint()?;
                let mut gap = 1i64;
                if v & 1 == 1 {
                    let g = self.uvarint()?;
                    gap = i64::try_from(g)
                        .ok()
                        .and_then(|g| g.checked_add(2))
                        .ok_or_else(|| self.err("bucket gap too large"))?;
                }
                key = key.checked_add(gap).ok_or_else(|| self.err("bucket key overflows"))?;
                self.count(v >> 1)?
            };
            let k = i32::try_from(key).map_err(|_| self.err("bucket key out of range"))?;
            total = total.checked_add(c).ok_or_else(|| self.err("total count overflows"))?;
            bins.push((k, c));
        }
        Ok(Store::from_bins(bins, total))
    }
}

impl Sketch {
    /// Appends the sketch's compact form (without minimum and maximum) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let extra = self.zero > 0 || self.non_finite > 0;
        let header = ((self.pos.len() as u64) << 2) | (u64::from(self.neg.len() > 0) << 1) | u64::from(extra);
        put_uvarint(out, header);
        if extra {
            put_uvarint(out, self.zero);
            put_uvarint(out, self.non_finite);
        }
        if self.neg.len() > 0 {
            put_uvarint(out, self.neg.len() as u64);
            put_store(out, &self.neg);
        }
        put_store(out, &self.pos);
    }

    /// Reads a sketch written by [`Sketch::encode`] from the start of `bytes`, with the minimum
    /// and maximum the writer kept beside it; returns it and the bytes used.
    pub fn decode(bytes: &[u8], min: f64, max: f64) -> Result<(Sketch, usize), DecodeError> {
        let mut c = Cursor { buf: bytes, pos: 0 };
        let header = c.uvarint()?;
        let (zero, non_finite) = if header & 1 == 1 {
            (c.uvarint()?, c.uvarint()?)
        } else {
            (0, 0)
        };
        let neg = if header & 2 == 2 {
            let n = c.uvarint()?;
            if n == 0 {
                return Err(c.err("empty negative store marked present"));
            }
            c.store(n)?
        } else {
            Store::default()
        };
        let pos = c.store(header >> 2)?;
        let sketch = Sketch {
            pos,
            neg,
            zero,
            non_finite,
            min,
            max,
        };
        sketch
            .pos
            .total()
            .checked_add(sketch.neg.total())
            .and_then(|t| t.checked_add(zero))
            .ok_or_else(|| c.err("total count overflows"))?;
        Ok((sketch, c.pos))
    }
}
