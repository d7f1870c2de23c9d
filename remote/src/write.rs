//! Receiving remote write: choosing the schema from the request's headers, decoding the body, and
//! handing each valid series over with its labels sorted, checked and resolved (2.0's symbol
//! references), whatever the protocol version.

use bytes::Bytes;
use prost::Message;

use crate::error::{DecodeError, SeriesError};
use crate::proto::{MetricType, RequestV2};
use crate::snappy;
use crate::wire;

/// The label holding the metric name.
const METRIC_NAME: &str = "__name__";

/// The remote write protocol of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// 1.0: `prometheus.WriteRequest`.
    V1,
    /// 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

/// Why a request's headers name something this receiver does not take (answer 415).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// Chooses the protocol from the `Content-Type` and checks the `Content-Encoding`, as the 2.0
/// spec asks: no content type, `application/x-protobuf` or `proto=prometheus.WriteRequest` is
/// 1.0; `proto=io.prometheus.write.v2.Request` is 2.0; anything else is unsupported, as is any
/// encoding but snappy (zstd too: vmagent falls back to snappy on 415). Parameters are read
/// without regard to case or blanks around them.
pub fn negotiate(content_type: Option<&str>, content_encoding: Option<&str>) -> Result<Protocol, Unsupported> {
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => {}
        Some(e) if e == "snappy" => {}
        Some(e) => {
            return Err(Unsupported(format!(
                "unsupported Content-Encoding {e:?}: remote write bodies must be snappy (block format)"
            )));
        }
    }
    let Some(ct) = content_type else {
        return Ok(Protocol::V1);
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/x-protobuf" {
        return Err(Unsupported(format!(
            "unsupported Content-Type {ct:?}: expected application/x-protobuf (remote write 1.0 or 2.0)"
        )));
    }
    let mut proto = Protocol::V1;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let v = v.trim().trim_matches('"');
        proto = if v == "prometheus.WriteRequest" {
            Protocol::V1
        } else if v == "io.prometheus.write.v2.Request" {
            Protocol::V2
        } else {
            return Err(Unsupported(format!(
                "unsupported remote write message {v:?}: expected prometheus.WriteRequest or io.prometheus.write.v2.Request"
            )));
        };
    }
    Ok(proto)
}

/// A decoded remote write body of either version.
#[derive(Debug, Clone)]
pub struct WriteBody {
    msg: Msg,
    raw_len: usize,
}

#[derive(Debug, Clone)]
enum Msg {
    /// Checked by a first walk ([`wire::count_series`]); read in place by [`WriteBody::visit`].
    V1 {
        raw: Bytes,
        series: usize,
    },
    V2(RequestV2),
}

/// Decompresses and decodes a remote write body; `limit` caps the decompressed size.
pub fn decode_write(compressed: &[u8], protocol: Protocol, limit: usize) -> Result<WriteBody, DecodeError> {
    let raw = Bytes::from(snappy::decompress(compressed, limit)?);
    decode_write_raw(raw, protocol)
}

/// Decodes an uncompressed remote write message.
pub fn decode_write_raw(raw: Bytes, protocol: Protocol) -> Result<WriteBody, DecodeError> {
    let raw_len = raw.len();
    let msg = match protocol {
        Protocol::V1 => {
            let series = wire::count_series(&raw).map_err(|reason| DecodeError::Protobuf {
                message: "prometheus.WriteRequest",
                reason,
            })?;
            Msg::V1 { raw, series }
        }
        Protocol::V2 => {
            let req = RequestV2::decode(raw).map_err(|e| DecodeError::Protobuf {
                message: "io.prometheus.write.v2.Request",
                reason: e.to_string(),
            })?;
            if let Some(first) = req.symbols.first()
                && !first.is_empty()
            {
                return Err(DecodeError::BadSymbolTable(String::from_utf8_lossy(first).into_owned()));
            }
            Msg::V2(req)
        }
    };
    Ok(WriteBody { msg, raw_len })
}

/// Metadata of a metric family, as 1.0 sends it or as a 2.0 series carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The family name (1.0) or the series' metric name (2.0).
    pub family: String,
    /// The type.
    pub kind: MetricType,
    /// The help text.
    pub help: String,
    /// The unit.
    pub unit: String,
}

/// A refused series: its 0-based index in the request, its labels as far as they could be read,
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Index of the series in the request.
    pub index: usize,
    /// The labels in `{a="b", ...}` form (empty when they could not be read).
    pub labels: String,
    /// Why.
    pub error: SeriesError,
}

/// What [`WriteBody::visit`] found besides the valid series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteSummary {
    /// Series handed to the visitor.
    pub series: u64,
    /// Float samples handed to the visitor.
    pub samples: u64,
    /// Native histogram samples seen (all refused).
    pub histograms: u64,
    /// Exemplars seen (not stored; they never fail a request).
    pub exemplars: u64,
    /// Metadata carried by the request.
    pub metadata: Vec<Metadata>,
    /// Refused series.
    pub rejected: Vec<Rejected>,
}

/// Reusable buffers of [`WriteBody::visit`].
#[derive(Debug, Default)]
struct Scratch {
    samples: Vec<(i64, f64)>,
}

impl WriteBody {
    /// The protocol the body was decoded as.
    pub fn protocol(&self) -> Protocol {
        match self.msg {
            Msg::V1 { .. } => Protocol::V1,
            Msg::V2(_) => Protocol::V2,
        }
    }

    /// Size of the decoded (uncompressed) message in bytes; label strings point into it.
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }

    /// Number of series in the request, valid or not.
    pub fn series_count(&self) -> usize {
        match &self.msg {
            Msg::V1 { series, .. } => *series,
            Msg::V2(r) => r.timeseries.len(),
        }
    }

    /// Calls `f(index, labels, samples)` for each valid series that has float samples: `labels`
    /// sorted by name, names unique and non-empty, `__name__` present, labels with an empty value
    /// left out (an empty value is no label); `samples` as `(milliseconds, value)` in the order
    /// sent. Invalid series, histograms, exemplars and metadata are reported in the summary.
    pub fn visit<F>(&self, mut f: F) -> WriteSummary
    where
        F: FnMut(usize, &[(&str, &str)], &[(i64, f64)]),
    {
        let mut sum = WriteSummary::default();
        let mut scratch = Scratch::default();
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(16);
        match &self.msg {
            Msg::V1 { raw, .. } => {
                let mut metadata = Vec::new();
                // The body was walked once already when decoded: this walk cannot fail.
                let _ = wire::walk_v1(
                    raw,
                    |i, ts| {
                        sum.exemplars += ts.exemplars as u64;
                        labels.clear();
                        let mut utf8 = true;
                        for &(n, v) in ts.labels {
                            match (std::str::from_utf8(n), std::str::from_utf8(v)) {
                                (Ok(n), Ok(v)) => labels.push((n, v)),
                                _ => utf8 = false,
                            }
                        }
                        let checked = if utf8 {
                            normalize(&mut labels)
                        } else {
                            Err(SeriesError::InvalidUtf8)
                        };
                        accept(&mut sum, &mut f, i, checked, &labels, ts.samples, ts.histograms);
                    },
                    |m| {
                        metadata.push(Metadata {
                            family: m.metric_family_name,
                            kind: MetricType::try_from(m.r#type).unwrap_or(MetricType::Unknown),
                            help: m.help,
                            unit: m.unit,
                        })
                    },
                );
                sum.metadata = metadata;
            }
            Msg::V2(req) => {
                for (i, ts) in req.timeseries.iter().enumerate() {
                    sum.exemplars += ts.exemplars.len() as u64;
                    labels.clear();
                    let checked =
                        resolve(&req.symbols, &ts.labels_refs, &mut labels).and_then(|()| normalize(&mut labels));
                    if checked.is_ok()
                        && let Some(md) = &ts.metadata
                        && let Some(name) = labels.iter().find(|l| l.0 == METRIC_NAME).map(|l| l.1)
                    {
                        let kind = MetricType::try_from(md.r#type).unwrap_or(MetricType::Unknown);
                        let help = symbol(&req.symbols, md.help_ref).unwrap_or("");
                        let unit = symbol(&req.symbols, md.unit_ref).unwrap_or("");
                        if kind != MetricType::Unknown || !help.is_empty() || !unit.is_empty() {
                            sum.metadata.push(Metadata {
                                family: name.to_owned(),
                                kind,
                                help: help.to_owned(),
                                unit: unit.to_owned(),
                            });
                        }
                    }
                    scratch.samples.clear();
                    scratch
                        .samples
                        .extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
                    accept(
                        &mut sum,
                        &mut f,
                        i,
                        checked,
                        &labels,
                        &scratch.samples,
                        ts.histograms.len(),
                    );
                }
            }
        }
        sum
    }
}

/// Hands a checked series to the visitor, or records why it is refused; counts histograms.
fn accept<F>(
    sum: &mut WriteSummary,
    f: &mut F,
    index: usize,
    checked: Result<(), SeriesError>,
    labels: &[(&str, &str)],
    samples: &[(i64, f64)],
    histograms: usize,
) where
    F: FnMut(usize, &[(&str, &str)], &[(i64, f64)]),
{
    sum.histograms += histograms as u64;
    match checked {
        Ok(()) => {
            if !samples.is_empty() {
                f(index, labels, samples);
                sum.series += 1;
                sum.samples += samples.len() as u64;
            }
            if histograms > 0 {
                sum.rejected.push(Rejected {
                    index,
                    labels: format_labels(labels),
                    error: SeriesError::NativeHistograms(histograms as u64),
                });
            }
        }
        Err(error) => sum.rejected.push(Rejected {
            index,
            labels: format_labels(labels),
            error,
        }),
    }
}

/// A symbol by reference, if it exists and is UTF-8.
fn symbol(symbols: &[Bytes], r: u32) -> Option<&str> {
    symbols.get(r as usize).and_then(|s| std::str::from_utf8(s).ok())
}

/// Resolves 2.0 label references into `out`.
fn resolve<'a>(symbols: &'a [Bytes], refs: &[u32], out: &mut Vec<(&'a str, &'a str)>) -> Result<(), SeriesError> {
    if !refs.len().is_multiple_of(2) {
        return Err(SeriesError::OddLabelRefs(refs.len()));
    }
    for pair in refs.chunks_exact(2) {
        let get = |r: u32| -> Result<&'a str, SeriesError> {
            let s = symbols.get(r as usize).ok_or(SeriesError::BadSymbolRef {
                reference: r,
                symbols: symbols.len(),
            })?;
            std::str::from_utf8(s).map_err(|_| SeriesError::InvalidUtf8)
        };
        out.push((get(pair[0])?, get(pair[1])?));
    }
    Ok(())
}

/// Sorts a label set by name (senders should, and some do not), drops labels with an empty value
/// and checks the rest: names non-empty and unique, `__name__` present.
pub fn normalize(labels: &mut Vec<(&str, &str)>) -> Result<(), SeriesError> {
    labels.retain(|l| !l.1.is_empty());
    if !labels.is_sorted_by(|a, b| a.0 <= b.0) {
        labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    if labels.first().is_some_and(|l| l.0.is_empty()) {
        return Err(SeriesError::EmptyLabelName);
    }
    if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(SeriesError::DuplicateLabel(w[0].0.to_owned()));
    }
    if !labels.iter().any(|l| l.0 == METRIC_NAME) {
        return Err(SeriesError::NoMetricName);
    }
    Ok(())
}

/// `{a="b", c="d"}`, for error messages.
pub fn format_labels(labels: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(n);
        s.push('=');
        s.push_str(&format!("{v:?}"));
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{
        Histogram, Label, MetadataV2, MetricMetadata, Sample, SampleV2, TimeSeries, TimeSeriesV2, WriteRequest,
    };

    fn label(n: &str, v: &str) -> Label {
        Label {
            name: Bytes::copy_from_slice(n.as_bytes()),
            value: Bytes::copy_from_slice(v.as_bytes()),
        }
    }

    type Visited = Vec<(usize, Vec<(String, String)>, Vec<(i64, f64)>)>;

    fn collect(body: &WriteBody) -> (Visited, WriteSummary) {
        let mut got = Vec::new();
        let sum = body.visit(|i, l, s| {
            got.push((
                i,
                l.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
                s.to_vec(),
            ))
        });
        (got, sum)
    }

    #[test]
    fn content_types() {
        use Protocol::*;
        assert_eq!(negotiate(None, None), Ok(V1));
        assert_eq!(negotiate(Some("application/x-protobuf"), Some("snappy")), Ok(V1));
        assert_eq!(
            negotiate(
                Some("application/x-protobuf;proto=prometheus.WriteRequest"),
                Some("snappy")
            ),
            Ok(V1)
        );
        assert_eq!(
            negotiate(
                Some("Application/X-Protobuf ; Proto=io.prometheus.write.v2.Request"),
                Some("SNAPPY")
            ),
            Ok(V2)
        );
        assert!(negotiate(Some("application/json"), Some("snappy")).is_err());
        assert!(negotiate(Some("application/x-protobuf;proto=foo.Bar"), None).is_err());
        assert!(negotiate(Some("application/x-protobuf"), Some("gzip")).is_err());
        assert!(negotiate(Some("application/x-protobuf"), Some("zstd")).is_err());
    }

    #[test]
    fn v1_sorts_checks_and_counts() {
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![label("job", "a"), label("__name__", "up"), label("empty", "")],
                    samples: vec![
                        Sample {
                            value: 1.0,
                            timestamp: 10,
                        },
                        Sample {
                            value: 2.0,
                            timestamp: 20,
                        },
                    ],
                    ..Default::default()
                },
                TimeSeries {
                    labels: vec![label("job", "a")],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: 10,
                    }],
                    ..Default::default()
                },
                TimeSeries {
                    labels: vec![label("__name__", "x"), label("a", "1"), label("a", "2")],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: 10,
                    }],
                    ..Default::default()
                },
                TimeSeries {
                    labels: vec![label("__name__", "h")],
                    histograms: vec![Histogram::default(), Histogram::default()],
                    ..Default::default()
                },
            ],
            metadata: vec![MetricMetadata {
                r#type: MetricType::Counter as i32,
                metric_family_name: "reqs_total".into(),
                help: "Requests.".into(),
                unit: String::new(),
            }],
        };
        let body = decode_write(&snappy::compress(&req.encode_to_vec()), Protocol::V1, 1 << 20).unwrap();
        let (got, sum) = collect(&body);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].1,
            vec![("__name__".into(), "up".into()), ("job".into(), "a".into())]
        );
        assert_eq!(got[0].2, vec![(10, 1.0), (20, 2.0)]);
        assert_eq!((sum.series, sum.samples, sum.histograms), (1, 2, 2));
        let errs: Vec<_> = sum.rejected.iter().map(|r| (r.index, r.error.clone())).collect();
        assert_eq!(
            errs,
            vec![
                (1, SeriesError::NoMetricName),
                (2, SeriesError::DuplicateLabel("a".into())),
                (3, SeriesError::NativeHistograms(2)),
            ]
        );
        assert_eq!(sum.metadata.len(), 1);
        assert_eq!(sum.metadata[0].kind, MetricType::Counter);
    }

    #[test]
    fn v2_resolves_symbols() {
        let req = RequestV2 {
            symbols: ["", "__name__", "up", "job", "a", "help me", "seconds"]
                .iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect(),
            timeseries: vec![
                TimeSeriesV2 {
                    labels_refs: vec![3, 4, 1, 2],
                    samples: vec![SampleV2 {
                        value: 5.0,
                        timestamp: 7,
                        start_timestamp: 0,
                    }],
                    metadata: Some(MetadataV2 {
                        r#type: MetricType::Gauge as i32,
                        help_ref: 5,
                        unit_ref: 6,
                    }),
                    ..Default::default()
                },
                TimeSeriesV2 {
                    labels_refs: vec![1, 2, 3],
                    ..Default::default()
                },
                TimeSeriesV2 {
                    labels_refs: vec![1, 99],
                    ..Default::default()
                },
            ],
        };
        let body = decode_write(&snappy::compress(&req.encode_to_vec()), Protocol::V2, 1 << 20).unwrap();
        let (got, sum) = collect(&body);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1[0], ("__name__".into(), "up".into()));
        assert_eq!(got[0].2, vec![(7, 5.0)]);
        assert_eq!(
            sum.metadata,
            vec![Metadata {
                family: "up".into(),
                kind: MetricType::Gauge,
                help: "help me".into(),
                unit: "seconds".into()
            }]
        );
        assert!(matches!(sum.rejected[0].error, SeriesError::OddLabelRefs(3)));
        assert!(matches!(
            sum.rejected[1].error,
            SeriesError::BadSymbolRef { reference: 99, .. }
        ));
        // The same bytes read as 1.0 are an empty request (fields 1-3 are reserved in 2.0).
        let as_v1 = decode_write(&snappy::compress(&req.encode_to_vec()), Protocol::V1, 1 << 20).unwrap();
        assert_eq!(as_v1.series_count(), 0);
    }

    #[test]
    fn v2_symbol_table_must_start_empty() {
        let req = RequestV2 {
            symbols: vec![Bytes::from_static(b"x")],
            timeseries: vec![],
        };
        assert!(matches!(
            decode_write(&snappy::compress(&req.encode_to_vec()), Protocol::V2, 1 << 20),
            Err(DecodeError::BadSymbolTable(_))
        ));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            decode_write(&snappy::compress(b"\xff\xff\xff"), Protocol::V1, 1 << 20),
            Err(DecodeError::Protobuf { .. })
        ));
        assert!(matches!(
            decode_write(b"not snappy at all", Protocol::V1, 1 << 20),
            Err(DecodeError::Snappy(_) | DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn stale_markers_keep_their_bits() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("__name__", "up")],
                samples: vec![Sample {
                    value: stale,
                    timestamp: 1,
                }],
                ..Default::default()
            }],
            metadata: vec![],
        };
        let body = decode_write(&snappy::compress(&req.encode_to_vec()), Protocol::V1, 1 << 20).unwrap();
        let (got, _) = collect(&body);
        assert_eq!(got[0].2[0].1.to_bits(), 0x7ff0_0000_0000_0002);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            for p in [Protocol::V1, Protocol::V2] {
                if let Ok(body) = decode_write_raw(Bytes::from(data.clone()), p) {
                    let _ = body.visit(|_, _, _| {});
                }
                let _ = decode_write(&data, p, 1 << 16);
            }
        }

        #[test]
        fn any_label_order_is_sorted_and_samples_kept(
            names in proptest::collection::btree_set("[a-z_]{1,8}", 0..8),
            samples in proptest::collection::vec((proptest::prelude::any::<i64>(), proptest::prelude::any::<u64>()), 1..20),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let mut pairs: Vec<(String, String)> = names.into_iter().filter(|n| n != "__name__").map(|n| (n.clone(), format!("v{n}"))).collect();
            pairs.push(("__name__".into(), "m".into()));
            // A deterministic shuffle from the seed.
            let mut x = seed | 1;
            for i in (1..pairs.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                pairs.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let samples: Vec<(i64, f64)> = samples.into_iter().map(|(t, b)| (t, f64::from_bits(b))).collect();
            let req = WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: pairs.iter().map(|(n, v)| label(n, v)).collect(),
                    samples: samples.iter().map(|&(t, v)| Sample { value: v, timestamp: t }).collect(),
                    ..Default::default()
                }],
                metadata: vec![],
            };
            let body = decode_write(&snappy::compress(&req.encode_to_vec()), Protocol::V1, 1 << 20).unwrap();
            let (got, sum) = collect(&body);
            proptest::prop_assert!(sum.rejected.is_empty());
            let mut want = pairs.clone();
            want.sort();
            proptest::prop_assert_eq!(&got[0].1, &want);
            let bits = |s: &[(i64, f64)]| s.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
            proptest::prop_assert_eq!(bits(&got[0].2), bits(&samples));
        }
    }
}
