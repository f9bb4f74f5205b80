//! CSV as the ERP's imports read it and its exports write it.
//!
//! - [`neutralize`] / [`restore`]: OWASP's rule against formula injection. A cell that
//!   starts with `=`, `+`, `-`, `@`, a tab or a carriage return (or with `'`, so the rule
//!   can be undone exactly) gets a leading `'`, and a spreadsheet shows it as text.
//!   Imports undo it, so importing an export changes nothing.
//! - [`encode`]: rows as CSV text, every cell neutralized.
//! - [`Records`]: an upload's header checked against the expected columns (any order;
//!   [`HeaderMismatch`] names the missing and unknown ones), then its rows with their line
//!   numbers as a spreadsheet shows them (the header is line 1).

use std::borrow::Cow;

/// What a spreadsheet would take for the start of a formula (and `'`, the escape itself).
const TRIGGERS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// `cell` as a spreadsheet will show it as text: with a leading `'` when it starts like a
/// formula (or with `'`).
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(TRIGGERS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The value [`neutralize`] was given: drops the `'` it added (and only that one).
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(TRIGGERS) => rest,
        _ => cell,
    }
}

/// `rows` as CSV text, every cell neutralized.
pub fn encode(rows: &[Vec<String>]) -> Result<Vec<u8>, ::csv::Error> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row.iter().map(|cell| neutralize(cell).into_owned()))?;
    }
    writer
        .into_inner()
        .map_err(|error| ::csv::Error::from(error.into_error()))
}

/// A header that does not hold exactly the expected columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMismatch {
    pub missing: Vec<String>,
    /// Columns not expected, or expected but given twice.
    pub unknown: Vec<String>,
}

/// One data row: its line and its cells in the order of the expected header, each already
/// [`restore`]d.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub cells: Vec<String>,
}

/// A row that cannot be read as one (bad CSV, the wrong number of cells, not UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub line: u64,
    pub message: String,
}

/// An uploaded CSV whose header has the expected columns.
pub struct Records<'a> {
    body: &'a [u8],
    lines: LineCounter,
    reader: ::csv::Reader<&'a [u8]>,
    /// For each expected column, its position in the file.
    positions: Vec<usize>,
    record: ::csv::ByteRecord,
}

impl<'a> Records<'a> {
    /// Reads the header of `body` (a leading byte-order mark is dropped): it must hold
    /// exactly the `expected` columns, in any order, each name trimmed.
    pub fn open(body: &'a [u8], expected: &[&str]) -> Result<Self, HeaderMismatch> {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(body);
        let header: Vec<String> = reader
            .byte_headers()
            .map(|header| {
                header
                    .iter()
                    .map(|name| String::from_utf8_lossy(name).trim().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            positions: positions(&header, expected)?,
            body,
            lines: LineCounter::default(),
            reader,
            record: ::csv::ByteRecord::new(),
        })
    }

    /// The next data row (or why the next one cannot be read), `None` at the end. Blank
    /// lines are skipped.
    pub fn next_record(&mut self) -> Option<Result<Record, Unreadable>> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.line_at(self.record.position().cloned());
                Some(self.record(line))
            }
            Err(error) => Some(Err(Unreadable {
                line: self.line_at(error.position().cloned()),
                message: format!("not readable as CSV: {error}"),
            })),
        }
    }

    fn line_at(&mut self, position: Option<::csv::Position>) -> u64 {
        position.map_or(0, |position| {
            let byte = usize::try_from(position.byte()).unwrap_or(usize::MAX);
            self.lines.line_at(self.body, byte)
        })
    }

    fn record(&self, line: u64) -> Result<Record, Unreadable> {
        let whole = |message: String| Unreadable { line, message };
        let width = self.positions.len();
        if self.record.len() != width {
            return Err(whole(format!(
                "has {} cells where the header has {width}",
                self.record.len()
            )));
        }
        let mut cells = Vec::with_capacity(width);
        for &position in &self.positions {
            let raw = self.record.get(position).unwrap_or_default();
            let text =
                std::str::from_utf8(raw).map_err(|_| whole("is not UTF-8 text".to_owned()))?;
            cells.push(restore(text).to_owned());
        }
        Ok(Record { line, cells })
    }
}

/// The line a byte offset is on, as a spreadsheet counts them: after every line break,
/// `\n`, `\r\n` or a lone `\r` (the csv crate counts only `\n`, so a file saved with
/// classic Mac line endings had every row on line 2: found by the `csv_import` fuzz
/// target). Breaks inside quoted cells count too, and so do blank lines before a row (the
/// csv crate put the row on the first of them). Offsets only grow, so it counts on from
/// where it stopped.
#[derive(Debug, Default)]
struct LineCounter {
    offset: usize,
    breaks: u64,
}

impl LineCounter {
    fn line_at(&mut self, body: &[u8], offset: usize) -> u64 {
        let mut offset = offset.min(body.len());
        // A record's position is where the reader stood, before the blank lines it skips.
        while offset < body.len() && matches!(body[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset < self.offset {
            *self = Self::default();
        }
        for index in self.offset..offset {
            let crlf_tail = body[index] == b'\n' && index > 0 && body[index - 1] == b'\r';
            if body[index] == b'\r' || (body[index] == b'\n' && !crlf_tail) {
                self.breaks += 1;
            }
        }
        self.offset = offset;
        self.breaks + 1
    }
}

/// Where each expected column sits in `header`, or what does not fit.
fn positions(header: &[String], expected: &[&str]) -> Result<Vec<usize>, HeaderMismatch> {
    let missing: Vec<String> = expected
        .iter()
        .filter(|column| !header.iter().any(|name| name == *column))
        .map(|column| (*column).to_owned())
        .collect();
    let mut seen: Vec<&String> = Vec::new();
    let mut unknown = Vec::new();
    for name in header {
        if !expected.contains(&name.as_str()) || seen.contains(&name) {
            unknown.push(name.clone());
        }
        seen.push(name);
    }
    if !missing.is_empty() || !unknown.is_empty() {
        return Err(HeaderMismatch { missing, unknown });
    }
    Ok(expected
        .iter()
        .filter_map(|column| header.iter().position(|name| name == column))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &[u8]) -> Vec<u64> {
        let mut records = Records::open(body, &["a"]).expect("header");
        std::iter::from_fn(|| records.next_record())
            .map(|next| next.map_or_else(|error| error.line, |record| record.line))
            .collect()
    }

    #[test]
    fn every_line_ending_starts_a_new_line() {
        assert_eq!(lines(b"a\rx\ry\r"), [2, 3]);
        assert_eq!(lines(b"a\r\nx\r\ny\r\n"), [2, 3]);
        assert_eq!(lines(b"a\nx\n\n\ny\n"), [2, 5]);
        assert_eq!(lines(b"a\n\"x\ry\"\rz\n"), [2, 4]);
    }

    #[test]
    fn an_exported_formula_reads_back_as_typed() {
        let body = encode(&[vec!["a".into()], vec!["=1+2".into()]]).expect("encoded");
        assert_eq!(body, b"a\n'=1+2\n");
        let mut records = Records::open(&body, &["a"]).expect("header");
        let record = records.next_record().expect("a row").expect("readable");
        assert_eq!(record.cells, ["=1+2"]);
    }
}
