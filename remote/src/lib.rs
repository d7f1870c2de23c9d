//! # foresight-remote
//!
//! The Prometheus remote protocols as pure codecs, with no I/O and no engine types:
//!
//! - **Remote write 1.0 and 2.0** ([`negotiate`], [`decode_write`], [`WriteBody::visit`]): the
//!   schema is chosen from the `Content-Type` (`proto=` parameter), the snappy block is
//!   decompressed within a size limit, and each series is handed over with its labels sorted and
//!   checked (2.0's symbol references resolved), while invalid series, native histograms,
//!   exemplars and metadata are reported in a [`WriteSummary`].
//! - **Remote read** ([`decode_read`], [`response_type`], [`write_series_frames`]): the request,
//!   and both answer formats: samples, or streamed frames of Prometheus XOR chunks ([`XorChunk`]).
//! - The protobuf messages themselves ([`proto`]), written by hand with prost's derive.
//!
//! ```
//! use foresight_remote::{Protocol, decode_write, negotiate, proto, snappy};
//! use prost::Message;
//!
//! let req = proto::WriteRequest {
//!     timeseries: vec![proto::TimeSeries {
//!         labels: vec![
//!             proto::Label { name: "job".into(), value: "api".into() },
//!             proto::Label { name: "__name__".into(), value: "up".into() },
//!         ],
//!         samples: vec![proto::Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
//!         ..Default::default()
//!     }],
//!     metadata: vec![],
//! };
//! let body = snappy::compress(&req.encode_to_vec());
//!
//! let protocol = negotiate(Some("application/x-protobuf"), Some("snappy"))?;
//! assert_eq!(protocol, Protocol::V1);
//! let decoded = decode_write(&body, protocol, 32 << 20)?;
//! let summary = decoded.visit(|_index, labels, samples| {
//!     assert_eq!(labels, &[("__name__", "up"), ("job", "api")]); // sorted
//!     assert_eq!(samples, &[(1_700_000_000_000, 1.0)]);
//! });
//! assert_eq!((summary.series, summary.samples), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod proto;
mod read;
pub mod snappy;
mod wire;
mod write;
mod xor;

pub use error::{DecodeError, SeriesError};
pub use read::{
    MAX_FRAME_BYTES, SAMPLES_CONTENT_TYPE, STREAMED_CONTENT_TYPE, crc32c, decode_read, labels_to_proto, read_frames,
    response_type, write_series_frames,
};
pub use write::{
    Metadata, Protocol, Rejected, Unsupported, WriteBody, WriteSummary, decode_write, decode_write_raw, format_labels,
    negotiate, normalize,
};
pub use xor::{ChunkError, SAMPLES_PER_CHUNK, XorChunk, decode_xor};
