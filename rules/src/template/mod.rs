//! Go `text/template` as Prometheus uses it for alert labels and annotations: [`Template`] parses
//! and runs a template, [`expand_alert`] expands one the way an alerting rule does (with
//! `$labels`, `$value`, `$externalLabels`, `$externalURL`), turning any failure into Prometheus'
//! `<error expanding template: ...>` text rather than an error.

mod exec;
mod funcs;
mod gofmt;
mod parse;
mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use exec::{Env, QueryFn};
pub use parse::ParseError;
pub use value::Value;

pub(crate) use gofmt::format_float;
pub use gofmt::go_float;

use parse::{Node, Operand, Pipeline, Tree};

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    tree: Tree,
}

impl Template {
    /// Parses `text`; `name` appears in error messages (`template: NAME:LINE: ...`). Calls to
    /// functions that do not exist are parse errors, as in Go.
    pub fn parse(name: &str, text: &str) -> Result<Self, ParseError> {
        let tree = parse::parse(name, text)?;
        let mut unknown = None;
        let mut visit = |p: &Pipeline| {
            walk_idents(p, &mut |id: &str, line: usize| {
                if unknown.is_none() && !funcs::NAMES.contains(&id) {
                    unknown = Some((id.to_string(), line));
                }
            });
        };
        walk(&tree.root, &mut visit);
        for body in tree.defines.values() {
            walk(body, &mut visit);
        }
        if let Some((id, line)) = unknown {
            return Err(ParseError {
                name: name.to_string(),
                line,
                message: format!("function {id:?} not defined"),
            });
        }
        Ok(Self {
            name: name.to_string(),
            tree,
        })
    }

    /// Runs the template with `data` as dot (and `$`); the error is Go's
    /// `template: NAME:LINE:COL: executing "NAME" at <...>: ...`.
    pub fn execute(&self, data: Value, env: &Env<'_>) -> Result<String, String> {
        let mut ex = exec::Exec::new(&self.tree, &self.name, *env, data.clone());
        ex.run(&self.tree.root, &data)?;
        Ok(ex.out)
    }
}

fn walk(nodes: &[Node], f: &mut dyn FnMut(&Pipeline)) {
    for n in nodes {
        match n {
            Node::Action(p) => f(p),
            Node::If(b) | Node::With(b) | Node::Range(b) => {
                f(&b.pipe);
                walk(&b.body, f);
                walk(&b.otherwise, f);
            }
            Node::Call { arg: Some(p), .. } => f(p),
            Node::Text(_) | Node::Break | Node::Continue | Node::Call { arg: None, .. } => {}
        }
    }
}

fn walk_idents(p: &Pipeline, f: &mut dyn FnMut(&str, usize)) {
    for c in &p.cmds {
        for a in &c.args {
            match a {
                Operand::Ident(id) => f(id, c.pos.line),
                Operand::Sub(inner, _) => walk_idents(inner, f),
                _ => {}
            }
        }
    }
}

/// What an alerting rule's templates see.
#[derive(Debug, Clone)]
pub struct AlertData<'a> {
    /// The sample's labels (`$labels`), without `__name__`.
    pub labels: BTreeMap<String, String>,
    /// `$externalLabels`.
    pub external_labels: &'a BTreeMap<String, String>,
    /// `$externalURL`.
    pub external_url: &'a str,
    /// `$value`.
    pub value: f64,
    /// More variables, as (`$name`, `.Field`, value): what a predictive rule adds
    /// ([`FORECAST_VARS`], [`ANOMALY_VARS`]).
    pub extra: Vec<(&'static str, &'static str, Value)>,
}

/// The variables a forecast rule's templates add: `$eta` (the time until the crossing,
/// humanized as `humanizeDuration` does) and `$eta_seconds`.
pub const FORECAST_VARS: &[(&str, &str)] = &[("eta", "Eta"), ("eta_seconds", "EtaSeconds")];

/// The variables an anomaly rule's templates add: the detector's `$expected` value, its band
/// `$lower`..`$upper` and the point's `$score`.
pub const ANOMALY_VARS: &[(&str, &str)] = &[
    ("expected", "Expected"),
    ("lower", "Lower"),
    ("upper", "Upper"),
    ("score", "Score"),
];

/// [`ALERT_DEFS`] plus a definition of each extra variable.
fn alert_defs<'a>(extra: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut defs = ALERT_DEFS.to_string();
    for (var, field) in extra {
        defs.push_str(&format!("{{{{${var} := .{field}}}}}"));
    }
    defs
}

/// What Prometheus puts before every alert template, so the variables exist.
const ALERT_DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Expands an alert label or annotation template as Prometheus does: the template is named
/// `__alert_<alertname>`, and a template that does not parse or fails gives
/// `<error expanding template: ...>` (the rule still succeeds).
pub fn expand_alert(alertname: &str, text: &str, data: &AlertData<'_>, env: &Env<'_>) -> String {
    // Plain text (most label values) needs no parse.
    if !text.contains("{{") {
        return text.to_string();
    }
    let name = format!("__alert_{alertname}");
    let defs = alert_defs(data.extra.iter().map(|(v, f, _)| (*v, *f)));
    let full = format!("{defs}{text}");
    let tmpl = match Template::parse(&name, &full) {
        Ok(t) => t,
        Err(e) => return format!("<error expanding template: error parsing template {name}: {e}>"),
    };
    let mut fields = vec![
        ("Labels", Value::Labels(Arc::new(data.labels.clone()))),
        ("ExternalLabels", Value::Labels(Arc::new(data.external_labels.clone()))),
        ("ExternalURL", Value::Str(data.external_url.to_string())),
        ("Value", Value::Float(data.value)),
    ];
    fields.extend(data.extra.iter().map(|(_, f, v)| (*f, v.clone())));
    let dot = Value::Struct(Arc::new(fields));
    match tmpl.execute(dot, env) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: error executing template {name}: {e}>"),
    }
}

/// `humanizeDuration`'s text for `seconds` (`1d 2h 3m 4s`).
pub(crate) fn humanize_duration_text(seconds: f64) -> String {
    funcs::humanize_duration(seconds)
}

/// Checks an alert template as `promtool check rules` does (with the variable definitions).
pub fn check_alert_template(alertname: &str, text: &str) -> Result<(), ParseError> {
    check_alert_template_with(alertname, text, &[])
}

/// [`check_alert_template`] for a rule whose templates also see `extra` variables
/// ([`FORECAST_VARS`], [`ANOMALY_VARS`]).
pub fn check_alert_template_with(alertname: &str, text: &str, extra: &[(&str, &str)]) -> Result<(), ParseError> {
    let defs = alert_defs(extra.iter().copied());
    Template::parse(&format!("__alert_{alertname}"), &format!("{defs}{text}")).map(|_| ())
}

#[cfg(test)]
mod tests;
