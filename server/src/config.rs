//! Server settings: defaults, a TOML file, and single `key = value` overrides (flags and
//! environment variables go through [`Config::set`], so every setting is parsed in one place).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use foresight_engine::Durability;

use crate::time::{parse_setting_duration, parse_size};

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a setting.
    #[error("unknown setting {0:?}")]
    UnknownKey(String),
    /// The value does not parse for that key.
    #[error("bad value {value:?} for {key}: {reason}")]
    BadValue {
        /// The setting.
        key: String,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The configuration file could not be read or is not TOML.
    #[error("configuration file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Settings that are fine alone but not together.
    #[error("{0}")]
    Inconsistent(String),
}

/// Limits that protect the server's memory and CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest write body, compressed and decompressed (`max-body-bytes`, default 32 MiB).
    pub max_body_bytes: u64,
    /// Write bytes held in memory at once over all requests before new writes get 503 with
    /// `Retry-After` (`max-inflight-write-bytes`, default 256 MiB).
    pub max_inflight_write_bytes: u64,
    /// Longest a query may run (`query-timeout`, default 2m).
    pub query_timeout: Duration,
    /// Most samples one query may hold (`max-samples`, default 50,000,000).
    pub max_samples: u64,
    /// Queries evaluated at once; more wait for a slot (`max-concurrent-queries`, default: cores).
    pub max_concurrent_queries: usize,
    /// Shortest interval of `/api/v1/stream` (`stream-min-interval`, default 1s).
    pub stream_min_interval: Duration,
    /// Longest life of one `/api/v1/stream` connection (`stream-max-lifetime`, default 1h).
    pub stream_max_lifetime: Duration,
    /// How long shutdown waits for requests in flight (`shutdown-timeout`, default 30s).
    pub shutdown_timeout: Duration,
    /// Most points one `/api/v1/forecast` may forecast per series (`max-forecast-horizon`,
    /// default 10,000).
    pub max_forecast_horizon: usize,
    /// Most series one `/api/v1/forecast` or `/api/v1/anomalies` request may model
    /// (`max-forecast-series`, default 1,000).
    pub max_forecast_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 32 << 20,
            max_inflight_write_bytes: 256 << 20,
            query_timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_concurrent_queries: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            stream_min_interval: Duration::from_secs(1),
            stream_max_lifetime: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(30),
            max_forecast_horizon: 10_000,
            max_forecast_series: 1_000,
        }
    }
}

/// Everything `foresight serve` needs. `Config::default()` is the embedded default: data in
/// `./data`, listening on `127.0.0.1:8086`, fsync before acknowledging a write.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory (`data-dir`).
    pub data_dir: PathBuf,
    /// Address to listen on (`listen`).
    pub listen: SocketAddr,
    /// Delete blocks older than this before the newest sample (`retention`, default: keep all).
    pub retention: Option<Duration>,
    /// WAL durability (`durability`: `fsync`, `interval[:ms]`, `none`).
    pub durability: Durability,
    /// Writer shards; default the number of cores, fixed when the data directory is created.
    pub shards: Option<usize>,
    /// How far behind the newest sample a late sample is still accepted (`out-of-order-window`).
    pub out_of_order_window: Duration,
    /// Label that receives the `db` (1.x) or `bucket` (2.x) write parameter (`db-label`);
    /// `None` ignores those parameters.
    pub db_label: Option<String>,
    /// Store foresight's own metrics every interval (`self-monitor`).
    pub self_monitor: Option<Duration>,
    /// Resource limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8086)),
            retention: None,
            durability: Durability::Fsync,
            shards: None,
            out_of_order_window: Duration::from_secs(3600),
            db_label: None,
            self_monitor: None,
            limits: Limits::default(),
        }
    }
}

/// Every setting's key, as used in the TOML file and (with `--`) as a flag.
pub const KEYS: &[&str] = &[
    "data-dir",
    "listen",
    "retention",
    "durability",
    "shards",
    "out-of-order-window",
    "db-label",
    "self-monitor",
    "max-body-bytes",
    "max-inflight-write-bytes",
    "query-timeout",
    "max-samples",
    "max-concurrent-queries",
    "stream-min-interval",
    "stream-max-lifetime",
    "shutdown-timeout",
    "max-forecast-horizon",
    "max-forecast-series",
];

/// Default interval of `self-monitor` when it is switched on without one.
pub const DEFAULT_SELF_MONITOR_INTERVAL: Duration = Duration::from_secs(15);

impl Config {
    /// The defaults overridden by the settings of a TOML file (keys as in [`KEYS`]; `_` may
    /// stand for `-`).
    pub fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut c = Config::default();
        c.apply_toml(&text).map_err(|e| match e {
            ConfigError::File { reason, .. } => ConfigError::File {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })?;
        Ok(c)
    }

    /// Applies the settings of a TOML document.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?;
        for (key, value) in table {
            let v = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(ConfigError::BadValue {
                        key,
                        value: other.to_string(),
                        reason: "expected a string, number or boolean".into(),
                    });
                }
            };
            self.set(&key, &v)?;
        }
        Ok(())
    }

    /// Sets one setting from its text form (flags, environment variables and the TOML file all
    /// come through here).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let key_norm = key.replace('_', "-");
        let bad = |reason: &str| ConfigError::BadValue {
            key: key_norm.clone(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let duration = || parse_setting_duration(value).ok_or_else(|| bad("expected a duration like 30s, 5m, 1h30m"));
        let size = || parse_size(value).ok_or_else(|| bad("expected a size like 1048576, 512KiB, 32MiB"));
        let count = || {
            value
                .trim()
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| bad("expected a whole number"))
        };
        match key_norm.as_str() {
            "data-dir" => self.data_dir = PathBuf::from(value),
            "listen" => {
                self.listen = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("expected an address like 127.0.0.1:8086"))?;
            }
            "retention" => {
                let d = duration()?;
                self.retention = (!d.is_zero()).then_some(d);
            }
            "durability" => self.durability = value.trim().parse().map_err(|e: String| bad(&e))?,
            "shards" => {
                let n = count()?;
                if n == 0 {
                    return Err(bad("must be at least 1"));
                }
                self.shards = Some(usize::try_from(n).map_err(|_| bad("too large"))?);
            }
            "out-of-order-window" => self.out_of_order_window = duration()?,
            "db-label" => {
                let v = value.trim();
                if v.is_empty() {
                    self.db_label = None;
                } else if valid_label_name(v) && v != "__name__" {
                    self.db_label = Some(v.to_owned());
                } else {
                    return Err(bad("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
                }
            }
            "self-monitor" => {
                self.self_monitor = match value.trim() {
                    "" | "true" | "on" => Some(DEFAULT_SELF_MONITOR_INTERVAL),
                    "false" | "off" | "0" => None,
                    _ => {
                        let d = duration()?;
                        if d < Duration::from_millis(100) {
                            return Err(bad("the interval must be at least 100ms"));
                        }
                        Some(d)
                    }
                }
            }
            "max-body-bytes" => self.limits.max_body_bytes = size()?,
            "max-inflight-write-bytes" => self.limits.max_inflight_write_bytes = size()?,
            "query-timeout" => self.limits.query_timeout = duration()?,
            "max-samples" => self.limits.max_samples = count()?,
            "max-concurrent-queries" => {
                let n = count()?;
                if n == 0 {
                    return Err(bad("must be at least 1"));
                }
                self.limits.max_concurrent_queries = usize::try_from(n).map_err(|_| bad("too large"))?;
            }
            "stream-min-interval" => self.limits.stream_min_interval = duration()?,
            "stream-max-lifetime" => self.limits.stream_max_lifetime = duration()?,
            "shutdown-timeout" => self.limits.shutdown_timeout = duration()?,
            "max-forecast-horizon" | "max-forecast-series" => {
                let n = usize::try_from(count()?).map_err(|_| bad("too large"))?;
                if n == 0 {
                    return Err(bad("must be at least 1"));
                }
                if key_norm == "max-forecast-horizon" {
                    self.limits.max_forecast_horizon = n;
                } else {
                    self.limits.max_forecast_series = n;
                }
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    /// Checks settings against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if l.max_body_bytes == 0 {
            return Err(ConfigError::Inconsistent("max-body-bytes must be positive".into()));
        }
        if l.max_inflight_write_bytes < l.max_body_bytes {
            return Err(ConfigError::Inconsistent(format!(
                "max-inflight-write-bytes ({}) must be at least max-body-bytes ({}), or a largest write could never be accepted",
                l.max_inflight_write_bytes, l.max_body_bytes
            )));
        }
        if l.stream_min_interval.is_zero() {
            return Err(ConfigError::Inconsistent("stream-min-interval must be positive".into()));
        }
        Ok(())
    }

    /// The engine options these settings ask for.
    pub(crate) fn engine_options(&self) -> foresight_engine::Options {
        let mut o = foresight_engine::Options {
            durability: self.durability,
            retention_ms: self.retention.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            out_of_order_window_ms: i64::try_from(self.out_of_order_window.as_millis()).unwrap_or(i64::MAX),
            ..foresight_engine::Options::default()
        };
        if let Some(n) = self.shards {
            o.shards = n;
        }
        o
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_settable() {
        let samples = [
            ("data-dir", "/tmp/x"),
            ("listen", "127.0.0.1:0"),
            ("retention", "30d"),
            ("durability", "interval:200"),
            ("shards", "2"),
            ("out-of-order-window", "10m"),
            ("db-label", "db"),
            ("self-monitor", "10s"),
            ("max-body-bytes", "1MiB"),
            ("max-inflight-write-bytes", "8MiB"),
            ("query-timeout", "30s"),
            ("max-samples", "1_000_000"),
            ("max-concurrent-queries", "3"),
            ("stream-min-interval", "500ms"),
            ("stream-max-lifetime", "10m"),
            ("shutdown-timeout", "5s"),
            ("max-forecast-horizon", "500"),
            ("max-forecast-series", "20"),
        ];
        assert_eq!(samples.len(), KEYS.len());
        let mut c = Config::default();
        for (k, v) in samples {
            assert!(KEYS.contains(&k));
            c.set(k, v).unwrap();
        }
        assert_eq!(c.retention, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(c.limits.max_body_bytes, 1 << 20);
        assert_eq!(c.limits.max_samples, 1_000_000);
        assert_eq!(c.self_monitor, Some(Duration::from_secs(10)));
        assert_eq!((c.limits.max_forecast_horizon, c.limits.max_forecast_series), (500, 20));
        assert!(c.set("max-forecast-series", "0").is_err());
        c.validate().unwrap();
    }

    #[test]
    fn toml_file_and_errors() {
        let mut c = Config::default();
        c.apply_toml("listen = \"127.0.0.1:9999\"\nmax_body_bytes = 1024\nself-monitor = true\nretention = \"0\"\n")
            .unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.limits.max_body_bytes, 1024);
        assert_eq!(c.self_monitor, Some(DEFAULT_SELF_MONITOR_INTERVAL));
        assert_eq!(c.retention, None);
        assert!(matches!(c.apply_toml("nope = 1"), Err(ConfigError::UnknownKey(_))));
        assert!(matches!(
            c.set("listen", "localhost"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(c.set("db-label", "a-b"), Err(ConfigError::BadValue { .. })));
        assert!(matches!(c.apply_toml("listen = ["), Err(ConfigError::File { .. })));
        c.set("max-inflight-write-bytes", "10").unwrap();
        assert!(matches!(c.validate(), Err(ConfigError::Inconsistent(_))));
    }
}
