//! Metric metadata (type, help, unit per metric family) as remote write senders send it, kept in
//! memory for `/api/v1/metadata`. Not persisted: Prometheus resends it every minute
//! (`metadata_config.send_interval`), so a restart leaves the endpoint empty for at most that long.
//! A leaf module.

use std::collections::BTreeMap;

use parking_lot::RwLock;

use crate::json;

/// Most metric families remembered; beyond, new families are not added (existing ones still
/// update), so a sender with unbounded names cannot grow memory without limit.
const MAX_FAMILIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    help: String,
    unit: String,
}

/// The latest metadata of each metric family, per tenant (`""` is the default tenant's; tenant
/// names are never empty): a tenant sees only the families its own writes described.
#[derive(Debug, Default)]
pub(crate) struct MetadataStore {
    families: RwLock<BTreeMap<String, BTreeMap<String, Entry>>>,
}

impl MetadataStore {
    /// Records what a write carried (the latest wins per family).
    pub(crate) fn update(&self, tenant: Option<&str>, items: &[foresight_remote::Metadata]) {
        if items.is_empty() {
            return;
        }
        let tenant = tenant.unwrap_or("");
        let entry = |m: &foresight_remote::Metadata| Entry {
            kind: m.kind.api_name(),
            help: m.help.clone(),
            unit: m.unit.clone(),
        };
        // Usually unchanged since the last minute: check under the read lock first.
        {
            let all = self.families.read();
            if let Some(map) = all.get(tenant)
                && items.iter().all(|m| map.get(&m.family).is_some_and(|e| *e == entry(m)))
            {
                return;
            }
        }
        let mut all = self.families.write();
        let total: usize = all.values().map(BTreeMap::len).sum();
        let map = all.entry(tenant.to_owned()).or_default();
        let mut room = MAX_FAMILIES.saturating_sub(total);
        for m in items {
            if m.family.is_empty() {
                continue;
            }
            if let Some(e) = map.get_mut(&m.family) {
                *e = entry(m);
            } else if room > 0 {
                map.insert(m.family.clone(), entry(m));
                room -= 1;
            }
        }
    }

    /// The `data` of `/api/v1/metadata`: `{"family":[{"type":..,"help":..,"unit":..}],..}`, for
    /// one family when `metric` is given, at most `limit` families when it is not 0.
    pub(crate) fn push_json(&self, out: &mut String, tenant: Option<&str>, metric: Option<&str>, limit: usize) {
        let all = self.families.read();
        let empty = BTreeMap::new();
        let map = all.get(tenant.unwrap_or("")).unwrap_or(&empty);
        let push = |out: &mut String, first: bool, name: &str, e: &Entry| {
            if !first {
                out.push(',');
            }
            json::push_str(out, name);
            out.push_str(":[{\"type\":");
            json::push_str(out, e.kind);
            out.push_str(",\"help\":");
            json::push_str(out, &e.help);
            out.push_str(",\"unit\":");
            json::push_str(out, &e.unit);
            out.push_str("}]");
        };
        out.push('{');
        match metric {
            Some(name) => {
                if let Some(e) = map.get(name) {
                    push(out, true, name, e);
                }
            }
            None => {
                let n = if limit == 0 { map.len() } else { limit };
                for (i, (name, e)) in map.iter().take(n).enumerate() {
                    push(out, i == 0, name, e);
                }
            }
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foresight_remote::Metadata;
    use foresight_remote::proto::MetricType;

    fn md(family: &str, kind: MetricType, help: &str) -> Metadata {
        Metadata {
            family: family.into(),
            kind,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn latest_wins_and_renders_as_prometheus() {
        let s = MetadataStore::default();
        s.update(
            None,
            &[
                md("up", MetricType::Gauge, "old"),
                md("reqs_total", MetricType::Counter, "Requests."),
            ],
        );
        s.update(None, &[md("up", MetricType::Gauge, "Target up.")]);
        s.update(Some("acme"), &[md("acme_canary", MetricType::Gauge, "Theirs.")]);
        let mut out = String::new();
        s.push_json(&mut out, None, None, 0);
        assert_eq!(
            out,
            r#"{"reqs_total":[{"type":"counter","help":"Requests.","unit":""}],"up":[{"type":"gauge","help":"Target up.","unit":""}]}"#
        );
        out.clear();
        s.push_json(&mut out, None, Some("up"), 0);
        assert!(out.starts_with(r#"{"up":"#));
        out.clear();
        s.push_json(&mut out, None, None, 1);
        assert!(!out.contains("\"up\""));
        out.clear();
        s.push_json(&mut out, None, Some("nope"), 0);
        assert_eq!(out, "{}");
        // Each tenant sees its own families only.
        out.clear();
        s.push_json(&mut out, None, Some("acme_canary"), 0);
        assert_eq!(out, "{}");
        out.clear();
        s.push_json(&mut out, Some("acme"), None, 0);
        assert!(out.contains("acme_canary") && !out.contains("\"up\""), "{out}");
        out.clear();
        s.push_json(&mut out, Some("beta"), None, 0);
        assert_eq!(out, "{}");
    }
}
