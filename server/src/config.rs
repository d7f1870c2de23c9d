//! Server settings. Every setting is declared once, in [`SETTINGS`]: its key (the TOML key and,
//! with `--`, the flag), its environment variable (derived from the key), its default in its own
//! grammar, its parser and its help line. The TOML file, the environment, the `foresight serve`
//! flags and their `--help` all come from that table, and a test holds the README's settings table
//! to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use foresight_engine::Durability;

use crate::forward::ForwardSettings;

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

/// Limits that protect the server's memory and CPU (defaults in [`SETTINGS`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest write body, compressed and decompressed (`max-body-bytes`).
    pub max_body_bytes: u64,
    /// Write bytes held in memory at once over all requests before new writes get 503 with
    /// `Retry-After` (`max-inflight-write-bytes`).
    pub max_inflight_write_bytes: u64,
    /// Longest a query may run (`query-timeout`).
    pub query_timeout: Duration,
    /// Most samples one query may hold (`max-samples`).
    pub max_samples: u64,
    /// Queries evaluated at once; more wait for a slot (`max-concurrent-queries`).
    pub max_concurrent_queries: usize,
    /// Shortest interval of `/api/v1/stream` (`stream-min-interval`).
    pub stream_min_interval: Duration,
    /// Longest life of one `/api/v1/stream` connection (`stream-max-lifetime`).
    pub stream_max_lifetime: Duration,
    /// How long shutdown waits for requests in flight (`shutdown-timeout`).
    pub shutdown_timeout: Duration,
    /// Most points one `/api/v1/forecast` may forecast per series (`max-forecast-horizon`).
    pub max_forecast_horizon: usize,
    /// Most series one `/api/v1/forecast` or `/api/v1/anomalies` request may model
    /// (`max-forecast-series`).
    pub max_forecast_series: usize,
    /// Most candidate series one `/api/v1/correlate` request ranks (`max-correlate-series`).
    pub max_correlate_series: usize,
    /// Most points per series `/api/v1/forecast` and `/api/v1/anomalies` read for a plain
    /// selector (`max-forecast-points`).
    pub max_forecast_points: usize,
    /// Whether range functions over long windows read rollups (`query-rollups`; a query's
    /// `raw=true` reads raw samples whatever this says).
    pub query_rollups: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Config::default().limits
    }
}

/// Everything `foresight serve` needs. `Config::default()` is the defaults of [`SETTINGS`]: data in
/// `./data`, listening on `127.0.0.1:8086`, fsync before acknowledging a write.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory (`data-dir`).
    pub data_dir: PathBuf,
    /// Address to listen on (`listen`).
    pub listen: SocketAddr,
    /// Raw retention: drop raw samples older than this before the newest sample (`retention`;
    /// `None` keeps all); what `rollup_retention` keeps of them stays as rollups.
    pub retention: Option<Duration>,
    /// Rollup retention (`rollup-retention`): delete blocks older than this before the newest
    /// sample; `None` is the raw retention (no rollup tier).
    pub rollup_retention: Option<Duration>,
    /// Raw retention by series selector (`retention-rule 'SELECTOR=DURATION'`, repeatable), first
    /// match wins, with the text given.
    pub retention_rules: Vec<(String, foresight_engine::RetentionRule)>,
    /// WAL durability (`durability`: `fsync`, `interval[:ms]`, `none`).
    pub durability: Durability,
    /// Writer shards (`shards`); `None` is the number of cores, fixed when the data directory is
    /// created.
    pub shards: Option<usize>,
    /// How long a partition stays in memory after newer data arrives (`out-of-order-window`); older
    /// samples are still accepted and go to new blocks.
    pub out_of_order_window: Duration,
    /// Label that receives the `db` (1.x) or `bucket` (2.x) write parameter (`db-label`);
    /// `None` ignores those parameters.
    pub db_label: Option<String>,
    /// Store foresight's own metrics every interval (`self-monitor`).
    pub self_monitor: Option<Duration>,
    /// When requests must present a token (`auth`).
    pub auth: foresight_auth::AuthMode,
    /// Failed authentications one client IP may make in a burst (`max-auth-failures`); refilled
    /// at one per second.
    pub max_auth_failures: u32,
    /// Resource limits.
    pub limits: Limits,
    /// Rule files, rule evaluation and notifications.
    pub alerting: AlertingSettings,
    /// Forwarding of everything stored to remote-write receivers.
    pub forward: ForwardSettings,
    /// The text of every setting given through [`Config::set`] (flags, environment, TOML file),
    /// for `/api/v1/status/flags`; repeated values joined by `,`.
    given: BTreeMap<&'static str, String>,
    /// PEM certificate chain served over TLS (`tls-cert`); with `tls_key`, the server speaks
    /// HTTPS only. Reloaded when the file changes.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (`tls-key`).
    pub tls_key: Option<PathBuf>,
}

/// Rule files, their evaluation and where alerts go (defaults in [`SETTINGS`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertingSettings {
    /// Rule-file globs (`rules`, repeatable), loaded in order.
    pub rules: Vec<String>,
    /// Interval of groups that set none (`rule-evaluation-interval`).
    pub evaluation_interval: Duration,
    /// Alertmanagers to post alerts to (`alertmanager-url`, repeatable).
    pub alertmanager_urls: Vec<String>,
    /// Webhook receivers, sent Alertmanager's webhook payload (`alert-webhook`, repeatable).
    pub webhooks: Vec<String>,
    /// Least time between two sends of a still-firing alert (`alert-resend-delay`).
    pub resend_delay: Duration,
    /// Timeout of one notification request (`notification-timeout`).
    pub notification_timeout: Duration,
    /// How long a restart may last for `for` state to be restored (`alert-for-outage-tolerance`).
    pub for_outage_tolerance: Duration,
    /// Least time left pending after a restart (`alert-for-grace-period`).
    pub for_grace_period: Duration,
    /// The URL users reach this server at (`external-url`, Prometheus' `--web.external-url`):
    /// `$externalURL` in templates, the base of `generatorURL` and the webhook's `externalURL`;
    /// `None`: `http://` and the listen address.
    pub external_url: Option<String>,
    /// Labels of this server (`external-label name=value`, repeatable; Prometheus'
    /// `global.external_labels`): `$externalLabels` in templates, and added to every alert sent
    /// to an Alertmanager or webhook that lacks them.
    pub external_labels: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        // The defaults that are no value of the setting's grammar ([`SettingDefault::Unset`]); the
        // other fields are placeholders that the table's defaults replace just below.
        let mut c = Config {
            data_dir: PathBuf::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            retention: None,
            rollup_retention: None,
            retention_rules: Vec::new(),
            durability: Durability::Fsync,
            shards: None,
            tls_cert: None,
            tls_key: None,
            out_of_order_window: Duration::ZERO,
            db_label: None,
            self_monitor: None,
            auth: foresight_auth::AuthMode::Auto,
            max_auth_failures: 0,
            limits: Limits {
                max_body_bytes: 0,
                max_inflight_write_bytes: 0,
                query_timeout: Duration::ZERO,
                max_samples: 0,
                max_concurrent_queries: std::thread::available_parallelism().map_or(2, |n| n.get()),
                stream_min_interval: Duration::ZERO,
                stream_max_lifetime: Duration::ZERO,
                shutdown_timeout: Duration::ZERO,
                max_forecast_horizon: 0,
                max_forecast_series: 0,
                max_correlate_series: 0,
                max_forecast_points: 0,
                query_rollups: true,
            },
            alerting: AlertingSettings::default(),
            forward: ForwardSettings::default(),
            given: BTreeMap::new(),
        };
        for s in SETTINGS {
            if let SettingDefault::Value(v) = s.default
                && let Err(reason) = (s.set)(&mut c, v)
            {
                // The test `every_default_parses` keeps this from happening.
                panic!("the default {v:?} of {} does not parse: {reason}", s.key);
            }
        }
        c
    }
}

/// One setting of `foresight serve`.
#[derive(Debug)]
pub struct Setting {
    /// Key in the TOML file and, with `--`, the flag (`max-body-bytes`; `_` may stand for `-` in
    /// the file).
    pub key: &'static str,
    /// The value when the setting is not given.
    pub default: SettingDefault,
    /// What it does, one line (the `--help` text before its `[default: ..]`).
    pub help: &'static str,
    /// What a flag given without a value means (`--self-monitor` alone is `true`); `None` where
    /// the flag needs a value.
    pub bare_flag: Option<&'static str>,
    /// Parses a value and stores it; the error says what was expected.
    set: fn(&mut Config, &str) -> Result<(), String>,
}

/// The default of a [`Setting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingDefault {
    /// A value in the setting's grammar, parsed by the setting's own parser.
    Value(&'static str),
    /// No value: what the server does without one (`keep all`, `number of cores`).
    Unset(&'static str),
}

impl Setting {
    /// Its environment variable: `FORESIGHT_` and the key in capitals with `_` for `-`
    /// (`FORESIGHT_MAX_BODY_BYTES`).
    pub fn env(&self) -> String {
        format!("FORESIGHT_{}", self.key.replace('-', "_").to_ascii_uppercase())
    }

    /// The default as `--help` and the README show it.
    pub fn default_text(&self) -> &'static str {
        match self.default {
            SettingDefault::Value(v) | SettingDefault::Unset(v) => v,
        }
    }

    /// The `--help` line: [`Setting::help`] and `[default: ..]`.
    pub fn help_line(&self) -> String {
        format!("{} [default: {}]", self.help, self.default_text())
    }

    /// Whether the flag may be given several times (`--rules a.yml --rules b.yml`); the TOML
    /// file takes a list. The value adds to the list; an empty value empties it.
    pub fn repeatable(&self) -> bool {
        REPEATABLE.contains(&self.key)
    }

    /// Parses `value` into `config`.
    pub fn apply(&self, config: &mut Config, value: &str) -> Result<(), ConfigError> {
        (self.set)(config, value).map_err(|reason| ConfigError::BadValue {
            key: self.key.to_owned(),
            value: value.to_owned(),
            reason,
        })
    }

    /// The setting with this key (`_` may stand for `-`).
    pub fn find(key: &str) -> Option<&'static Setting> {
        let key = key.replace('_', "-");
        SETTINGS.iter().find(|s| s.key == key)
    }
}

/// Every setting of `foresight serve`, in the order of `--help` and the README's table.
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "data-dir",
        default: SettingDefault::Value("./data"),
        help: "Data directory",
        bare_flag: None,
        set: |c, v| {
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
    },
    Setting {
        key: "listen",
        default: SettingDefault::Value("127.0.0.1:8086"),
        help: "Address to listen on",
        bare_flag: None,
        set: |c, v| {
            c.listen = v
                .trim()
                .parse()
                .map_err(|_| "expected an address like 127.0.0.1:8086")?;
            Ok(())
        },
    },
    Setting {
        key: "retention",
        default: SettingDefault::Unset("keep all"),
        help: "Raw retention: drop raw samples older than this before the newest sample and refuse older writes, e.g. 30d (0 keeps all); with a longer rollup-retention their rollups stay",
        bare_flag: None,
        set: |c, v| {
            c.retention = duration_or_none(v)?;
            Ok(())
        },
    },
    Setting {
        key: "rollup-retention",
        default: SettingDefault::Unset("the raw retention"),
        help: "Keep the rollups (hourly summaries and sketches) of data past the raw retention until this age, e.g. 2y; long-range functions answer from them",
        bare_flag: None,
        set: |c, v| {
            c.rollup_retention = duration_or_none(v)?;
            Ok(())
        },
    },
    Setting {
        key: "retention-rule",
        default: SettingDefault::Unset("none"),
        help: "Raw retention of the series a selector matches, SELECTOR=DURATION, e.g. '{__name__=~\"debug_.*\"}=7d' or '{__tenant__=\"acme\"}=90d'; the first matching rule wins (repeatable)",
        bare_flag: None,
        set: |c, v| {
            let v = v.trim();
            if v.is_empty() {
                c.retention_rules.clear();
                return Ok(());
            }
            let rule = retention_rule(v)?;
            c.retention_rules.push((v.to_owned(), rule));
            Ok(())
        },
    },
    Setting {
        key: "durability",
        default: SettingDefault::Value("fsync"),
        help: "WAL durability: fsync (acknowledge after fsync), interval[:ms], or none",
        bare_flag: None,
        set: |c, v| {
            c.durability = v.trim().parse()?;
            Ok(())
        },
    },
    Setting {
        key: "shards",
        default: SettingDefault::Unset("number of cores"),
        help: "Writer shards (threads); fixed when the data directory is created",
        bare_flag: None,
        set: |c, v| {
            c.shards = Some(at_least_one(v)?);
            Ok(())
        },
    },
    Setting {
        key: "out-of-order-window",
        default: SettingDefault::Value("1h"),
        help: "How long a partition stays in memory behind the newest sample before it is written to a block (older samples are still accepted)",
        bare_flag: None,
        set: |c, v| {
            c.out_of_order_window = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "db-label",
        default: SettingDefault::Unset("off"),
        help: "Store the `db` (1.x) / `bucket` (2.x) write parameter as this label",
        bare_flag: None,
        set: |c, v| {
            let v = v.trim();
            c.db_label = if v.is_empty() {
                None
            } else if valid_label_name(v) && v != "__name__" {
                Some(v.to_owned())
            } else {
                return Err("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)".into());
            };
            Ok(())
        },
    },
    Setting {
        key: "self-monitor",
        default: SettingDefault::Value("off"),
        help: "Store foresight's own /metrics every interval (15s when given alone), queryable with PromQL",
        bare_flag: Some("true"),
        set: |c, v| {
            c.self_monitor = match v.trim() {
                "" | "true" | "on" => Some(DEFAULT_SELF_MONITOR_INTERVAL),
                "false" | "off" | "0" => None,
                _ => {
                    let d = duration(v)?;
                    if d < Duration::from_millis(100) {
                        return Err("the interval must be at least 100ms".into());
                    }
                    Some(d)
                }
            };
            Ok(())
        },
    },
    Setting {
        key: "auth",
        default: SettingDefault::Value("auto"),
        help: "Token authentication: auto (on once `foresight tokens create` made a token), required, or off (loopback listen address only)",
        bare_flag: None,
        set: |c, v| {
            c.auth = v.parse()?;
            Ok(())
        },
    },
    Setting {
        key: "max-auth-failures",
        default: SettingDefault::Value("20"),
        help: "Failed authentications one client IP may make in a burst (refilled at one per second); beyond, 429 + Retry-After",
        bare_flag: None,
        set: |c, v| {
            c.max_auth_failures = u32::try_from(at_least_one(v)?).map_err(|_| "too large")?;
            Ok(())
        },
    },
    Setting {
        key: "max-body-bytes",
        default: SettingDefault::Value("32MiB"),
        help: "Largest write body, compressed and decompressed; larger gets 413",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_body_bytes = size(v)?;
            Ok(())
        },
    },
    Setting {
        key: "max-inflight-write-bytes",
        default: SettingDefault::Value("256MiB"),
        help: "Write bytes in memory at once before writes get 503 + Retry-After",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_inflight_write_bytes = size(v)?;
            Ok(())
        },
    },
    Setting {
        key: "query-timeout",
        default: SettingDefault::Value("2m"),
        help: "Longest a query may run",
        bare_flag: None,
        set: |c, v| {
            c.limits.query_timeout = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "max-samples",
        default: SettingDefault::Value("50000000"),
        help: "Most samples one query may hold in memory",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_samples = count(v)?;
            Ok(())
        },
    },
    Setting {
        key: "query-rollups",
        default: SettingDefault::Value("true"),
        help: "Answer *_over_time, rate and increase over long ranges from block rollups (false: always raw samples; per query: raw=true)",
        bare_flag: Some("true"),
        set: |c, v| {
            c.limits.query_rollups = match v.trim() {
                "" | "true" | "on" | "1" => true,
                "false" | "off" | "0" => false,
                _ => return Err("expected true or false".into()),
            };
            Ok(())
        },
    },
    Setting {
        key: "max-concurrent-queries",
        default: SettingDefault::Unset("number of cores"),
        help: "Queries evaluated at once; more wait",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_concurrent_queries = at_least_one(v)?;
            Ok(())
        },
    },
    Setting {
        key: "stream-min-interval",
        default: SettingDefault::Value("1s"),
        help: "Shortest interval of /api/v1/stream",
        bare_flag: None,
        set: |c, v| {
            c.limits.stream_min_interval = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "stream-max-lifetime",
        default: SettingDefault::Value("1h"),
        help: "Longest life of one /api/v1/stream connection",
        bare_flag: None,
        set: |c, v| {
            c.limits.stream_max_lifetime = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "shutdown-timeout",
        default: SettingDefault::Value("30s"),
        help: "How long shutdown waits for requests in flight",
        bare_flag: None,
        set: |c, v| {
            c.limits.shutdown_timeout = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "max-forecast-horizon",
        default: SettingDefault::Value("10000"),
        help: "Most points /api/v1/forecast forecasts per series",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_forecast_horizon = at_least_one(v)?;
            Ok(())
        },
    },
    Setting {
        key: "max-forecast-series",
        default: SettingDefault::Value("1000"),
        help: "Most series one /api/v1/forecast or /api/v1/anomalies request models",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_forecast_series = at_least_one(v)?;
            Ok(())
        },
    },
    Setting {
        key: "max-forecast-points",
        default: SettingDefault::Value("1000000"),
        help: "Most points per series /api/v1/forecast and /api/v1/anomalies read (start..end / step)",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_forecast_points = at_least_one(v)?;
            Ok(())
        },
    },
    Setting {
        key: "max-correlate-series",
        default: SettingDefault::Value("10000"),
        help: "Most candidate series one /api/v1/correlate request ranks",
        bare_flag: None,
        set: |c, v| {
            c.limits.max_correlate_series = at_least_one(v)?;
            Ok(())
        },
    },
    Setting {
        key: "tls-cert",
        default: SettingDefault::Unset("off"),
        help: "PEM certificate chain: serve HTTPS only (with tls-key); reloaded when the file changes",
        bare_flag: None,
        set: |c, v| {
            c.tls_cert = non_empty_path(v);
            Ok(())
        },
    },
    Setting {
        key: "tls-key",
        default: SettingDefault::Unset("off"),
        help: "PEM private key of tls-cert (PKCS#8, PKCS#1 or SEC1); reloaded when the file changes",
        bare_flag: None,
        set: |c, v| {
            c.tls_key = non_empty_path(v);
            Ok(())
        },
    },
    Setting {
        key: "rules",
        default: SettingDefault::Unset("none"),
        help: "Prometheus rule files to evaluate (a glob; repeatable)",
        bare_flag: None,
        set: |c, v| push_or_clear(&mut c.alerting.rules, v),
    },
    Setting {
        key: "rule-evaluation-interval",
        default: SettingDefault::Value("1m"),
        help: "Evaluation interval of rule groups that set none",
        bare_flag: None,
        set: |c, v| {
            c.alerting.evaluation_interval = positive(duration(v)?)?;
            Ok(())
        },
    },
    Setting {
        key: "alertmanager-url",
        default: SettingDefault::Unset("none"),
        help: "Alertmanager to post alerts to, e.g. http://127.0.0.1:9093 (repeatable)",
        bare_flag: None,
        set: |c, v| push_or_clear(&mut c.alerting.alertmanager_urls, &http_url(v)?),
    },
    Setting {
        key: "alert-webhook",
        default: SettingDefault::Unset("none"),
        help: "URL posted Alertmanager's webhook payload (version 4) per alert name (repeatable)",
        bare_flag: None,
        set: |c, v| push_or_clear(&mut c.alerting.webhooks, &http_url(v)?),
    },
    Setting {
        key: "alert-resend-delay",
        default: SettingDefault::Value("1m"),
        help: "Least time between two sends of a firing alert",
        bare_flag: None,
        set: |c, v| {
            c.alerting.resend_delay = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "notification-timeout",
        default: SettingDefault::Value("10s"),
        help: "Timeout of one post to an Alertmanager or webhook",
        bare_flag: None,
        set: |c, v| {
            c.alerting.notification_timeout = positive(duration(v)?)?;
            Ok(())
        },
    },
    Setting {
        key: "alert-for-outage-tolerance",
        default: SettingDefault::Value("1h"),
        help: "Longest downtime after which alerts' `for` state is still restored",
        bare_flag: None,
        set: |c, v| {
            c.alerting.for_outage_tolerance = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "alert-for-grace-period",
        default: SettingDefault::Value("10m"),
        help: "Least time a restored alert stays pending after a restart",
        bare_flag: None,
        set: |c, v| {
            c.alerting.for_grace_period = duration(v)?;
            Ok(())
        },
    },
    Setting {
        key: "external-url",
        default: SettingDefault::Unset("http:// and the listen address"),
        help: "URL users reach this server at, for $externalURL and alerts' generatorURL (Prometheus' --web.external-url)",
        bare_flag: None,
        set: |c, v| {
            c.alerting.external_url = external_url(v)?;
            Ok(())
        },
    },
    Setting {
        key: "external-label",
        default: SettingDefault::Unset("none"),
        help: "Label name=value of this server, for $externalLabels and added to alerts sent (repeatable)",
        bare_flag: None,
        set: |c, v| external_label(&mut c.alerting.external_labels, v),
    },
    Setting {
        key: "remote-write-url",
        default: SettingDefault::Unset("none"),
        help: "Remote-write receiver to forward every stored sample to, e.g. http://127.0.0.1:9009/api/v1/push (repeatable)",
        bare_flag: None,
        set: |c, v| {
            let v = v.trim();
            if v.is_empty() {
                return push_or_clear(&mut c.forward.urls, v);
            }
            push_or_clear(&mut c.forward.urls, &crate::forward::target::check_url(v)?)
        },
    },
    Setting {
        key: "remote-write-config",
        default: SettingDefault::Unset("none"),
        help: "YAML file with a Prometheus `remote_write:` section (per destination: headers, basic_auth, authorization, tls_config, write_relabel_configs, protobuf_message); a prometheus.yml works as it is",
        bare_flag: None,
        set: |c, v| {
            c.forward.config_file = non_empty_path(v);
            if let Some(f) = &c.forward.config_file {
                crate::forward::target::load_file(f, c.forward.timeout)?;
            }
            Ok(())
        },
    },
    Setting {
        key: "remote-write-header",
        default: SettingDefault::Unset("none"),
        help: "Header sent with every forwarded request, `Name: value`, e.g. `X-Scope-OrgID: edge` (repeatable)",
        bare_flag: None,
        set: |c, v| {
            let v = v.trim();
            if !v.is_empty() {
                let (name, _) = v.split_once(':').ok_or("expected `Name: value`")?;
                if name.trim().is_empty()
                    || !name
                        .trim()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(format!("{:?} is not a header name", name.trim()));
                }
            }
            push_or_clear(&mut c.forward.headers, v)
        },
    },
    Setting {
        key: "remote-write-max-backlog",
        default: SettingDefault::Value("4GiB"),
        help: "WAL kept for a remote-write receiver that is down; beyond it the oldest data is given up",
        bare_flag: None,
        set: |c, v| {
            c.forward.max_backlog = size(v)?;
            Ok(())
        },
    },
    Setting {
        key: "remote-write-timeout",
        default: SettingDefault::Value("30s"),
        help: "Timeout of one forwarded remote-write request",
        bare_flag: None,
        set: |c, v| {
            c.forward.timeout = positive(duration(v)?)?;
            Ok(())
        },
    },
];

/// The keys of the settings that take several values ([`Setting::repeatable`]).
const REPEATABLE: [&str; 7] = [
    "retention-rule",
    "rules",
    "alertmanager-url",
    "alert-webhook",
    "external-label",
    "remote-write-url",
    "remote-write-header",
];

/// A path setting; an empty value unsets it.
fn non_empty_path(v: &str) -> Option<PathBuf> {
    let v = v.trim();
    (!v.is_empty()).then(|| PathBuf::from(v))
}

/// Adds a value to a list setting; an empty value empties it.
fn push_or_clear(list: &mut Vec<String>, v: &str) -> Result<(), String> {
    let v = v.trim();
    if v.is_empty() {
        list.clear();
    } else if !list.iter().any(|x| x == v) {
        list.push(v.to_owned());
    }
    Ok(())
}

/// An `http://` URL (empty passes, to clear a list); no TLS client is built in.
fn http_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() || (v.starts_with("http://") && v.len() > "http://".len()) {
        Ok(v.trim_end_matches('/').to_owned())
    } else {
        Err("expected an http:// URL".into())
    }
}

/// An absolute `http://` or `https://` URL without a query (empty: unset), trailing `/` removed.
fn external_url(v: &str) -> Result<Option<String>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or("expected an http:// or https:// URL")?;
    if rest.is_empty() || rest.starts_with('/') || v.contains(['?', '#', ' ']) {
        return Err("expected an http:// or https:// URL with a host and no query".into());
    }
    Ok(Some(v.trim_end_matches('/').to_owned()))
}

/// `name=value` into `labels` (empty: clear them); the name must be a label name.
fn external_label(labels: &mut BTreeMap<String, String>, v: &str) -> Result<(), String> {
    let v = v.trim();
    if v.is_empty() {
        labels.clear();
        return Ok(());
    }
    let (name, value) = v.split_once('=').ok_or("expected name=value")?;
    let name = name.trim();
    if !foresight_rules::is_label_name(name) || name.starts_with("__") {
        return Err(format!(
            "{name:?} is not a label name (letters, digits, _; not starting with __)"
        ));
    }
    labels.insert(name.to_owned(), value.trim().to_owned());
    Ok(())
}

/// `SELECTOR=DURATION`: a series selector as in a query and a
/// positive duration.
fn retention_rule(v: &str) -> Result<foresight_engine::RetentionRule, String> {
    const EXPECTED: &str = r#"expected SELECTOR=DURATION, e.g. {__name__=~"debug_.*"}=7d"#;
    // A selector's matchers hold `=` too: the duration follows its closing brace.
    let (selector, d) = match v.rfind('}') {
        Some(i) => (&v[..=i], v[i + 1..].trim_start().strip_prefix('=').ok_or(EXPECTED)?),
        None => v.rsplit_once('=').ok_or(EXPECTED)?,
    };
    let d = positive(duration(d)?).map_err(|e| format!("the retention {e}"))?;
    let matchers = foresight_engine::parse_selector(selector.trim()).map_err(|e| match e {
        foresight_engine::Error::InvalidArgument(m) => m,
        other => other.to_string(),
    })?;
    Ok(foresight_engine::RetentionRule {
        matchers,
        retention_ms: i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
    })
}

fn positive(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("must be positive".into())
    } else {
        Ok(d)
    }
}

/// Interval of `self-monitor` when it is switched on without one.
pub const DEFAULT_SELF_MONITOR_INTERVAL: Duration = Duration::from_secs(15);

/// A duration setting ([`foresight_units::parse_duration`]), at most 100 years: longer than any
/// sensible setting, and far from where `Instant + Duration` overflows.
fn duration(v: &str) -> Result<Duration, String> {
    const MAX: Duration = Duration::from_secs(100 * 365 * 86_400);
    let d = foresight_units::parse_duration(v)
        .map_err(|e| format!("{} (expected a duration like 30s, 5m, 1h30m)", e.reason()))?;
    if d > MAX {
        return Err("longer than 100 years".into());
    }
    Ok(d)
}

/// A duration setting where `0` means none.
fn duration_or_none(v: &str) -> Result<Option<Duration>, String> {
    let d = duration(v)?;
    Ok((!d.is_zero()).then_some(d))
}

/// A byte size setting ([`foresight_units::parse_size`]).
fn size(v: &str) -> Result<u64, String> {
    foresight_units::parse_size(v).map_err(|e| format!("{} (expected a size like 1048576, 512KiB, 32MiB)", e.reason()))
}

/// A whole number; `_` may group digits (`50_000_000`).
fn count(v: &str) -> Result<u64, String> {
    v.trim()
        .replace('_', "")
        .parse()
        .map_err(|_| "expected a whole number".into())
}

/// A whole number of at least 1.
fn at_least_one(v: &str) -> Result<usize, String> {
    match usize::try_from(count(v)?) {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("too large".into()),
    }
}

impl Config {
    /// The defaults overridden by the settings of a TOML file (keys as in [`SETTINGS`]; `_` may
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
            if let (Some(s), toml::Value::Array(items)) = (Setting::find(&key), &value)
                && s.repeatable()
            {
                self.set(&key, "")?;
                for item in items {
                    let Some(v) = item.as_str() else {
                        return Err(ConfigError::BadValue {
                            key,
                            value: item.to_string(),
                            reason: "expected a list of strings".into(),
                        });
                    };
                    self.set(&key, v)?;
                }
                continue;
            }
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
        let setting = Setting::find(key).ok_or_else(|| ConfigError::UnknownKey(key.to_owned()))?;
        setting.apply(self, value)?;
        match self.given.get_mut(setting.key) {
            Some(text) if setting.repeatable() && !value.is_empty() && !text.is_empty() => {
                text.push(',');
                text.push_str(value);
            }
            _ => {
                self.given.insert(setting.key, value.to_owned());
            }
        }
        Ok(())
    }

    /// The text last given for the setting `key` (see [`Config::set`]), if any.
    pub fn given(&self, key: &str) -> Option<&str> {
        self.given.get(key).map(String::as_str)
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
        if self.auth == foresight_auth::AuthMode::Off && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Inconsistent(format!(
                "auth = off is only allowed on a loopback listen address, not {}: create a token with `foresight tokens create` or listen on 127.0.0.1",
                self.listen
            )));
        }
        if l.stream_min_interval.is_zero() {
            return Err(ConfigError::Inconsistent("stream-min-interval must be positive".into()));
        }
        // The retentions against each other (rollups kept at least as long as raw data).
        self.engine_options().check_retention().map_err(|e| match e {
            foresight_engine::Error::InvalidArgument(m) => ConfigError::Inconsistent(m),
            other => ConfigError::Inconsistent(other.to_string()),
        })?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Inconsistent(
                "tls-cert and tls-key go together: give both to serve HTTPS, or neither".into(),
            ));
        }
        Ok(())
    }

    /// The engine options these settings ask for.
    pub(crate) fn engine_options(&self) -> foresight_engine::Options {
        let mut o = foresight_engine::Options {
            durability: self.durability,
            retention_ms: self.retention.map(millis),
            rollup_retention_ms: self.rollup_retention.map(millis),
            retention_rules: self.retention_rules.iter().map(|(_, r)| r.clone()).collect(),
            out_of_order_window_ms: i64::try_from(self.out_of_order_window.as_millis()).unwrap_or(i64::MAX),
            wal_keep_released: Some(self.forward.enabled()),
            ..foresight_engine::Options::default()
        };
        if let Some(n) = self.shards {
            o.shards = n;
        }
        o
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
            ("rollup-retention", "2y"),
            ("retention-rule", r#"{__name__=~"debug_.*"}=7d"#),
            ("durability", "interval:200"),
            ("shards", "2"),
            ("out-of-order-window", "10m"),
            ("db-label", "db"),
            ("self-monitor", "10s"),
            ("auth", "required"),
            ("max-auth-failures", "5"),
            ("max-body-bytes", "1MiB"),
            ("max-inflight-write-bytes", "8MiB"),
            ("query-timeout", "30s"),
            ("max-samples", "1_000_000"),
            ("query-rollups", "false"),
            ("max-concurrent-queries", "3"),
            ("stream-min-interval", "500ms"),
            ("stream-max-lifetime", "10m"),
            ("shutdown-timeout", "5s"),
            ("max-forecast-horizon", "500"),
            ("max-forecast-series", "20"),
            ("max-forecast-points", "2000000"),
            ("max-correlate-series", "300"),
            ("tls-cert", "/etc/foresight/cert.pem"),
            ("tls-key", "/etc/foresight/key.pem"),
            ("rules", "r/*.yml"),
            ("rule-evaluation-interval", "15s"),
            ("alertmanager-url", "http://127.0.0.1:9093/"),
            ("alert-webhook", "http://127.0.0.1:9000/hook"),
            ("alert-resend-delay", "30s"),
            ("notification-timeout", "5s"),
            ("alert-for-outage-tolerance", "2h"),
            ("alert-for-grace-period", "1m"),
            ("external-url", "https://alerts.example/foresight/"),
            ("external-label", "dc=eu-1"),
            ("remote-write-url", "http://127.0.0.1:9009/api/v1/push"),
            ("remote-write-config", ""),
            ("remote-write-header", "X-Scope-OrgID: edge"),
            ("remote-write-max-backlog", "1GiB"),
            ("remote-write-timeout", "10s"),
        ];
        let keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        assert_eq!(samples.map(|(k, _)| k).as_slice(), keys.as_slice());
        let mut c = Config::default();
        for (k, v) in samples {
            c.set(k, v).unwrap();
        }
        assert_eq!(c.retention, Some(Duration::from_secs(30 * 86_400)));
        assert!(!c.limits.query_rollups);
        assert_eq!(c.limits.max_body_bytes, 1 << 20);
        assert_eq!(c.forward.urls, ["http://127.0.0.1:9009/api/v1/push"]);
        assert_eq!(c.forward.headers, ["X-Scope-OrgID: edge"]);
        assert_eq!(c.forward.max_backlog, 1 << 30);
        assert!(c.set("remote-write-header", "no colon").is_err());
        assert!(c.set("remote-write-url", "ftp://tls.example").is_err());
        c.set("remote-write-url", "https://tls.example").unwrap();
        let e = c
            .set("remote-write-config", "/nonexistent/rw.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/rw.yml"), "{e}");
        assert_eq!(c.limits.max_samples, 1_000_000);
        assert_eq!(c.self_monitor, Some(Duration::from_secs(10)));
        assert_eq!((c.limits.max_forecast_horizon, c.limits.max_forecast_series), (500, 20));
        assert!(c.set("max-forecast-series", "0").is_err());
        assert_eq!(c.limits.max_correlate_series, 300);
        assert_eq!(c.alerting.alertmanager_urls, ["http://127.0.0.1:9093"]);
        assert!(c.set("alert-webhook", "ftp://x").is_err());
        assert_eq!(
            c.alerting.external_url.as_deref(),
            Some("https://alerts.example/foresight")
        );
        assert_eq!(c.alerting.external_labels["dc"], "eu-1");
        assert!(c.set("external-url", "alerts.example").is_err());
        assert!(c.set("external-label", "dc").is_err());
        assert!(c.set("external-label", "__x=1").is_err());
        c.set("external-label", "env = prod").unwrap();
        assert_eq!(c.alerting.external_labels.len(), 2);
        assert_eq!(c.limits.max_forecast_points, 2_000_000);
        c.validate().unwrap();
    }

    #[test]
    fn retention_tiers_and_rules() {
        let mut c = Config::default();
        c.apply_toml(
            "retention = \"30d\"\nrollup-retention = \"2y\"\nretention-rule = ['{__name__=~\"debug_.*\"}=7d', '{__tenant__=\"acme\"}=90d']\n",
        )
        .unwrap();
        c.validate().unwrap();
        let o = c.engine_options();
        assert_eq!(o.retention_ms, Some(30 * 86_400_000));
        assert_eq!(o.rollup_retention_ms, Some(730 * 86_400_000));
        let rules: Vec<i64> = o.retention_rules.iter().map(|r| r.retention_ms).collect();
        assert_eq!(rules, [7 * 86_400_000, 90 * 86_400_000]);
        assert_eq!(
            c.given("retention-rule"),
            Some(r#"{__name__=~"debug_.*"}=7d,{__tenant__="acme"}=90d"#)
        );
        // Bad rules are refused naming the rule and what is wrong.
        for (rule, why) in [
            ("{__name__=~\"debug_.*\"}", "SELECTOR=DURATION"),
            ("{__name__=~\"(\"}=7d", "bad selector"),
            ("rate(up[5m])=7d", "not a series selector"),
            ("{job=\"x\"}=0s", "positive"),
            ("{job=\"x\"}=soon", "duration"),
        ] {
            let e = c.set("retention-rule", rule).unwrap_err().to_string();
            assert!(e.contains("for retention-rule") && e.contains(why), "{rule}: {e}");
        }
        // Rollups kept shorter than raw data, or than a rule, are refused at start.
        c.set("rollup-retention", "7d").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("rollup retention 7d is shorter than the raw retention 30d"),
            "{e}"
        );
        c.set("rollup-retention", "60d").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(r#"retention rule 2 ({__tenant__="acme"}=90d)"#), "{e}");
        c.set("retention-rule", "").unwrap();
        c.validate().unwrap();
        c.set("retention", "0").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("needs a raw retention"), "{e}");
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
        assert!(matches!(c.apply_toml("nope = 1"), Err(ConfigError::UnknownKey(k)) if k == "nope"));
        assert!(matches!(
            c.set("listen", "localhost"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(c.set("db-label", "a-b"), Err(ConfigError::BadValue { .. })));
        assert!(matches!(c.apply_toml("listen = ["), Err(ConfigError::File { .. })));
        c.apply_toml("rules = [\"a.yml\", \"b/*.yml\"]\n").unwrap();
        c.apply_toml("rules = [\"c.yml\"]\n").unwrap();
        assert_eq!(c.alerting.rules, ["c.yml"]);
        assert!(c.apply_toml("rules = [1]").is_err());
        c.set("max-inflight-write-bytes", "10").unwrap();
        assert!(matches!(c.validate(), Err(ConfigError::Inconsistent(_))));
        let mut c = Config::default();
        c.apply_toml("auth = \"off\"\nlisten = \"0.0.0.0:8086\"").unwrap();
        assert!(matches!(c.validate(), Err(ConfigError::Inconsistent(m)) if m.contains("loopback")));
        c.set("listen", "[::1]:8086").unwrap();
        c.validate().unwrap();
        assert!(c.set("auth", "maybe").is_err());
    }

    #[test]
    fn every_default_parses() {
        let defaults = Config::default();
        for s in SETTINGS {
            assert!(!s.help.is_empty() && !s.help.ends_with('.'), "{}", s.key);
            assert!(s.env().starts_with("FORESIGHT_") && !s.env().contains('-'), "{}", s.key);
            if let SettingDefault::Value(v) = s.default {
                // Parsing the default again changes nothing: `Config::default()` is the table's.
                let mut c = defaults.clone();
                s.apply(&mut c, v).unwrap();
                assert_eq!(format!("{c:?}"), format!("{defaults:?}"), "{}", s.key);
            }
            if let Some(v) = s.bare_flag {
                s.apply(&mut defaults.clone(), v).unwrap();
            }
        }
        assert_eq!(
            Setting::find("max_body_bytes").map(|s| s.env()),
            Some("FORESIGHT_MAX_BODY_BYTES".into())
        );
        assert_eq!(
            Setting::find("query-timeout").map(|s| s.help_line()),
            Some("Longest a query may run [default: 2m]".into())
        );
        assert_eq!(defaults.limits.max_body_bytes, 32 << 20);
        assert_eq!(defaults.listen, SocketAddr::from(([127, 0, 0, 1], 8086)));
        assert_eq!(defaults.self_monitor, None);
        assert_eq!(defaults.limits, Limits::default());
        defaults.validate().unwrap();
    }

    /// The README's settings table (`| flag | environment | default | what |`) lists every setting,
    /// in order, with its environment variable and default: the docs cannot drift from the code.
    #[test]
    fn readme_lists_every_setting() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let header = "| flag | environment | default | what |";
        let table = readme.split_once(header).expect("the README has the settings table").1;
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip(2) // the rest of the header line and the |---| line
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
            .collect();
        let unquote = |cell: &str| {
            cell.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .map(str::to_owned)
        };
        let listed: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| {
                let flag = unquote(r[0]).unwrap_or_else(|| r[0].to_owned());
                let key = flag
                    .trim_start_matches("--")
                    .split('[')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                (key, unquote(r[1]).unwrap_or_else(|| r[1].to_owned()), r[2].to_owned())
            })
            .collect();
        let expected: Vec<(String, String, String)> = SETTINGS
            .iter()
            .map(|s| {
                let default = match s.default {
                    SettingDefault::Value(v) => format!("`{v}`"),
                    SettingDefault::Unset(text) => text.to_owned(),
                };
                (s.key.to_owned(), s.env(), default)
            })
            .collect();
        assert_eq!(listed, expected);
    }
}
