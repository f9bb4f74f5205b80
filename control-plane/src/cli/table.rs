//! Human output: aligned tables of API items and `key: value` blocks. Columns pick fields
//! out of the API's JSON by path, so a field the API adds later changes nothing here and
//! one it drops shows as `-`.

use serde_json::Value;

/// A column: its header and the JSON path (`a.b`) of its value in each item.
pub type Column = (&'static str, &'static str);

/// An aligned table (two spaces between columns, no trailing spaces).
pub fn render(columns: &[Column], items: &[Value]) -> String {
    let mut rows = vec![
        columns
            .iter()
            .map(|(header, _)| (*header).to_owned())
            .collect(),
    ];
    rows.extend(items.iter().map(|item| {
        columns
            .iter()
            .map(|(_, path)| cell(lookup(item, path)))
            .collect::<Vec<_>>()
    }));
    align(&rows)
}

/// `key: value` lines, keys aligned, for one item.
pub fn fields(columns: &[Column], item: &Value) -> String {
    let width = columns
        .iter()
        .map(|(header, _)| header.len())
        .max()
        .unwrap_or(0);
    columns
        .iter()
        .map(|(header, path)| {
            let label = format!("{header}:");
            format!(
                "{label:<width$}  {}\n",
                cell(lookup(item, path)),
                width = width + 1
            )
        })
        .collect()
}

/// The value at a dotted `path` (`Null` when absent).
pub fn lookup<'a>(item: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(item, |value, key| &value[key])
}

/// A cell: text as is, nothing as `-`, lists joined with commas, the rest as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) if text.is_empty() => "-".to_owned(),
        Value::String(text) => text.replace(['\n', '\t'], " "),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, text) in row.iter().enumerate() {
            if column + 1 < columns {
                let pad = widths[column] - text.chars().count();
                line.push_str(text);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(text);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_table_aligns_columns_and_marks_missing_values() {
        let items = [
            json!({"slug": "acme", "status": "active", "server": {"name": "pg-1"}}),
            json!({"slug": "b", "status": "provisioning", "server": null}),
        ];
        let columns = [
            ("SLUG", "slug"),
            ("STATUS", "status"),
            ("SERVER", "server.name"),
        ];
        assert_eq!(
            render(&columns, &items),
            "SLUG  STATUS        SERVER\n\
             acme  active        pg-1\n\
             b     provisioning  -\n"
        );
    }

    #[test]
    fn an_empty_list_is_its_header() {
        assert_eq!(render(&[("ID", "id"), ("NAME", "name")], &[]), "ID  NAME\n");
    }

    #[test]
    fn fields_are_aligned_key_value_lines() {
        let item = json!({"id": 1, "steps": ["a", "b"], "note": "two\nlines"});
        let text = fields(&[("id", "id"), ("steps", "steps"), ("note", "note")], &item);
        assert_eq!(text, "id:     1\nsteps:  a,b\nnote:   two lines\n");
    }

    #[test]
    fn cells_show_text_bare_and_wide_characters_count_once() {
        assert_eq!(cell(&json!("Zoë")), "Zoë");
        assert_eq!(cell(&json!(true)), "true");
        assert_eq!(cell(&json!("")), "-");
        let table = render(&[("N", "n"), ("X", "x")], &[json!({"n": "Zoë", "x": 1})]);
        assert_eq!(table, "N    X\nZoë  1\n");
    }
}
