//! The snappy *block* format (not the framed one) that remote write and remote read bodies use,
//! with the decoded size checked against a limit before anything is allocated.

use crate::error::DecodeError;

/// Decompresses a snappy block, refusing one whose decoded length (read from its header, before
/// any allocation) exceeds `limit` bytes.
pub fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > limit {
        return Err(DecodeError::TooLarge { size: len, limit });
    }
    let mut out = vec![0; len];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    out.truncate(n);
    Ok(out)
}

/// Compresses `data` as one snappy block.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0; snap::raw::max_compress_len(data.len())];
    // Compressing into a buffer of `max_compress_len` bytes fails only for inputs over ~4 GiB,
    // which no caller builds; an empty answer then makes the receiver report the problem.
    match snap::raw::Encoder::new().compress(data, &mut out) {
        Ok(n) => {
            out.truncate(n);
            out
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let data = b"hello hello hello hello remote write".repeat(100);
        let c = compress(&data);
        assert!(c.len() < data.len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        assert!(matches!(
            decompress(&c, data.len() - 1),
            Err(DecodeError::TooLarge { size, .. }) if size == data.len()
        ));
        assert!(matches!(
            decompress(b"\xff\xff\xff\xff\xff\xff", 1 << 20),
            Err(DecodeError::Snappy(_))
        ));
        // A valid header followed by garbage.
        let mut bad = c.clone();
        bad.truncate(c.len() / 2);
        assert!(matches!(decompress(&bad, 1 << 20), Err(DecodeError::Snappy(_))));
    }

    #[test]
    fn framed_format_is_refused() {
        // The framed format starts with a stream identifier chunk; as a block it is garbage or
        // decodes to something that is not the payload.
        let framed = b"\xff\x06\x00\x00sNaPpY";
        assert!(decompress(framed, 1 << 20).is_err());
    }
}
