//! Remote write 1.0 read in place: the protobuf wire format of `prometheus.WriteRequest` walked
//! over the decompressed buffer, handing out label names and values as slices of it.
//!
//! Why not prost here: a 1.0 request carries every label of every series, usually one sample
//! each, and decoding it into messages costs two reference-counted `Bytes` and a `Vec` per
//! label and series (about a third of the receive path's CPU in a profile). The walk below
//! allocates nothing per series. It follows the same wire rules as prost for the fields it reads
//! (unknown fields skipped, a wrong wire type for a known field is an error, the last scalar
//! wins); exemplars and histograms are only counted, and metadata is decoded with prost (rare).
//! A test holds it to prost's decoding on generated requests.

use crate::proto::MetricMetadata;
use prost::Message;

/// Wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// A protobuf reader over a byte slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes")
    }

    /// A field key: (field number, wire type).
    fn key(&mut self) -> Result<(u64, u8), &'static str> {
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 {
            return Err("field number 0");
        }
        Ok((field, (k & 7) as u8))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("length overflows")?;
        let s = self.buf.get(self.pos..end).ok_or("truncated field")?;
        self.pos = end;
        Ok(s)
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], &'static str> {
        let n = usize::try_from(self.varint()?).map_err(|_| "length overflows")?;
        self.bytes(n)
    }

    fn fixed64(&mut self) -> Result<u64, &'static str> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Skips a field of an unknown number.
    fn skip(&mut self, wire: u8) -> Result<(), &'static str> {
        match wire {
            VARINT => self.varint().map(|_| ()),
            I64 => self.bytes(8).map(|_| ()),
            LEN => self.len_delimited().map(|_| ()),
            I32 => self.bytes(4).map(|_| ()),
            _ => Err("unsupported wire type (groups are not used by remote write)"),
        }
    }
}

fn expect(wire: u8, want: u8, what: &'static str) -> Result<(), &'static str> {
    if wire == want { Ok(()) } else { Err(what) }
}

/// One series as the walk hands it out: label (name, value) byte slices in the order sent, its
/// float samples, and how many exemplars and native histograms it carried.
pub(crate) struct RawSeries<'a, 's> {
    pub(crate) labels: &'s [(&'a [u8], &'a [u8])],
    pub(crate) samples: &'s [(i64, f64)],
    pub(crate) exemplars: usize,
    pub(crate) histograms: usize,
}

/// Walks a 1.0 `WriteRequest`: `series(index, series)` for each `TimeSeries` in order and
/// `metadata(m)` for each `MetricMetadata`. Errors name what is malformed; nothing is handed out
/// after an error, but what was handed out before it stays handed out (callers validate first
/// with a walk that does nothing, as [`count_series`] does).
pub(crate) fn walk_v1<'a>(
    raw: &'a [u8],
    mut series: impl FnMut(usize, RawSeries<'a, '_>),
    mut metadata: impl FnMut(MetricMetadata),
) -> Result<usize, String> {
    let mut r = Reader::new(raw);
    let mut labels: Vec<(&'a [u8], &'a [u8])> = Vec::with_capacity(16);
    let mut samples: Vec<(i64, f64)> = Vec::with_capacity(4);
    let mut index = 0usize;
    while !r.done() {
        let (field, wire) = r.key().map_err(|e| format!("WriteRequest: {e}"))?;
        match field {
            1 => {
                expect(wire, LEN, "WriteRequest.timeseries: wrong wire type")?;
                let body = r.len_delimited().map_err(|e| format!("WriteRequest.timeseries: {e}"))?;
                labels.clear();
                samples.clear();
                let (exemplars, histograms) = read_series(body, &mut labels, &mut samples)
                    .map_err(|e| format!("WriteRequest.timeseries[{index}]: {e}"))?;
                series(
                    index,
                    RawSeries {
                        labels: &labels,
                        samples: &samples,
                        exemplars,
                        histograms,
                    },
                );
                index += 1;
            }
            3 => {
                expect(wire, LEN, "WriteRequest.metadata: wrong wire type")?;
                let body = r.len_delimited().map_err(|e| format!("WriteRequest.metadata: {e}"))?;
                metadata(MetricMetadata::decode(body).map_err(|e| format!("WriteRequest.metadata: {e}"))?);
            }
            _ => r.skip(wire).map_err(|e| format!("WriteRequest: {e}"))?,
        }
    }
    Ok(index)
}

/// Checks a whole request and counts its series, handing nothing out.
pub(crate) fn count_series(raw: &[u8]) -> Result<usize, String> {
    walk_v1(raw, |_, _| {}, |_| {})
}

fn read_series<'a>(
    body: &'a [u8],
    labels: &mut Vec<(&'a [u8], &'a [u8])>,
    samples: &mut Vec<(i64, f64)>,
) -> Result<(usize, usize), &'static str> {
    let mut r = Reader::new(body);
    let (mut exemplars, mut histograms) = (0, 0);
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                expect(wire, LEN, "labels: wrong wire type")?;
                let mut l = Reader::new(r.len_delimited()?);
                let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
                while !l.done() {
                    let (f, w) = l.key()?;
                    match f {
                        1 => {
                            expect(w, LEN, "label name: wrong wire type")?;
                            name = l.len_delimited()?;
                        }
                        2 => {
                            expect(w, LEN, "label value: wrong wire type")?;
                            value = l.len_delimited()?;
                        }
                        _ => l.skip(w)?,
                    }
                }
                labels.push((name, value));
            }
            2 => {
                expect(wire, LEN, "samples: wrong wire type")?;
                let mut s = Reader::new(r.len_delimited()?);
                let (mut value, mut ts) = (0f64, 0i64);
                while !s.done() {
                    let (f, w) = s.key()?;
                    match f {
                        1 => {
                            expect(w, I64, "sample value: wrong wire type")?;
                            value = f64::from_bits(s.fixed64()?);
                        }
                        2 => {
                            expect(w, VARINT, "sample timestamp: wrong wire type")?;
                            ts = s.varint()? as i64;
                        }
                        _ => s.skip(w)?,
                    }
                }
                samples.push((ts, value));
            }
            3 => {
                expect(wire, LEN, "exemplars: wrong wire type")?;
                r.len_delimited()?;
                exemplars += 1;
            }
            4 => {
                expect(wire, LEN, "histograms: wrong wire type")?;
                r.len_delimited()?;
                histograms += 1;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok((exemplars, histograms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Exemplar, Histogram, Label, MetricType, Sample, TimeSeries, WriteRequest};
    use bytes::Bytes;
    use proptest::prelude::*;

    type Walked = (
        Vec<(Vec<(Vec<u8>, Vec<u8>)>, Vec<(i64, u64)>, usize, usize)>,
        Vec<MetricMetadata>,
    );

    fn walk(raw: &[u8]) -> Result<Walked, String> {
        let mut series = Vec::new();
        let mut md = Vec::new();
        walk_v1(
            raw,
            |_, s| {
                series.push((
                    s.labels.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
                    s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
                    s.exemplars,
                    s.histograms,
                ))
            },
            |m| md.push(m),
        )?;
        Ok((series, md))
    }

    fn via_prost(raw: &[u8]) -> Walked {
        let req = WriteRequest::decode(raw).unwrap();
        let series = req
            .timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels.iter().map(|l| (l.name.to_vec(), l.value.to_vec())).collect(),
                    ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())).collect(),
                    ts.exemplars.len(),
                    ts.histograms.len(),
                )
            })
            .collect();
        (series, req.metadata)
    }

    prop_compose! {
        fn series()(labels in prop::collection::vec(("[a-z_]{0,6}", "[ -~]{0,8}"), 0..6),
                    samples in prop::collection::vec((any::<i64>(), any::<f64>()), 0..4),
                    exemplars in 0usize..2, histograms in 0usize..2) -> TimeSeries {
            TimeSeries {
                labels: labels.into_iter().map(|(n, v)| Label { name: Bytes::from(n), value: Bytes::from(v) }).collect(),
                samples: samples.into_iter().map(|(timestamp, value)| Sample { value, timestamp }).collect(),
                exemplars: (0..exemplars).map(|_| Exemplar::default()).collect(),
                histograms: (0..histograms).map(|_| Histogram::default()).collect(),
            }
        }
    }

    proptest! {
        #[test]
        fn the_walk_reads_what_prost_reads(ts in prop::collection::vec(series(), 0..8), md in 0usize..2) {
            let req = WriteRequest {
                timeseries: ts,
                metadata: (0..md).map(|i| MetricMetadata {
                    r#type: MetricType::Counter as i32,
                    metric_family_name: format!("m{i}"),
                    help: "h".into(),
                    unit: String::new(),
                }).collect(),
            };
            let raw = req.encode_to_vec();
            prop_assert_eq!(walk(&raw).unwrap(), via_prost(&raw));
            prop_assert_eq!(count_series(&raw).unwrap(), req.timeseries.len());
        }

        #[test]
        fn garbage_never_panics(raw in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = walk(&raw);
        }
    }

    #[test]
    fn malformed_requests_are_errors_that_say_where() {
        // timeseries field with a varint wire type
        assert!(count_series(&[0x08, 0x01]).unwrap_err().contains("wrong wire type"));
        // a series announcing more bytes than there are
        let e = count_series(&[0x0a, 0x05, 0x0a]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        // a sample value with the wrong wire type, inside series 0
        let raw = [0x0a, 0x04, 0x12, 0x02, 0x08, 0x01];
        let e = count_series(&raw).unwrap_err();
        assert!(e.contains("timeseries[0]") && e.contains("sample value"), "{e}");
        assert_eq!(count_series(&[]).unwrap(), 0);
    }
}
