//! Executing a parsed template: Go's `text/template` semantics over [`Value`]s, with Go's
//! built-in functions and Prometheus' (`humanize`, `query`, ...; `funcs.rs`).

use super::funcs;
use super::parse::{Branch, Command, Loc, Node, Operand, Pipeline, Tree};
use super::value::Value;

/// Runs an instant query for the `query` function: the result as samples
/// ([`Value::sample`]), or why it failed.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<Vec<Value>, String> + 'a;

/// What a template may reach beyond its data: the `query` function, the evaluation time (for
/// `now`) and the external URL (for `externalURL`, `pathPrefix`, `graphLink`, `tableLink`).
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// Answers `query`; `None`: `query` fails.
    pub query: Option<&'a QueryFn<'a>>,
    /// The evaluation time, milliseconds since the epoch.
    pub now_ms: i64,
    /// The external URL (`--web.external-url` in Prometheus).
    pub external_url: &'a str,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("query", &self.query.is_some())
            .field("now_ms", &self.now_ms)
            .field("external_url", &self.external_url)
            .finish()
    }
}

/// Deepest `{{template}}` recursion, as Go's `maxExecDepth` bounds it.
const MAX_DEPTH: usize = 100_000 / 100;
/// Most iterations over all `range`s of one execution (a template cannot loop forever, but a
/// `range` over a huge integer would take very long).
const MAX_ITERATIONS: usize = 10_000_000;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct Exec<'a> {
    pub tree: &'a Tree,
    pub name: &'a str,
    pub env: Env<'a>,
    pub vars: Vec<(String, Value)>,
    pub out: String,
    depth: usize,
    iterations: usize,
}

/// An execution error, already in Go's words.
pub(crate) type ExecError = String;

impl<'a> Exec<'a> {
    pub(crate) fn new(tree: &'a Tree, name: &'a str, env: Env<'a>, data: Value) -> Self {
        Self {
            tree,
            name,
            env,
            vars: vec![("$".into(), data)],
            out: String::new(),
            depth: 0,
            iterations: 0,
        }
    }

    fn fail(&self, pos: Loc, context: &str, msg: impl std::fmt::Display) -> ExecError {
        format!(
            "template: {name}:{}:{}: executing \"{name}\" at <{context}>: {msg}",
            pos.line,
            pos.col,
            name = self.name
        )
    }

    pub(crate) fn run(&mut self, nodes: &[Node], dot: &Value) -> Result<(), ExecError> {
        self.list(nodes, dot).map(|_| ())
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, ExecError> {
        let mark = self.vars.len();
        let flow = self.list_inner(nodes, dot);
        self.vars.truncate(mark);
        flow
    }

    fn list_inner(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, ExecError> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        v.print(&mut self.out);
                    }
                }
                Node::If(b) => {
                    let v = self.pipeline(&b.pipe, dot)?;
                    let body = if v.truth() { &b.body } else { &b.otherwise };
                    match self.list(body, dot)? {
                        Flow::Normal => {}
                        other => return Ok(other),
                    }
                }
                Node::With(b) => {
                    let v = self.pipeline(&b.pipe, dot)?;
                    let flow = if v.truth() {
                        self.list(&b.body, &v)?
                    } else {
                        self.list(&b.otherwise, dot)?
                    };
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => self.range(b, dot)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Call { name, arg, pos } => {
                    let Some(body) = self.tree.defines.get(name) else {
                        return Err(self.fail(
                            *pos,
                            &format!("template {name:?}"),
                            format!("no such template {name:?}"),
                        ));
                    };
                    let arg = match arg {
                        Some(p) => self.pipeline(p, dot)?,
                        None => Value::Nil,
                    };
                    if self.depth >= MAX_DEPTH {
                        return Err(self.fail(*pos, &format!("template {name:?}"), "exceeded maximum template depth"));
                    }
                    self.depth += 1;
                    // A called template sees only its argument and `$` set to it.
                    let saved = std::mem::replace(&mut self.vars, vec![("$".into(), arg.clone())]);
                    let r = self.list(body, &arg);
                    self.vars = saved;
                    self.depth -= 1;
                    r?;
                }
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, b: &Branch, dot: &Value) -> Result<(), ExecError> {
        let v = self.pipeline_value(&b.pipe, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
            Value::Labels(m) => m
                .iter()
                .map(|(k, x)| (Value::Str(k.clone()), Value::Str(x.clone())))
                .collect(),
            Value::Int(n) => {
                if usize::try_from(*n).is_ok_and(|n| n > MAX_ITERATIONS) {
                    return Err(self.fail(b.pipe.pos, &b.pipe.src, "range too long"));
                }
                (0..(*n).max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Nil => Vec::new(),
            other => {
                return Err(self.fail(
                    b.pipe.pos,
                    &b.pipe.src,
                    format!("range can't iterate over {}", other.to_text()),
                ));
            }
        };
        if items.is_empty() {
            self.list(&b.otherwise, dot)?;
            return Ok(());
        }
        for (k, x) in items {
            self.iterations += 1;
            if self.iterations > MAX_ITERATIONS {
                return Err(self.fail(b.pipe.pos, &b.pipe.src, "too many range iterations"));
            }
            let mark = self.vars.len();
            match b.pipe.decl.as_slice() {
                [e] => self.vars.push((e.clone(), x.clone())),
                [i, e] => {
                    self.vars.push((i.clone(), k));
                    self.vars.push((e.clone(), x.clone()));
                }
                _ => {}
            }
            let flow = self.list(&b.body, &x);
            self.vars.truncate(mark);
            if matches!(flow?, Flow::Break) {
                break;
            }
        }
        Ok(())
    }

    /// The value of a range's pipeline: its declarations name the loop variables, not it.
    fn pipeline_value(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, ExecError> {
        let mut v = Value::Nil;
        for (i, c) in p.cmds.iter().enumerate() {
            let prev = (i > 0).then(|| v.clone());
            v = self.command(c, dot, prev)?;
        }
        Ok(v)
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, ExecError> {
        let v = self.pipeline_value(p, dot)?;
        for name in &p.decl {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(self.fail(p.pos, &p.src, format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, name: &str, pos: Loc, ctx: &str) -> Result<Value, ExecError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.fail(pos, ctx, format!("undefined variable: {name}")))
    }

    fn fields(&self, mut v: Value, fields: &[String], c: &Command) -> Result<Value, ExecError> {
        for f in fields {
            v = v.field(f).map_err(|e| self.fail(c.pos, &c.src, e))?;
        }
        Ok(v)
    }

    fn operand(&mut self, op: &Operand, dot: &Value, c: &Command) -> Result<Value, ExecError> {
        Ok(match op {
            Operand::Dot(fields) => self.fields(dot.clone(), fields, c)?,
            Operand::Var(name, fields) => {
                let v = self.var(name, c.pos, &c.src)?;
                self.fields(v, fields, c)?
            }
            Operand::Str(s) => Value::Str(s.clone()),
            Operand::Int(i) => Value::Int(*i),
            Operand::Float(f) => Value::Float(*f),
            Operand::Bool(b) => Value::Bool(*b),
            Operand::Nil => return Err(self.fail(c.pos, &c.src, "nil is not a command")),
            Operand::Sub(p, fields) => {
                let v = self.pipeline(p, dot)?;
                self.fields(v, fields, c)?
            }
            Operand::Ident(name) => self.call(name, Vec::new(), c)?,
        })
    }

    fn command(&mut self, c: &Command, dot: &Value, piped: Option<Value>) -> Result<Value, ExecError> {
        let Some(first) = c.args.first() else {
            return Err(self.fail(c.pos, &c.src, "empty command"));
        };
        if let Operand::Ident(name) = first {
            let mut args = Vec::with_capacity(c.args.len());
            for a in &c.args[1..] {
                args.push(self.arg(a, dot, c)?);
            }
            args.extend(piped);
            return self.call(name, args, c);
        }
        if c.args.len() > 1 || piped.is_some() {
            return Err(self.fail(c.pos, &c.src, format!("can't give argument to non-function {}", c.src)));
        }
        self.operand(first, dot, c)
    }

    fn arg(&mut self, a: &Operand, dot: &Value, c: &Command) -> Result<Value, ExecError> {
        match a {
            Operand::Nil => Ok(Value::Nil),
            other => self.operand(other, dot, c),
        }
    }

    fn call(&mut self, name: &str, args: Vec<Value>, c: &Command) -> Result<Value, ExecError> {
        let env = self.env;
        funcs::call(name, args, &env).map_err(|e| match e {
            funcs::CallError::Arity(msg) => self.fail(c.pos, &c.src, msg),
            funcs::CallError::Failed(msg) => self.fail(c.pos, &c.src, format!("error calling {name}: {msg}")),
        })
    }
}
