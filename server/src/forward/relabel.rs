//! Prometheus's relabeling (`write_relabel_configs`), applied to each series before it is
//! forwarded: it chooses what is sent (`keep`, `drop`, `keepequal`, `dropequal`) and rewrites
//! labels (`replace`, `lowercase`, `uppercase`, `labelmap`, `labeldrop`, `labelkeep`). The
//! semantics follow Prometheus's `relabel.Process`: source label values joined by `separator`, a
//! regular expression anchored at both ends, `$1` / `${name}` in `replacement` and `target_label`,
//! a label set to the empty string removed. `hashmod` is not supported (refused when the file is
//! read).

use regex::Regex;
use serde::Deserialize;

/// One rule as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    #[serde(default)]
    source_labels: Vec<String>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    target_label: Option<String>,
    #[serde(default)]
    replacement: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    Lowercase,
    Uppercase,
    LabelMap,
    LabelDrop,
    LabelKeep,
}

/// A checked rule, its regular expression compiled.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    target_label: String,
    replacement: String,
}

impl Rule {
    /// Checks a rule as Prometheus does when it loads a configuration; the error says what is
    /// wrong with it.
    pub(crate) fn new(spec: &RuleSpec) -> Result<Rule, String> {
        let action = match spec
            .action
            .as_deref()
            .unwrap_or("replace")
            .to_ascii_lowercase()
            .as_str()
        {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "hashmod" => return Err("action hashmod is not supported by foresight's forwarding".into()),
            other => return Err(format!("unknown relabel action {other:?}")),
        };
        let pattern = spec.regex.as_deref().unwrap_or("(.*)");
        let regex =
            Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("regex {pattern:?} does not compile: {e}"))?;
        let target_label = spec.target_label.clone().unwrap_or_default();
        let needs_target = matches!(
            action,
            Action::Replace | Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if needs_target && target_label.is_empty() {
            return Err(format!("relabel action {action:?} needs a target_label").to_ascii_lowercase());
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep | Action::LabelMap) && !spec.source_labels.is_empty()
        {
            return Err(
                format!("relabel action {action:?} takes no source_labels (its regex matches label names)")
                    .to_ascii_lowercase(),
            );
        }
        if matches!(action, Action::Keep | Action::Drop) && spec.source_labels.is_empty() {
            return Err(format!("relabel action {action:?} needs source_labels").to_ascii_lowercase());
        }
        if matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        ) && !is_label_name(&target_label)
        {
            return Err(format!("{target_label:?} is not a valid target_label"));
        }
        Ok(Rule {
            action,
            source_labels: spec.source_labels.clone(),
            separator: spec.separator.clone().unwrap_or_else(|| ";".into()),
            regex,
            target_label,
            replacement: spec.replacement.clone().unwrap_or_else(|| "$1".into()),
        })
    }
}

/// Whether `s` is a label name in Prometheus's classic form (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn get<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

fn set(labels: &mut Vec<(String, String)>, name: &str, value: String) {
    match labels.iter_mut().find(|(n, _)| n == name) {
        Some(l) => l.1 = value,
        None => labels.push((name.to_owned(), value)),
    }
}

/// Applies `rules` in order to `labels` (any order in, sorted by name out, no empty values);
/// `None` when the series is dropped, by a rule or because no label is left.
pub(crate) fn process(rules: &[Rule], mut labels: Vec<(String, String)>) -> Option<Vec<(String, String)>> {
    for r in rules {
        let joined = || {
            r.source_labels
                .iter()
                .map(|n| get(&labels, n))
                .collect::<Vec<_>>()
                .join(&r.separator)
        };
        match r.action {
            Action::Keep => {
                if !r.regex.is_match(&joined()) {
                    return None;
                }
            }
            Action::Drop => {
                if r.regex.is_match(&joined()) {
                    return None;
                }
            }
            Action::KeepEqual => {
                if joined() != get(&labels, &r.target_label) {
                    return None;
                }
            }
            Action::DropEqual => {
                if joined() == get(&labels, &r.target_label) {
                    return None;
                }
            }
            Action::Replace => {
                let value = joined();
                let Some(caps) = r.regex.captures(&value) else {
                    continue;
                };
                let mut target = String::new();
                caps.expand(&r.target_label, &mut target);
                if !is_label_name(&target) {
                    continue;
                }
                let mut res = String::new();
                caps.expand(&r.replacement, &mut res);
                if res.is_empty() {
                    labels.retain(|(n, _)| *n != target);
                } else {
                    set(&mut labels, &target, res);
                }
            }
            Action::Lowercase => {
                let v = joined().to_lowercase();
                set(&mut labels, &r.target_label, v);
            }
            Action::Uppercase => {
                let v = joined().to_uppercase();
                set(&mut labels, &r.target_label, v);
            }
            Action::LabelMap => {
                let mut added = Vec::new();
                for (n, v) in &labels {
                    if let Some(caps) = r.regex.captures(n) {
                        let mut name = String::new();
                        caps.expand(&r.replacement, &mut name);
                        added.push((name, v.clone()));
                    }
                }
                for (n, v) in added {
                    set(&mut labels, &n, v);
                }
            }
            Action::LabelDrop => labels.retain(|(n, _)| !r.regex.is_match(n)),
            Action::LabelKeep => labels.retain(|(n, _)| r.regex.is_match(n)),
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    if labels.is_empty() {
        return None;
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<Rule> {
        let specs: Vec<RuleSpec> = serde_saphyr::from_str(yaml).unwrap();
        specs.iter().map(|s| Rule::new(s).unwrap()).collect()
    }

    fn ls(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|&(n, v)| (n.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn keep_and_drop_choose_series() {
        let r = rules(
            "- source_labels: [__name__]\n  regex: 'node_.*'\n  action: keep\n- source_labels: [env, host]\n  regex: 'dev;.*'\n  action: drop\n",
        );
        assert!(process(&r, ls(&[("__name__", "node_cpu"), ("env", "prod")])).is_some());
        assert!(process(&r, ls(&[("__name__", "up")])).is_none());
        // Anchored: `node_.*` does not match `xnode_cpu`.
        assert!(process(&r, ls(&[("__name__", "xnode_cpu")])).is_none());
        assert!(process(&r, ls(&[("__name__", "node_cpu"), ("env", "dev"), ("host", "a")])).is_none());
        // A missing label is the empty string: `;a` does not match `dev;.*`.
        assert!(process(&r, ls(&[("__name__", "node_cpu"), ("host", "a")])).is_some());
    }

    #[test]
    fn replace_expands_groups_and_an_empty_result_removes_the_label() {
        let r = rules(
            "- source_labels: [instance]\n  regex: '([^:]+):\\d+'\n  target_label: host\n- source_labels: [secret]\n  regex: '.*'\n  target_label: secret\n  replacement: ''\n- source_labels: [job]\n  regex: '(?P<j>.+)'\n  target_label: 'copy_${j}'\n  replacement: 'x'\n",
        );
        let out = process(&r, ls(&[("instance", "web1:9100"), ("secret", "s"), ("job", "api")])).unwrap();
        assert_eq!(
            out,
            ls(&[
                ("copy_api", "x"),
                ("host", "web1"),
                ("instance", "web1:9100"),
                ("job", "api")
            ])
        );
        // No match: nothing changes.
        let out = process(&r[..1], ls(&[("instance", "nocolon")])).unwrap();
        assert_eq!(out, ls(&[("instance", "nocolon")]));
    }

    #[test]
    fn label_actions_case_and_equality() {
        let r = rules(
            "- regex: 'tmp_.*'\n  action: labeldrop\n- regex: 'meta_(.+)'\n  action: labelmap\n- source_labels: [dc]\n  target_label: dc\n  action: uppercase\n",
        );
        let out = process(&r, ls(&[("tmp_a", "1"), ("meta_zone", "z1"), ("dc", "eu")])).unwrap();
        assert_eq!(out, ls(&[("dc", "EU"), ("meta_zone", "z1"), ("zone", "z1")]));
        let keep = rules("- regex: '__name__|job'\n  action: labelkeep\n");
        assert_eq!(
            process(&keep, ls(&[("__name__", "up"), ("job", "a"), ("x", "y")])).unwrap(),
            ls(&[("__name__", "up"), ("job", "a")])
        );
        let eq = rules("- source_labels: [a]\n  target_label: b\n  action: keepequal\n");
        assert!(process(&eq, ls(&[("a", "1"), ("b", "1")])).is_some());
        assert!(process(&eq, ls(&[("a", "1"), ("b", "2")])).is_none());
        // Everything dropped: no series.
        let none = rules("- regex: '.*'\n  action: labeldrop\n");
        assert!(process(&none, ls(&[("a", "1")])).is_none());
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let err = |yaml: &str| {
            let specs: Vec<RuleSpec> = serde_saphyr::from_str(yaml).unwrap();
            Rule::new(&specs[0]).unwrap_err()
        };
        assert!(err("- action: hashmod\n  target_label: x\n").contains("hashmod"));
        assert!(err("- action: frobnicate\n").contains("unknown relabel action"));
        assert!(err("- source_labels: [a]\n  regex: '('\n  action: keep\n").contains("does not compile"));
        assert!(err("- source_labels: [a]\n  action: replace\n").contains("target_label"));
        assert!(err("- action: keep\n").contains("source_labels"));
        assert!(err("- source_labels: [a]\n  action: labeldrop\n").contains("no source_labels"));
        assert!(err("- source_labels: [a]\n  target_label: '1x'\n  action: lowercase\n").contains("target_label"));
    }
}
