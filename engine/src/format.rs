//! On-disk constants and the small byte-level helpers every file format uses.
//!
//! Every integer on disk is little-endian or a LEB128 varint; see `docs/format.md`.

/// First bytes of every block file.
pub(crate) const BLOCK_MAGIC: [u8; 8] = *b"FSBLOCK1";
/// Block format version written by this build.
pub(crate) const BLOCK_VERSION: u32 = 4;
/// Size of the fixed block footer.
pub(crate) const BLOCK_FOOTER_LEN: usize = 84;

/// Version of the WAL segment and record layout written by this build (docs/format.md). Not on
/// disk: segments have no header, so a new layout must also make old segments recognisable. The
/// format fixtures (`engine/tests/fixtures/wal-v*`) pin it.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "documents the layout; checked by the fixture tests")
)]
pub(crate) const WAL_VERSION: u32 = 3;
/// WAL record header: u32 payload length + u32 CRC32 of the payload.
pub(crate) const WAL_HEADER_LEN: usize = 8;
/// Largest WAL record payload accepted on replay; anything larger is corruption.
pub(crate) const WAL_MAX_RECORD: usize = 256 << 20;
/// WAL record type: a series definition (shard-local id + series key).
pub(crate) const WAL_SERIES: u8 = 1;
/// WAL record type: a batch of samples, one entry per sample (written before version 2; read).
pub(crate) const WAL_SAMPLES: u8 = 2;
/// WAL record type: a batch of samples grouped by series, as block columns (written now).
pub(crate) const WAL_SAMPLE_COLUMNS: u8 = 3;
/// WAL record type (since version 3): a batch of one sample per series, as three columns (series
/// ids, timestamps, values) across the series: what a batch holding one scrape of many series is.
pub(crate) const WAL_SAMPLE_ROWS: u8 = 4;

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over a byte slice whose reads fail (never panic) on truncation.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, &'static str> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err("varint overflows 64 bits");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err("varint too long");
            }
        }
    }

    pub(crate) fn ivarint(&mut self) -> Result<i64, &'static str> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub(crate) fn usize(&mut self) -> Result<usize, &'static str> {
        usize::try_from(self.uvarint()?).map_err(|_| "length does not fit in memory")
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.buf.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn len_bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.usize()?;
        self.bytes(n)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, &'static str> {
        std::str::from_utf8(self.len_bytes()?).map_err(|_| "invalid UTF-8")
    }

    pub(crate) fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, &'static str> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, &'static str> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn i64_le(&mut self) -> Result<i64, &'static str> {
        Ok(self.u64_le()? as i64)
    }

    pub(crate) fn f64_le(&mut self) -> Result<f64, &'static str> {
        Ok(f64::from_bits(self.u64_le()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>()) {
            let mut b = Vec::new();
            put_uvarint(&mut b, u);
            put_ivarint(&mut b, i);
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.uvarint().unwrap(), u);
            prop_assert_eq!(r.ivarint().unwrap(), i);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            while r.uvarint().is_ok() {}
            let mut r = Reader::new(&bytes);
            let _ = r.str();
            let _ = r.u64_le();
        }
    }
}

#[cfg(test)]
#[path = "format_fixtures.rs"]
mod fixtures;
