//! Problems found in a rule file or a rule unit-test file: what, and where (a leaf module).

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (in characters) in a YAML file; `0:0` when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Pos {
    pub(crate) fn of(loc: serde_saphyr::Location) -> Self {
        Self {
            line: u32::try_from(loc.line()).unwrap_or(0),
            column: u32::try_from(loc.column()).unwrap_or(0),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem in a file: `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    /// The file, as it was named.
    pub file: PathBuf,
    /// Where in it (`0:0` when the problem is the whole file, e.g. it cannot be read).
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl FileError {
    pub(crate) fn new(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            pos,
            message: message.into(),
        }
    }

    /// The error of a YAML document that does not decode, at the decoder's position.
    pub(crate) fn yaml(file: &Path, err: &serde_saphyr::Error) -> Self {
        let pos = err.location().map(Pos::of).unwrap_or_default();
        let inner = err.without_snippet();
        Self::new(file, pos, strip_location(&inner.to_string()))
    }
}

/// The decoder's message without the `at line L, column C` it appends (the position is ours).
fn strip_location(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg);
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos == Pos::default() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.pos, self.message)
        }
    }
}
