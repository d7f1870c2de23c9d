//! The syntax of Go's `text/template`: text and `{{ actions }}` (with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`), pipelines of commands joined by `|`, variables (`$x := ...`,
//! `$x = ...`), fields (`.Labels.job`, `$labels.job`), literals, `if`/`else if`/`else`, `range`
//! (with `$i, $e :=`, `break`, `continue`), `with`, `define`, `template` and `block`.

use std::collections::HashMap;

/// Deepest nesting of blocks (`if`, `range`, `with`, `define`) and parentheses: the parser and
/// the executor recurse over it, so a hostile template must not overflow the stack.
const MAX_NESTING: usize = 200;

/// A parse error: `template: NAME:LINE: message`, as Go words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {name}:{line}: {message}")]
pub struct ParseError {
    /// The template's name.
    pub name: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    /// `{{ pipeline }}`: printed unless it declares variables.
    Action(Pipeline),
    If(Branch),
    With(Branch),
    Range(Branch),
    Break,
    Continue,
    /// `{{ template "name" pipeline }}`.
    Call {
        name: String,
        arg: Option<Pipeline>,
        pos: Loc,
    },
}

/// The condition, body and else part of `if`, `with` and `range`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Branch {
    pub pipe: Pipeline,
    pub body: Vec<Node>,
    pub otherwise: Vec<Node>,
}

/// Where a node is, for execution errors: `NAME:LINE:COL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Loc {
    pub line: usize,
    pub col: usize,
}

/// `[$a[, $b] (:=|=)] cmd | cmd ...`
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    pub decl: Vec<String>,
    /// `=` (assign to existing variables) rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Command>,
    pub pos: Loc,
    /// The source text, for error messages (`at <...>`).
    pub src: String,
}

/// A command: a function name and its arguments, or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub args: Vec<Operand>,
    pub src: String,
    pub pos: Loc,
}

/// An operand: a term followed by field names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Dot(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Sub(Box<Pipeline>, Vec<String>),
}

/// A parsed template set: the main tree and the `define`d ones.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    /// The tokens of one action, with the action's source.
    Action(Vec<(ATok, Loc)>, String, Loc),
}

#[derive(Debug, Clone, PartialEq)]
enum ATok {
    Ident(String),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    Num(String),
    Char(char),
    Declare,
    Assign,
    Pipe,
    Comma,
    LParen,
    RParen,
}

struct Lexer<'a> {
    name: &'a str,
    src: &'a str,
}

impl Lexer<'_> {
    fn err(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            name: self.name.to_string(),
            line: line_of(self.src, at),
            message: message.into(),
        }
    }

    fn loc(&self, at: usize) -> Loc {
        let before = self.src.get(..at).unwrap_or("");
        Loc {
            line: 1 + before.matches('\n').count(),
            col: at - before.rfind('\n').map_or(0, |i| i + 1),
        }
    }

    fn tokens(&self) -> Result<Vec<Tok>, ParseError> {
        let src = self.src;
        let mut out: Vec<Tok> = Vec::new();
        let mut i = 0;
        let mut trim_next = false;
        while i < src.len() {
            let rest = &src[i..];
            let Some(open) = rest.find("{{") else {
                let mut t = rest;
                if trim_next {
                    t = t.trim_start();
                }
                if !t.is_empty() {
                    out.push(Tok::Text(t.to_string()));
                }
                break;
            };
            let mut text = &rest[..open];
            if trim_next {
                text = text.trim_start();
            }
            let mut start = i + open + 2;
            let trim_left = src[start..].starts_with("- ")
                || src[start..].starts_with("-\t")
                || src[start..].starts_with("-\n")
                || src[start..].starts_with("-\r");
            if trim_left {
                text = text.trim_end();
                start += 1;
            }
            if !text.is_empty() {
                out.push(Tok::Text(text.to_string()));
            }
            let (toks, end, trim_right) = self.action(start)?;
            let action_src = src[start..end].trim().to_string();
            if let Some(toks) = toks {
                out.push(Tok::Action(toks, action_src, self.loc(start)));
            }
            trim_next = trim_right;
            i = end + if trim_right { 3 } else { 2 };
        }
        Ok(out)
    }

    /// Lexes one action from `start` (after `{{` and any `-`): its tokens (`None` for a comment),
    /// where its closing delimiter starts, and whether it is ` -}}`.
    #[allow(clippy::type_complexity)]
    fn action(&self, start: usize) -> Result<(Option<Vec<(ATok, Loc)>>, usize, bool), ParseError> {
        let src = self.src;
        let b = src.as_bytes();
        let mut i = start;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if src[i..].starts_with("/*") {
            let Some(close) = src[i + 2..].find("*/") else {
                return Err(self.err(i, "unclosed comment"));
            };
            let mut j = i + 2 + close + 2;
            while b.get(j).is_some_and(u8::is_ascii_whitespace) {
                j += 1;
            }
            if src[j..].starts_with("-}}") {
                return Ok((None, j, true));
            }
            if src[j..].starts_with("}}") {
                return Ok((None, j, false));
            }
            return Err(self.err(j, "comment ends before closing delimiter"));
        }
        let mut toks = Vec::new();
        loop {
            let Some(&c) = b.get(i) else {
                return Err(self.err(i, "unclosed action"));
            };
            let at = self.loc(i);
            if c.is_ascii_whitespace() {
                let mut j = i;
                while b.get(j).is_some_and(u8::is_ascii_whitespace) {
                    j += 1;
                }
                if src[j..].starts_with("-}}") {
                    return Ok((Some(toks), j, true));
                }
                i = j;
                continue;
            }
            if src[i..].starts_with("}}") {
                return Ok((Some(toks), i, false));
            }
            let word_end = |from: usize| {
                let mut j = from;
                while let Some(ch) = src[j..].chars().next() {
                    if ch.is_alphanumeric() || ch == '_' {
                        j += ch.len_utf8();
                    } else {
                        break;
                    }
                }
                j
            };
            match c {
                b'|' => {
                    toks.push((ATok::Pipe, at));
                    i += 1;
                }
                b',' => {
                    toks.push((ATok::Comma, at));
                    i += 1;
                }
                b'(' => {
                    toks.push((ATok::LParen, at));
                    i += 1;
                }
                b')' => {
                    toks.push((ATok::RParen, at));
                    i += 1;
                }
                b':' if b.get(i + 1) == Some(&b'=') => {
                    toks.push((ATok::Declare, at));
                    i += 2;
                }
                b'=' => {
                    toks.push((ATok::Assign, at));
                    i += 1;
                }
                b'$' => {
                    let j = word_end(i + 1);
                    toks.push((ATok::Var(src[i..j].to_string()), at));
                    i = j;
                }
                b'.' if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                    let j = number_end(src, i);
                    toks.push((ATok::Num(src[i..j].to_string()), at));
                    i = j;
                }
                b'.' => {
                    let j = word_end(i + 1);
                    if j == i + 1 {
                        toks.push((ATok::Dot, at));
                    } else {
                        toks.push((ATok::Field(src[i + 1..j].to_string()), at));
                    }
                    i = j;
                }
                b'"' => {
                    let (s, j) = self.quoted(i)?;
                    toks.push((ATok::Str(s), at));
                    i = j;
                }
                b'`' => {
                    let Some(close) = src[i + 1..].find('`') else {
                        return Err(self.err(i, "unterminated raw quoted string"));
                    };
                    toks.push((ATok::Str(src[i + 1..i + 1 + close].to_string()), at));
                    i = i + close + 2;
                }
                b'\'' => {
                    let (s, j) = self.quoted(i)?;
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(ch), None) => toks.push((ATok::Char(ch), at)),
                        _ => return Err(self.err(i, format!("malformed character constant: {}", &src[i..j]))),
                    }
                    i = j;
                }
                b'-' | b'+' | b'0'..=b'9' => {
                    let j = number_end(src, i);
                    if j == i + 1 && !c.is_ascii_digit() {
                        return Err(self.err(i, format!("bad number syntax: {:?}", char::from(c))));
                    }
                    toks.push((ATok::Num(src[i..j].to_string()), at));
                    i = j;
                }
                _ => {
                    let j = word_end(i);
                    if j == i {
                        let ch = src[i..].chars().next().unwrap_or('?');
                        return Err(self.err(i, format!("unexpected {ch:?} in command")));
                    }
                    toks.push((ATok::Ident(src[i..j].to_string()), at));
                    i = j;
                }
            }
        }
    }

    /// A `"..."` or `'.'` literal with Go's escapes, from its opening quote.
    fn quoted(&self, start: usize) -> Result<(String, usize), ParseError> {
        let src = self.src;
        let quote = src[start..].chars().next().unwrap_or('"');
        let mut out = String::new();
        let mut it = src[start + 1..].char_indices();
        while let Some((k, ch)) = it.next() {
            match ch {
                c if c == quote => return Ok((out, start + 1 + k + 1)),
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = it.next() else { break };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '\\' | '"' | '\'' => out.push(e),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = it.by_ref().take(n).map(|(_, c)| c).collect();
                            let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                            match ch {
                                Some(c) if hex.len() == n => out.push(c),
                                _ => return Err(self.err(start, "invalid syntax in quoted string")),
                            }
                        }
                        _ => return Err(self.err(start, format!("invalid escape \\{e} in quoted string"))),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err(start, "unterminated quoted string"))
    }
}

fn number_end(src: &str, start: usize) -> usize {
    let b = src.as_bytes();
    let mut j = start;
    if matches!(b.get(j), Some(b'-' | b'+')) {
        j += 1;
    }
    while let Some(&c) = b.get(j) {
        let exp_sign = matches!(c, b'+' | b'-') && matches!(b.get(j.wrapping_sub(1)), Some(b'e' | b'E'));
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exp_sign {
            j += 1;
        } else {
            break;
        }
    }
    j
}

fn line_of(src: &str, at: usize) -> usize {
    1 + src.get(..at).unwrap_or(src).matches('\n').count()
}

/// Parses a template's text.
pub(crate) fn parse(name: &str, src: &str) -> Result<Tree, ParseError> {
    let lexer = Lexer { name, src };
    let toks = lexer.tokens()?;
    let mut p = Parser {
        name,
        toks,
        i: 0,
        defines: HashMap::new(),
        range_depth: 0,
        vars: vec!["$".to_string()],
        depth: 0,
    };
    let (root, end) = p.list()?;
    if let Some((word, loc)) = end {
        return Err(p.err(loc, format!("unexpected {{{{{word}}}}}")));
    }
    Ok(Tree {
        root,
        defines: p.defines,
    })
}

struct Parser<'a> {
    name: &'a str,
    toks: Vec<Tok>,
    i: usize,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
    /// Variables in scope, as Go checks them at parse time.
    vars: Vec<String>,
    /// Current nesting of blocks and parentheses.
    depth: usize,
}

/// How a list ended: `end`, `else` (with the rest of the else action's tokens), or input end.
type ListEnd = Option<(String, Loc)>;

impl Parser<'_> {
    fn err(&self, loc: Loc, message: impl Into<String>) -> ParseError {
        ParseError {
            name: self.name.to_string(),
            line: loc.line,
            message: message.into(),
        }
    }

    /// Nodes up to `{{end}}` or `{{else ...}}` (returned as the end word; an `else` is left in
    /// place, without its first word, for [`Parser::branch`] to read) or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, ListEnd), ParseError> {
        let mark = self.vars.len();
        self.depth += 1;
        let r = if self.depth > MAX_NESTING {
            let line = self.toks.get(self.i.saturating_sub(1)).map_or(1, |t| match t {
                Tok::Action(_, _, l) => l.line,
                Tok::Text(_) => 1,
            });
            Err(ParseError {
                name: self.name.to_string(),
                line,
                message: format!("nested more than {MAX_NESTING} levels deep"),
            })
        } else {
            self.list_inner()
        };
        self.depth -= 1;
        self.vars.truncate(mark);
        r
    }

    fn list_inner(&mut self) -> Result<(Vec<Node>, ListEnd), ParseError> {
        let mut nodes = Vec::new();
        while let Some(tok) = self.toks.get(self.i).cloned() {
            self.i += 1;
            match tok {
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::Action(toks, src, loc) => {
                    let first = match toks.first() {
                        Some((ATok::Ident(w), _)) => w.as_str(),
                        None => return Err(self.err(loc, "missing value for command")),
                        _ => "",
                    };
                    match first {
                        "end" => {
                            if toks.len() > 1 {
                                return Err(self.err(loc, "unexpected tokens in end"));
                            }
                            return Ok((nodes, Some(("end".into(), loc))));
                        }
                        "else" => {
                            // Put the rest back as an action for the caller to read.
                            self.i -= 1;
                            self.toks[self.i] = Tok::Action(toks[1..].to_vec(), src, loc);
                            return Ok((nodes, Some(("else".into(), loc))));
                        }
                        "if" | "with" | "range" => nodes.push(self.branch(first, &toks[1..], &src, loc)?),
                        "break" | "continue" => {
                            if self.range_depth == 0 {
                                return Err(self.err(loc, format!("{{{{{first}}}}} outside {{{{range}}}}")));
                            }
                            nodes.push(if first == "break" { Node::Break } else { Node::Continue });
                        }
                        "define" => {
                            let Some((ATok::Str(name), _)) = toks.get(1) else {
                                return Err(self.err(loc, "define: expected a quoted name"));
                            };
                            let outer = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                            let r = self.list();
                            self.vars = outer;
                            let (body, end) = r?;
                            if end.as_ref().map(|e| e.0.as_str()) != Some("end") {
                                return Err(self.err(loc, "unexpected EOF in define"));
                            }
                            self.defines.insert(name.clone(), body);
                        }
                        "template" | "block" => {
                            let Some((ATok::Str(name), _)) = toks.get(1) else {
                                return Err(self.err(loc, format!("{first}: expected a quoted name")));
                            };
                            let arg = if toks.len() > 2 {
                                Some(self.pipeline(&toks[2..], &src, loc, false)?)
                            } else {
                                None
                            };
                            if first == "block" {
                                let (body, end) = self.list()?;
                                if end.as_ref().map(|e| e.0.as_str()) != Some("end") {
                                    return Err(self.err(loc, "unexpected EOF in block"));
                                }
                                self.defines.insert(name.clone(), body);
                            }
                            nodes.push(Node::Call {
                                name: name.clone(),
                                arg,
                                pos: loc,
                            });
                        }
                        _ => nodes.push(Node::Action(self.pipeline(&toks, &src, loc, false)?)),
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    fn branch(&mut self, word: &str, toks: &[(ATok, Loc)], src: &str, loc: Loc) -> Result<Node, ParseError> {
        let mark = self.vars.len();
        let r = self.branch_inner(word, toks, src, loc);
        self.vars.truncate(mark);
        r
    }

    fn branch_inner(&mut self, word: &str, toks: &[(ATok, Loc)], src: &str, loc: Loc) -> Result<Node, ParseError> {
        let is_range = word == "range";
        let pipe = self.pipeline(toks, src, loc, is_range)?;
        if is_range {
            self.range_depth += 1;
        }
        let listed = self.list();
        if is_range {
            self.range_depth -= 1;
        }
        let (body, end) = listed?;
        let otherwise = match end {
            Some((w, _)) if w == "end" => Vec::new(),
            Some((_, eloc)) => {
                // `{{else}}`, `{{else if ...}}` or `{{else with ...}}`.
                let Some(Tok::Action(rest, esrc, _)) = self.toks.get(self.i).cloned() else {
                    return Err(self.err(eloc, "unexpected else"));
                };
                self.i += 1;
                match rest.first() {
                    None => {
                        let (otherwise, end) = self.list()?;
                        if end.as_ref().map(|e| e.0.as_str()) != Some("end") {
                            return Err(self.err(eloc, format!("expected end; found {}", describe(&end))));
                        }
                        otherwise
                    }
                    Some((ATok::Ident(w), _)) if (w == "if" || w == "with") && w == word => {
                        let w = w.clone();
                        vec![self.branch(&w, &rest[1..], &esrc, eloc)?]
                    }
                    _ => return Err(self.err(eloc, "unexpected tokens after else")),
                }
            }
            None => return Err(self.err(loc, format!("unexpected EOF in {word}"))),
        };
        let b = Branch { pipe, body, otherwise };
        Ok(match word {
            "if" => Node::If(b),
            "with" => Node::With(b),
            _ => Node::Range(b),
        })
    }

    fn pipeline(&mut self, toks: &[(ATok, Loc)], src: &str, loc: Loc, in_range: bool) -> Result<Pipeline, ParseError> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        // `$x :=`, `$x =`, and in range `$i, $e :=`.
        let decl_end = match toks {
            [(ATok::Var(a), _), (ATok::Declare | ATok::Assign, _), ..] => {
                decl.push(a.clone());
                Some(1)
            }
            [
                (ATok::Var(a), _),
                (ATok::Comma, _),
                (ATok::Var(b), l),
                (ATok::Declare | ATok::Assign, _),
                ..,
            ] => {
                if !in_range {
                    return Err(self.err(*l, "too many declarations in command"));
                }
                decl.push(a.clone());
                decl.push(b.clone());
                Some(3)
            }
            _ => None,
        };
        if let Some(k) = decl_end {
            assign = matches!(toks.get(k), Some((ATok::Assign, _)));
            rest = &toks[k + 1..];
            if assign {
                for d in &decl {
                    self.check_var(d, loc)?;
                }
            }
        }
        let mut cmds = Vec::new();
        let mut pos = 0;
        let mut parts: Vec<&[(ATok, Loc)]> = Vec::new();
        let mut depth = 0usize;
        for (k, (t, l)) in rest.iter().enumerate() {
            match t {
                ATok::LParen => depth += 1,
                ATok::RParen => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| self.err(*l, "unexpected right paren"))?;
                }
                ATok::Pipe if depth == 0 => {
                    parts.push(&rest[pos..k]);
                    pos = k + 1;
                }
                _ => {}
            }
        }
        if depth != 0 {
            return Err(self.err(loc, "unclosed left paren"));
        }
        parts.push(&rest[pos..]);
        for part in parts {
            if part.is_empty() {
                return Err(self.err(loc, "missing value for command"));
            }
            cmds.push(self.command(part)?);
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipeline {
            decl,
            assign,
            cmds,
            pos: loc,
            src: src.to_string(),
        })
    }

    fn check_var(&self, name: &str, loc: Loc) -> Result<(), ParseError> {
        if self.vars.iter().any(|v| v == name) {
            Ok(())
        } else {
            Err(self.err(loc, format!("undefined variable {name:?}")))
        }
    }

    fn command(&mut self, toks: &[(ATok, Loc)]) -> Result<Command, ParseError> {
        let mut args = Vec::new();
        let mut k = 0;
        while k < toks.len() {
            let (op, next) = self.operand(toks, k)?;
            args.push(op);
            k = next;
        }
        Ok(Command {
            args,
            pos: toks.first().map(|t| t.1).unwrap_or_default(),
            src: toks.iter().map(|(t, _)| tok_text(t)).collect::<Vec<_>>().join(" "),
        })
    }

    /// One operand starting at `toks[k]`, with its field chain; the index after it.
    fn operand(&mut self, toks: &[(ATok, Loc)], k: usize) -> Result<(Operand, usize), ParseError> {
        let (t, l) = &toks[k];
        let mut next = k + 1;
        let mut fields = Vec::new();
        let collect = |mut n: usize, fields: &mut Vec<String>| {
            while let Some((ATok::Field(f), _)) = toks.get(n) {
                fields.push(f.clone());
                n += 1;
            }
            n
        };
        let op = match t {
            ATok::Dot => {
                next = collect(next, &mut fields);
                Operand::Dot(fields)
            }
            ATok::Field(f) => {
                fields.push(f.clone());
                next = collect(next, &mut fields);
                Operand::Dot(fields)
            }
            ATok::Var(v) => {
                self.check_var(v, *l)?;
                next = collect(next, &mut fields);
                Operand::Var(v.clone(), fields)
            }
            ATok::Str(s) => Operand::Str(s.clone()),
            ATok::Char(c) => Operand::Int(i64::from(u32::from(*c))),
            ATok::Num(n) => parse_number(n).ok_or_else(|| self.err(*l, format!("bad number syntax: {n:?}")))?,
            ATok::Ident(w) => match w.as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "nil" => Operand::Nil,
                _ => Operand::Ident(w.clone()),
            },
            ATok::LParen => {
                let mut depth = 1usize;
                let mut j = k + 1;
                while j < toks.len() {
                    match toks[j].0 {
                        ATok::LParen => depth += 1,
                        ATok::RParen => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if self.depth >= MAX_NESTING {
                    return Err(self.err(*l, format!("nested more than {MAX_NESTING} levels deep")));
                }
                let inner = &toks[k + 1..j.min(toks.len())];
                let src = inner.iter().map(|(t, _)| tok_text(t)).collect::<Vec<_>>().join(" ");
                self.depth += 1;
                let pipe = self.pipeline(inner, &src, *l, false);
                self.depth -= 1;
                let pipe = pipe?;
                next = collect(j + 1, &mut fields);
                Operand::Sub(Box::new(pipe), fields)
            }
            other => return Err(self.err(*l, format!("unexpected {} in operand", tok_text(other)))),
        };
        Ok((op, next))
    }
}

fn describe(end: &ListEnd) -> String {
    match end {
        Some((w, _)) => format!("{{{{{w}}}}}"),
        None => "EOF".into(),
    }
}

fn parse_number(n: &str) -> Option<Operand> {
    let clean = n.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let radix = match digits.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    if let Some(r) = radix {
        let v = i64::from_str_radix(&digits[2..], r).ok()?;
        return Some(Operand::Int(if neg { -v } else { v }));
    }
    if digits.bytes().all(|c| c.is_ascii_digit()) {
        return clean.parse().ok().map(Operand::Int);
    }
    clean.parse().ok().map(Operand::Float)
}

fn tok_text(t: &ATok) -> String {
    match t {
        ATok::Ident(s) | ATok::Num(s) | ATok::Var(s) => s.clone(),
        ATok::Field(f) => format!(".{f}"),
        ATok::Dot => ".".into(),
        ATok::Str(s) => format!("{s:?}"),
        ATok::Char(c) => format!("{c:?}"),
        ATok::Declare => ":=".into(),
        ATok::Assign => "=".into(),
        ATok::Pipe => "|".into(),
        ATok::Comma => ",".into(),
        ATok::LParen => "(".into(),
        ATok::RParen => ")".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_line() {
        let cases = [
            ("{{ if .x }}", "unexpected EOF in if"),
            ("a\n{{ end }}", "template: t:2: unexpected {{end}}"),
            ("{{ .x", "unclosed action"),
            ("{{ \"abc }}", "unterminated quoted string"),
            ("{{ ( .x }}", "unclosed left paren"),
            ("{{ break }}", "{{break}} outside {{range}}"),
            ("{{ }}", "missing value for command"),
            ("{{ x | }}", "missing value for command"),
            ("{{ $a, $b := 1 }}", "too many declarations"),
        ];
        for (src, want) in cases {
            let e = parse("t", src).unwrap_err().to_string();
            assert!(e.contains(want), "{src:?}: {e}");
        }
    }

    #[test]
    fn trims_and_comments() {
        let t = parse("t", "a  {{- /* c */ -}}  b {{- 1 }}").unwrap();
        assert_eq!(
            t.root
                .iter()
                .filter(|n| matches!(n, Node::Text(_)))
                .cloned()
                .collect::<Vec<_>>(),
            vec![Node::Text("a".into()), Node::Text("b".into())]
        );
    }
}
