//! Decoding what async-stripe sends: `serde_qs` bodies and query strings such as
//! `line_items[0][price]=price_1&metadata[tenant_id]=t1`, read back as decoded pairs.

use serde_json::{Map, Value};

/// Decoded `key=value` pairs, in the order they came (keys keep their brackets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Percent-decodes an `application/x-www-form-urlencoded` string (body or query).
    pub fn parse(raw: &str) -> Form {
        Form(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// Every pair, decoded.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of `key` (e.g. `"line_items[0][price]"`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of `key` as a string JSON value, or `null` when absent.
    pub fn json(&self, key: &str) -> Value {
        self.get(key).map_or(Value::Null, Value::from)
    }

    /// `true` when `key` was sent as `true`.
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(|value| value == "true")
    }

    /// The first value of `key` parsed as an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|value| value.parse().ok())
    }

    /// The entries under `prefix`: `metadata` turns `metadata[a]=1&metadata[b]=2` into
    /// `{"a":"1","b":"2"}` (one level, as Stripe's string maps are).
    pub fn map(&self, prefix: &str) -> Map<String, Value> {
        let opening = format!("{prefix}[");
        self.0
            .iter()
            .filter_map(|(key, value)| {
                let inner = key.strip_prefix(&opening)?.strip_suffix(']')?;
                (!inner.contains('[')).then(|| (inner.to_owned(), Value::from(value.as_str())))
            })
            .collect()
    }

    /// The distinct indexes used under an array parameter: `items[0][id]`, `items[1][price]`
    /// give `[0, 1]`.
    pub fn indexes(&self, array: &str) -> Vec<usize> {
        let opening = format!("{array}[");
        let mut indexes: Vec<usize> = self
            .0
            .iter()
            .filter_map(|(key, _)| {
                let rest = key.strip_prefix(&opening)?;
                rest.split_once(']')?.0.parse().ok()
            })
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
    }
}

#[cfg(test)]
mod tests {
    use super::Form;
    use serde_json::json;

    #[test]
    fn nested_keys_are_decoded_with_their_brackets() {
        let form = Form::parse("line_items%5B0%5D%5Bprice%5D=price_1&metadata[tenant_id]=t+1");
        assert_eq!(form.get("line_items[0][price]"), Some("price_1"));
        assert_eq!(
            form.map("metadata"),
            json!({"tenant_id": "t 1"}).as_object().cloned().unwrap()
        );
    }

    #[test]
    fn a_map_ignores_deeper_and_other_keys() {
        let form = Form::parse("subscription_data[metadata][a]=1&metadata[b]=2&metadata=x");
        assert_eq!(form.map("subscription_data[metadata]").len(), 1);
        assert_eq!(form.map("metadata").get("b"), Some(&json!("2")));
    }

    #[test]
    fn indexes_are_distinct_and_sorted() {
        let form = Form::parse("items[1][price]=p&items[0][id]=si&items[0][price]=q");
        assert_eq!(form.indexes("items"), vec![0, 1]);
    }
}
