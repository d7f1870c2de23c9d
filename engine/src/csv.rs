//! CSV for imports: records (RFC 4180 quoting), the table structure of InfluxDB's annotated CSV,
//! and the mapping of a row to samples.
//!
//! Two kinds of file are read, chosen by [`CsvColumns`]:
//!
//! - **Annotated CSV** as `influx query --raw` and Flux's `csv` output write it (no value columns
//!   named): optional `#datatype`, `#group` and `#default` annotation rows, then a header row, then
//!   data rows; a blank line ends a table and the next one brings its own annotations and header.
//!   A row becomes the series `<_measurement>_<_field>` (as line protocol's `measurement field=`)
//!   with every other column as a label, except `result`, `table`, `_start`, `_stop`, `_time` and
//!   `_value` and the unnamed annotation column; `_time` is RFC 3339. A `_value` whose `#datatype`
//!   is `string` is skipped and counted, `boolean` becomes 1 or 0; an empty cell takes the
//!   column's `#default`.
//! - **Plain CSV** (value columns named): the first row is the header; each value column gives a
//!   sample of the series named after the column (or `<metric>_<column>`), labelled by the label
//!   columns; the time column is RFC 3339 or a unix number in the import's precision. An empty
//!   value cell gives no sample. Other `#` rows and blank rows are skipped.
//!
//! Fields may be quoted: `"a,b"` holds a comma, `""` inside quotes is one quote, and a quoted
//! field may run over line ends (the record is numbered by its first line).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::lineproto::Precision;
use crate::model::{Labels, METRIC_NAME};
use crate::write::{SampleBatch, SeriesRef};

/// The columns of a plain CSV file; with no value columns the file is read as annotated CSV.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvColumns {
    /// The time column of a plain file (`time` if empty).
    pub time: String,
    /// The value columns; each gives one series.
    pub values: Vec<String>,
    /// The columns whose cells label the series.
    pub labels: Vec<String>,
    /// Prefix of the series names: `<metric>_<column>`.
    pub metric: Option<String>,
}

impl CsvColumns {
    /// Plain CSV with these columns.
    pub fn plain(time: &str, values: Vec<String>, labels: Vec<String>, metric: Option<String>) -> Self {
        CsvColumns {
            time: time.to_owned(),
            values,
            labels,
            metric,
        }
    }

    fn annotated(&self) -> bool {
        self.values.is_empty()
    }
}

/// What a record is in the table structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Blank,
    /// An annotation (`#datatype`...) or a comment.
    Annotation,
    Header,
    Data,
}

/// Follows the table structure record by record and keeps the current table's preamble (its
/// annotation and header records), which is all a reader of a later record needs to know. The
/// import's reader thread runs it to hand each chunk the preamble in force at its start, and the
/// workers run it again over the preamble and their chunk.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    annotated: bool,
    /// The next non-blank, non-`#` record is a header.
    expect_header: bool,
    /// The preamble ended: the next annotation or header starts a new one.
    ended: bool,
    pub(crate) preamble: Vec<u8>,
}

impl Tables {
    /// The structure at the start of a file, annotated or plain.
    pub(crate) fn new(annotated: bool) -> Self {
        Tables {
            annotated,
            expect_header: true,
            ended: false,
            preamble: Vec::new(),
        }
    }

    pub(crate) fn feed(&mut self, record: &[u8]) -> Kind {
        let kind = if record.iter().all(u8::is_ascii_whitespace) {
            Kind::Blank
        } else if record.first() == Some(&b'#') {
            Kind::Annotation
        } else if self.expect_header {
            Kind::Header
        } else {
            Kind::Data
        };
        match kind {
            Kind::Blank | Kind::Annotation if !self.annotated => return kind,
            Kind::Blank => self.expect_header = true,
            Kind::Data => {}
            Kind::Annotation | Kind::Header => {
                if self.ended {
                    self.preamble.clear();
                    self.ended = false;
                }
                self.preamble.extend_from_slice(record);
                if !self.preamble.ends_with(b"\n") {
                    self.preamble.push(b'\n');
                }
                self.expect_header = kind == Kind::Annotation;
                return kind;
            }
        }
        self.ended = true;
        kind
    }
}

/// Splits one record into fields, unquoting them; a trailing `\r\n` or `\n` is not part of it.
pub(crate) fn split_record<'a>(record: &'a str, out: &mut Vec<Cow<'a, str>>) -> Result<(), String> {
    out.clear();
    let record = record.strip_suffix('\n').unwrap_or(record);
    let record = record.strip_suffix('\r').unwrap_or(record);
    let b = record.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut field = String::new();
            let mut j = i + 1;
            let mut from = j;
            loop {
                match b.get(j) {
                    None => return Err(format!("unterminated quoted field at column {}", i + 1)),
                    Some(b'"') if b.get(j + 1) == Some(&b'"') => {
                        field.push_str(&record[from..=j]);
                        j += 2;
                        from = j;
                    }
                    Some(b'"') => break,
                    Some(_) => j += 1,
                }
            }
            field.push_str(&record[from..j]);
            out.push(Cow::Owned(field));
            i = j + 1;
            match b.get(i) {
                None => return Ok(()),
                Some(b',') => i += 1,
                Some(_) => return Err(format!("expected ',' after the quoted field at column {}", i + 1)),
            }
        } else {
            let end = b[i..].iter().position(|&c| c == b',').map_or(b.len(), |p| i + p);
            let field = &record[i..end];
            if field.contains('"') {
                return Err(format!("quote inside an unquoted field at column {}", i + 1));
            }
            out.push(Cow::Borrowed(field));
            if end == b.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

/// A table's header, resolved to column indexes.
#[derive(Debug)]
struct Header {
    time: usize,
    /// (column, series name) of each value column.
    values: Vec<(usize, String)>,
    /// (column, label name) of each label column.
    labels: Vec<(usize, String)>,
    /// Annotated CSV: the `_measurement` and `_field` columns.
    name_from: Option<(usize, usize)>,
    width: usize,
    defaults: Vec<String>,
    value_type: ValueType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueType {
    Number,
    Boolean,
    String,
}

/// Columns of annotated CSV that are not labels.
const NOT_LABELS: [&str; 8] = ["", "result", "table", "_start", "_stop", "_time", "_value", "_field"];

/// Decodes the records of a chunk into samples.
#[derive(Debug)]
pub(crate) struct Decoder<'c> {
    columns: &'c CsvColumns,
    precision: Precision,
    tables: Tables,
    datatypes: Vec<String>,
    defaults: Vec<String>,
    header: Result<Header, String>,
    series: HashMap<String, SeriesRef>,
}

/// What one data record gave.
pub(crate) enum Row {
    /// Not a data record.
    Skipped,
    /// Samples pushed, and string values skipped.
    Data { strings: u64 },
}

impl<'c> Decoder<'c> {
    /// A decoder resuming at `at`, the table structure where the chunk starts.
    pub(crate) fn new(columns: &'c CsvColumns, precision: Precision, at: &Tables) -> Self {
        let mut d = Decoder {
            columns,
            precision,
            tables: at.clone(),
            datatypes: Vec::new(),
            defaults: Vec::new(),
            header: Err("no header row".to_owned()),
            series: HashMap::new(),
        };
        // The preamble's errors are reported where its records stand in the stream, not here.
        for_each_record(&at.preamble, |_, record| {
            let Ok(record) = record else { return };
            let kind = if record.starts_with('#') {
                Kind::Annotation
            } else {
                Kind::Header
            };
            let _ = d.decode(kind, record, 0, &mut SampleBatch::new(), &mut Vec::new());
        });
        d
    }

    /// Decodes one record, pushing its samples into `batch` under `line`. Errors are the record's.
    pub(crate) fn record(&mut self, record: &str, line: usize, batch: &mut SampleBatch) -> Result<Row, String> {
        let kind = self.tables.feed(record.as_bytes());
        self.decode(kind, record, line, batch, &mut Vec::new())
    }

    fn decode<'r>(
        &mut self,
        kind: Kind,
        record: &'r str,
        line: usize,
        batch: &mut SampleBatch,
        fields: &mut Vec<Cow<'r, str>>,
    ) -> Result<Row, String> {
        if kind == Kind::Blank || (kind == Kind::Annotation && !self.columns.annotated()) {
            return Ok(Row::Skipped);
        }
        split_record(record, fields)?;
        match kind {
            Kind::Blank => Ok(Row::Skipped),
            Kind::Annotation => {
                let rest = || fields.iter().skip(1).map(|f| f.to_string()).collect::<Vec<_>>();
                match fields.first().map(|f| f.as_ref()) {
                    Some("#datatype") => self.datatypes = rest(),
                    Some("#default") => self.defaults = rest(),
                    _ => {}
                }
                Ok(Row::Skipped)
            }
            Kind::Header => {
                self.header = self.header(fields);
                if self.columns.annotated() {
                    self.datatypes.clear();
                    self.defaults.clear();
                }
                match &self.header {
                    Ok(_) => Ok(Row::Skipped),
                    Err(e) => Err(format!("bad header: {e}")),
                }
            }
            Kind::Data => self.data(fields, line, batch),
        }
    }

    fn header(&self, fields: &[Cow<'_, str>]) -> Result<Header, String> {
        let find = |name: &str| {
            fields
                .iter()
                .position(|f| f == name)
                .ok_or_else(|| format!("no column {name:?}"))
        };
        // Annotations describe the columns after the annotation column, which the header leaves empty.
        let annotation = |list: &[String], col: usize| col.checked_sub(1).and_then(|c| list.get(c)).cloned();
        if self.columns.annotated() {
            let value = find("_value")?;
            let value_type = match annotation(&self.datatypes, value).as_deref() {
                Some("string") => ValueType::String,
                Some("boolean") => ValueType::Boolean,
                _ => ValueType::Number,
            };
            let labels = fields
                .iter()
                .enumerate()
                .filter(|(_, f)| !NOT_LABELS.contains(&f.as_ref()) && *f != "_measurement")
                .map(|(i, f)| (i, f.to_string()))
                .collect();
            Ok(Header {
                time: find("_time")?,
                values: vec![(value, String::new())],
                labels,
                name_from: Some((find("_measurement")?, find("_field")?)),
                width: fields.len(),
                defaults: (0..fields.len())
                    .map(|c| annotation(&self.defaults, c).unwrap_or_default())
                    .collect(),
                value_type,
            })
        } else {
            let time = if self.columns.time.is_empty() {
                "time"
            } else {
                &self.columns.time
            };
            let values = self
                .columns
                .values
                .iter()
                .map(|v| {
                    let name = match &self.columns.metric {
                        Some(m) => format!("{m}_{v}"),
                        None => v.clone(),
                    };
                    Ok((find(v)?, name))
                })
                .collect::<Result<_, String>>()?;
            let labels = self
                .columns
                .labels
                .iter()
                .map(|l| Ok((find(l)?, l.clone())))
                .collect::<Result<_, String>>()?;
            Ok(Header {
                time: find(time)?,
                values,
                labels,
                name_from: None,
                width: fields.len(),
                defaults: vec![String::new(); fields.len()],
                value_type: ValueType::Number,
            })
        }
    }

    fn data(&mut self, fields: &[Cow<'_, str>], line: usize, batch: &mut SampleBatch) -> Result<Row, String> {
        let h = self
            .header
            .as_ref()
            .map_err(|e| format!("no usable header row ({e})"))?;
        if fields.len() != h.width {
            return Err(format!("{} fields where the header has {}", fields.len(), h.width));
        }
        let cell = |i: usize| -> &str {
            match fields[i].as_ref() {
                "" => &h.defaults[i],
                f => f,
            }
        };
        let t = parse_time(cell(h.time), self.precision)
            .ok_or_else(|| format!("invalid time {:?} in column {}", cell(h.time), h.time + 1))?;
        let mut values = Vec::with_capacity(h.values.len());
        let mut strings = 0;
        for (col, _) in &h.values {
            let text = cell(*col);
            let v = match h.value_type {
                _ if text.is_empty() => None,
                ValueType::String => {
                    strings += 1;
                    None
                }
                ValueType::Boolean => Some(match text {
                    "true" => 1.0,
                    "false" => 0.0,
                    _ => return Err(format!("invalid boolean {text:?} in column {}", col + 1)),
                }),
                ValueType::Number => Some(
                    text.trim()
                        .parse::<f64>()
                        .map_err(|_| format!("invalid value {text:?} in column {}", col + 1))?,
                ),
            };
            values.push(v);
        }
        // The series' identity: its name and label values, as one string to look it up by.
        let mut key = String::new();
        if let Some((m, f)) = h.name_from {
            key.push_str(cell(m));
            key.push('_');
            key.push_str(cell(f));
        }
        for (col, _) in &h.labels {
            key.push('\0');
            key.push_str(cell(*col));
        }
        for ((_, name), v) in h.values.iter().zip(values) {
            let Some(v) = v else { continue };
            let id = format!("{name}\0{key}");
            let series = match self.series.get(&id) {
                Some(s) => *s,
                None => {
                    let metric = if h.name_from.is_some() {
                        key.split('\0').next().unwrap_or("")
                    } else {
                        name
                    };
                    let labels = Labels::new(
                        std::iter::once((METRIC_NAME.to_owned(), metric.to_owned()))
                            .chain(h.labels.iter().map(|(c, l)| (l.clone(), cell(*c).to_owned()))),
                    );
                    let s = batch.add_series(&labels).map_err(|e| e.to_string())?;
                    self.series.insert(id, s);
                    s
                }
            };
            batch.push(series, t, v, line);
        }
        Ok(Row::Data { strings })
    }
}

/// Calls `f` with each CSV record of `data` (quoted fields may hold line ends) and the number of
/// its first line, from 1, or with the UTF-8 error of a record that is not text.
pub(crate) fn for_each_record(data: &[u8], mut f: impl FnMut(usize, Result<&str, std::str::Utf8Error>)) {
    let mut line = 1;
    let mut start = 0;
    let mut quotes = 0usize;
    for (i, &c) in data.iter().enumerate() {
        match c {
            b'"' => quotes += 1,
            b'\n' if quotes.is_multiple_of(2) => {
                let lines_in = data[start..i].iter().filter(|&&c| c == b'\n').count();
                f(line, std::str::from_utf8(&data[start..=i]));
                line += lines_in + 1;
                start = i + 1;
                quotes = 0;
            }
            _ => {}
        }
    }
    if start < data.len() {
        f(line, std::str::from_utf8(&data[start..]));
    }
}

/// A time cell: RFC 3339, or a unix time in `precision` (fractions allowed).
fn parse_time(text: &str, precision: Precision) -> Option<i64> {
    let text = text.trim();
    if text.contains('T') || text.contains('t') {
        return foresight_units::parse_rfc3339(text);
    }
    crate::lineproto::unix_to_millis(text, precision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(record: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        split_record(record, &mut out)?;
        Ok(out.into_iter().map(|f| f.into_owned()).collect())
    }

    #[test]
    fn records() {
        assert_eq!(split("a,,\"b,c\",\"d\"\"e\"\r\n").unwrap(), ["a", "", "b,c", "d\"e"]);
        assert_eq!(split("\"x\ny\",1\n").unwrap(), ["x\ny", "1"]);
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split("\"a").unwrap_err(), "unterminated quoted field at column 1");
        assert_eq!(
            split("\"a\"b").unwrap_err(),
            "expected ',' after the quoted field at column 4"
        );
        assert_eq!(
            split("a,b\"c").unwrap_err(),
            "quote inside an unquoted field at column 3"
        );
    }

    #[test]
    fn tables_keep_the_preamble_in_force() {
        let mut t = Tables::new(true);
        let kinds: Vec<Kind> = [
            "#group,false\n",
            "#datatype,string\n",
            ",a\n",
            ",1\n",
            "\n",
            ",b\n",
            ",2\n",
        ]
        .iter()
        .map(|r| t.feed(r.as_bytes()))
        .collect();
        use Kind::*;
        assert_eq!(kinds, [Annotation, Annotation, Header, Data, Blank, Header, Data]);
        assert_eq!(t.preamble, b",b\n");
        // Plain CSV: one header; blank and `#` rows are skipped.
        let mut t = Tables::new(false);
        let kinds: Vec<Kind> = ["time,v\n", "1,2\n", "\n", "# x\n", "3,4\n"]
            .iter()
            .map(|r| t.feed(r.as_bytes()))
            .collect();
        assert_eq!(kinds, [Header, Data, Blank, Annotation, Data]);
        assert_eq!(t.preamble, b"time,v\n");
    }
}
