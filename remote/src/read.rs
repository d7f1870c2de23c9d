//! Serving remote read: decoding a `ReadRequest`, choosing the answer format, and encoding either
//! answer: one snappy-compressed `ReadResponse` of samples, or the streamed format, a sequence of
//! frames `uvarint(length) | CRC32-Castagnoli (big-endian) | ChunkedReadResponse`, uncompressed,
//! each holding XOR chunks of one series (`storage/remote/chunked.go`).

// Big-endian by Prometheus' definition of the format (not the host's order), so explicit.
#![allow(clippy::big_endian_bytes)]

use bytes::Bytes;
use prost::Message;

use crate::error::DecodeError;
use crate::proto::{Chunk, ChunkEncoding, ChunkedReadResponse, ChunkedSeries, Label, ReadRequest, ResponseType};
use crate::snappy;
use crate::xor::{SAMPLES_PER_CHUNK, XorChunk};

/// Content type of the samples answer (snappy-compressed, `Content-Encoding: snappy`).
pub const SAMPLES_CONTENT_TYPE: &str = "application/x-protobuf";
/// Content type of the streamed answer; Prometheus matches this exact prefix.
pub const STREAMED_CONTENT_TYPE: &str = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";
/// Largest frame Prometheus writes (`--storage.remote.read-max-bytes-in-frame`); foresight too.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Decompresses and decodes a remote read request; `limit` caps the decompressed size.
pub fn decode_read(compressed: &[u8], limit: usize) -> Result<ReadRequest, DecodeError> {
    let raw = snappy::decompress(compressed, limit)?;
    ReadRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf {
        message: "prometheus.ReadRequest",
        reason: e.to_string(),
    })
}

/// The answer format to use: the client's first accepted type that foresight writes (both, so
/// its first), samples when it lists none.
pub fn response_type(req: &ReadRequest) -> ResponseType {
    req.accepted_response_types
        .iter()
        .find_map(|&t| ResponseType::try_from(t).ok())
        .unwrap_or(ResponseType::Samples)
}

/// A label set as protobuf labels.
pub fn labels_to_proto<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Label> {
    labels
        .into_iter()
        .map(|(n, v)| Label {
            name: Bytes::copy_from_slice(n.as_bytes()),
            value: Bytes::copy_from_slice(v.as_bytes()),
        })
        .collect()
}

/// Appends the frames of one series (its samples cut into XOR chunks of up to 120 samples, frames
/// of at most about [`MAX_FRAME_BYTES`]) to `out`. Samples must be in increasing time order.
pub fn write_series_frames(out: &mut Vec<u8>, query_index: i64, labels: &[Label], samples: &[(i64, f64)]) {
    let mut series = ChunkedSeries {
        labels: labels.to_vec(),
        chunks: Vec::new(),
    };
    let mut size = 0usize;
    for piece in samples.chunks(SAMPLES_PER_CHUNK) {
        let mut c = XorChunk::new();
        for &(t, v) in piece {
            c.append(t, v);
        }
        let (Some(first), Some(last)) = (piece.first(), piece.last()) else {
            continue;
        };
        size += c.bytes().len() + 32;
        series.chunks.push(Chunk {
            min_time_ms: first.0,
            max_time_ms: last.0,
            r#type: ChunkEncoding::Xor as i32,
            data: c.bytes().to_vec(),
        });
        if size >= MAX_FRAME_BYTES {
            write_frame(out, query_index, &series);
            series.chunks.clear();
            size = 0;
        }
    }
    if !series.chunks.is_empty() {
        write_frame(out, query_index, &series);
    }
}

fn write_frame(out: &mut Vec<u8>, query_index: i64, series: &ChunkedSeries) {
    let msg = ChunkedReadResponse {
        chunked_series: vec![series.clone()],
        query_index,
    };
    let payload = msg.encode_to_vec();
    let mut len = payload.len() as u64;
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(&crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
}

/// Reads the frames of a streamed answer back (for tests and fuzzing), checking each CRC.
pub fn read_frames(mut data: &[u8]) -> Result<Vec<ChunkedReadResponse>, DecodeError> {
    let bad = |reason: &str| DecodeError::Protobuf {
        message: "prometheus.ChunkedReadResponse",
        reason: reason.to_owned(),
    };
    let mut out = Vec::new();
    while !data.is_empty() {
        let mut len = 0u64;
        let mut i = 0;
        loop {
            let b = *data.get(i).ok_or_else(|| bad("truncated frame length"))?;
            if i >= 9 {
                return Err(bad("frame length varint too long"));
            }
            len |= u64::from(b & 0x7f) << (7 * i);
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let len = usize::try_from(len).map_err(|_| bad("frame too long"))?;
        let rest = &data[i..];
        let (crc, rest) = rest.split_at_checked(4).ok_or_else(|| bad("truncated CRC"))?;
        let (payload, rest) = rest.split_at_checked(len).ok_or_else(|| bad("truncated frame"))?;
        if crc32c(payload).to_be_bytes() != crc {
            return Err(bad("CRC mismatch"));
        }
        out.push(ChunkedReadResponse::decode(payload).map_err(|e| bad(&e.to_string()))?);
        data = rest;
    }
    Ok(out)
}

/// CRC-32C (Castagnoli), as Go's `crc32.MakeTable(crc32.Castagnoli)`.
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0x82f6_3b78 } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{LabelMatcher, Query};
    use crate::xor::decode_xor;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn request_round_trip_and_format_choice() {
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 1,
                end_timestamp_ms: 2,
                matchers: vec![LabelMatcher {
                    r#type: 0,
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                hints: None,
            }],
            accepted_response_types: vec![1, 0],
        };
        let back = decode_read(&snappy::compress(&req.encode_to_vec()), 1 << 20).unwrap();
        assert_eq!(back, req);
        assert_eq!(response_type(&back), ResponseType::StreamedXorChunks);
        let samples_only = ReadRequest {
            accepted_response_types: vec![],
            ..req
        };
        assert_eq!(response_type(&samples_only), ResponseType::Samples);
    }

    #[test]
    fn frames_round_trip() {
        let labels = labels_to_proto([("__name__", "up"), ("job", "a")]);
        let samples: Vec<(i64, f64)> = (0..1000).map(|i| (i * 1000, i as f64)).collect();
        let mut out = Vec::new();
        write_series_frames(&mut out, 3, &labels, &samples);
        write_series_frames(&mut out, 3, &labels, &[]);
        let frames = read_frames(&out).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].query_index, 3);
        let series = &frames[0].chunked_series[0];
        assert_eq!(series.labels, labels);
        assert_eq!(series.chunks.len(), 9);
        let mut back = Vec::new();
        for c in &series.chunks {
            back.extend(decode_xor(&c.data).unwrap());
        }
        assert_eq!(back, samples);
        assert_eq!(series.chunks[8].min_time_ms, 960_000);
        assert_eq!(series.chunks[8].max_time_ms, 999_000);
        let mut damaged = out.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(read_frames(&damaged).is_err());
    }
}
