//! The protobuf messages of remote write 1.0 (`prometheus.WriteRequest`), remote write 2.0
//! (`io.prometheus.write.v2.Request`) and remote read (`prometheus.ReadRequest` and its answers),
//! written by hand with prost's derive so no `protoc` is needed. Field numbers follow Prometheus'
//! `prompb/remote.proto`, `prompb/types.proto` and `prompb/io/prometheus/write/v2/types.proto`.
//!
//! Strings that arrive in bulk (label names and values, the 2.0 symbol table) are declared as
//! `bytes` (the same wire type): decoded from a [`bytes::Bytes`] buffer they are views into it,
//! not copies, and their UTF-8 is checked where they are used.

use bytes::Bytes;

/// Remote write 1.0: `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (Prometheus sends it in separate requests, every minute by default).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series of a 1.0 write (or of a sample-format read answer).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// The full label set, `__name__` included (senders should sort it; receivers sort anyway).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples, in timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars (not stored by foresight).
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples.
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// A label: name and value (protobuf strings, kept as bytes; see the module docs).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// The label name.
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    /// The label value.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// A float sample of remote write 1.0 and remote read.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value; the stale marker is the NaN with bits `0x7ff0000000000002`.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// An exemplar of remote write 1.0.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// The exemplar's own labels (a trace id, say).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// The type of a metric family, shared by 1.0's `MetricMetadata` and 2.0's `Metadata` (same
/// numbers: 2.0 names them `METRIC_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Not given.
    Unknown = 0,
    /// A counter.
    Counter = 1,
    /// A gauge.
    Gauge = 2,
    /// A (classic or native) histogram.
    Histogram = 3,
    /// A gauge histogram.
    Gaugehistogram = 4,
    /// A summary.
    Summary = 5,
    /// An info metric.
    Info = 6,
    /// A state set.
    Stateset = 7,
}

impl MetricType {
    /// The name Prometheus' `/api/v1/metadata` uses (`counter`, `gauge`, ..., `unknown`).
    pub fn api_name(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Gaugehistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
        }
    }
}

/// Metadata of a metric family in remote write 1.0.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// The family's type ([`MetricType`]).
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// The family name (`http_requests_total`; for histograms without `_bucket`).
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// The help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// The unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// A native histogram sample (1.0 field numbers; 2.0 adds `start_timestamp`). foresight counts and
/// refuses these; the fields are decoded so that a malformed one is told apart from a valid one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// The count of observations, as an integer or a float.
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    /// The sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// The bucket schema (-4..=8 exponential; -53 custom buckets).
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// The width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// The count of the zero bucket.
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    /// Spans of negative buckets.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative bucket counts (float histograms).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Spans of positive buckets.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive bucket counts (float histograms).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Counter reset hint (0 unknown, 1 yes, 2 no, 3 gauge).
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Custom bucket bounds (schema -53).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
    /// 2.0 only: the start (created) timestamp, 0 when unset.
    #[prost(int64, tag = "17")]
    pub start_timestamp: i64,
}

/// The oneofs of [`Histogram`].
pub mod histogram {
    /// The count of observations.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        /// An integer histogram's count.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// A float histogram's count.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    /// The count of the zero bucket.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        /// An integer histogram's zero count.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// A float histogram's zero count.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }
}

/// A run of consecutive buckets of a native histogram.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span (or the starting index of the first).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of buckets in the span.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// Remote write 2.0: `io.prometheus.write.v2.Request` (fields 1 to 3 are reserved, so 2.0 bytes
/// decoded as 1.0 give an empty request: the content type must choose the schema).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestV2 {
    /// The symbol table every reference points into; `symbols[0]` must be `""`.
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub symbols: Vec<Bytes>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeriesV2>,
}

/// One series of a 2.0 write.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeriesV2 {
    /// Name/value pairs of indexes into the symbol table.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples (a series carries samples or histograms, not both).
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<SampleV2>,
    /// Native histogram samples.
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars (not stored by foresight).
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<ExemplarV2>,
    /// The series' metadata.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<MetadataV2>,
}

/// A float sample of remote write 2.0.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct SampleV2 {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// The start (created) timestamp, 0 when unset.
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// An exemplar of remote write 2.0.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExemplarV2 {
    /// Name/value pairs of indexes into the symbol table.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A series' metadata in remote write 2.0.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct MetadataV2 {
    /// The family's type ([`MetricType`]; 0 is `METRIC_TYPE_UNSPECIFIED`).
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// Index of the help text in the symbol table.
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Index of the unit in the symbol table.
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// Remote read: `prometheus.ReadRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    /// The queries, answered in this order.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// Answer formats the client accepts, most preferred first; empty means samples.
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// The answer formats of remote read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// One snappy-compressed [`ReadResponse`] holding samples.
    Samples = 0,
    /// A stream of length-delimited, CRC-checked [`ChunkedReadResponse`] frames of XOR chunks.
    StreamedXorChunks = 1,
}

/// One remote read query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// Inclusive start, milliseconds since the epoch.
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// Inclusive end, milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// The selector's matchers.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    /// What the client will do with the data (ignored: foresight returns raw samples).
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// The kinds of remote read matchers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchType {
    /// `=`.
    Eq = 0,
    /// `!=`.
    Neq = 1,
    /// `=~` (fully anchored).
    Re = 2,
    /// `!~` (fully anchored).
    Nre = 3,
}

/// A matcher of a remote read query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelMatcher {
    /// The comparison ([`MatchType`]).
    #[prost(enumeration = "MatchType", tag = "1")]
    pub r#type: i32,
    /// The label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The value or regular expression.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// Hints of a remote read query (what PromQL will do with the data).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadHints {
    /// Query step, milliseconds.
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    /// The function around the selector.
    #[prost(string, tag = "2")]
    pub func: String,
    /// Start of the selection, milliseconds.
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// End of the selection, milliseconds.
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// Grouping labels of the aggregation.
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    /// Whether the grouping is `by` (else `without`).
    #[prost(bool, tag = "6")]
    pub by: bool,
    /// The range of a range selector, milliseconds.
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// The samples answer of remote read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// One result per query, in query order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// The series of one query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    /// The series, each with its samples in time order.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One frame of the streamed answer of remote read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    /// Series (one per frame as foresight writes them).
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// The query this frame answers.
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// A series and some of its chunks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    /// The label set, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Chunks in time order.
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// The encodings of a remote read chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    /// Unknown.
    Unknown = 0,
    /// Prometheus' XOR float chunk ([`crate::XorChunk`]).
    Xor = 1,
    /// Integer native histogram chunk.
    Histogram = 2,
    /// Float native histogram chunk.
    FloatHistogram = 3,
}

/// A chunk of one series.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chunk {
    /// First sample's timestamp, milliseconds.
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    /// Last sample's timestamp, milliseconds.
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// The encoding ([`ChunkEncoding`]).
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    /// The chunk's bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}
