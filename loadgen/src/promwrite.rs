//! The `prom-remote-write` flavor's payloads: a generated line-protocol batch turned into the
//! remote write 1.0 request Prometheus would send for the same samples (snappy-compressed
//! `prometheus.WriteRequest`), so foresight and VictoriaMetrics ingest identical bytes.
//!
//! Each sample is its own `TimeSeries` with its full, sorted label set, as Prometheus' queue
//! manager builds requests; series are `<measurement>_<field>{tags}`, timestamps in
//! milliseconds. Only the generator's own output is read (no escapes, numbers with an optional
//! `i`/`u` suffix, booleans): this is a workload converter, not a line-protocol parser.

use foresight_remote::proto::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;

use crate::workload::Precision;

/// Headers of every remote write request.
pub(crate) const HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// Converts a batch of generated lines into a snappy-compressed remote write request.
pub(crate) fn from_lines(lines: &[u8], precision: Precision) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(lines).map_err(|e| format!("generated batch is not UTF-8: {e}"))?;
    let mut req = WriteRequest::default();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |what: &str| format!("generated line {}: {what}: {line:?}", n + 1);
        let mut parts = line.split(' ');
        let (Some(series), Some(fields), Some(ts)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not `series fields timestamp`"));
        };
        let mut tags = series.split(',');
        let measurement = tags.next().unwrap_or_default();
        let mut labels: Vec<(&str, &str)> = tags.filter_map(|t| t.split_once('=')).collect();
        labels.sort_unstable();
        let ts: i64 = ts.parse().map_err(|_| bad("bad timestamp"))?;
        let ms = match precision {
            Precision::S => ts.saturating_mul(1000),
            Precision::Ms => ts,
            Precision::Us => ts / 1000,
            Precision::Ns => ts / 1_000_000,
        };
        for field in fields.split(',') {
            let (name, value) = field.split_once('=').ok_or_else(|| bad("field without `=`"))?;
            let value = match value {
                "t" | "T" | "true" | "True" | "TRUE" => 1.0,
                "f" | "F" | "false" | "False" | "FALSE" => 0.0,
                v => v
                    .trim_end_matches(['i', 'u'])
                    .parse::<f64>()
                    .map_err(|_| bad("bad field value"))?,
            };
            let metric = format!("{measurement}_{name}");
            let mut set = Vec::with_capacity(labels.len() + 1);
            set.push(label("__name__", &metric));
            set.extend(labels.iter().map(|(k, v)| label(k, v)));
            set.sort_by(|a, b| a.name.cmp(&b.name));
            req.timeseries.push(TimeSeries {
                labels: set,
                samples: vec![Sample { value, timestamp: ms }],
                ..Default::default()
            });
        }
    }
    Ok(foresight_remote::snappy::compress(&req.encode_to_vec()))
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned().into(),
        value: value.to_owned().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_one_series_per_sample() {
        let body = from_lines(
            b"cpu,region=eu,host=a usage_user=1.5,count=3i 1700000000\n",
            Precision::S,
        )
        .unwrap();
        let raw = foresight_remote::snappy::decompress(&body, 1 << 20).unwrap();
        let req = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let names: Vec<Vec<String>> = req
            .timeseries
            .iter()
            .map(|ts| {
                ts.labels
                    .iter()
                    .map(|l| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(&l.name),
                            String::from_utf8_lossy(&l.value)
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(names[0], ["__name__=cpu_usage_user", "host=a", "region=eu"]);
        assert_eq!(names[1][0], "__name__=cpu_count");
        assert_eq!(
            req.timeseries[1].samples[0],
            Sample {
                value: 3.0,
                timestamp: 1_700_000_000_000
            }
        );
        assert!(from_lines(b"cpu x 1\n", Precision::S).is_err());
    }
}
