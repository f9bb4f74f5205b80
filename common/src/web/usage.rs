//! Usage against a limit, drawn as a bar: "7 of 10 users". The bar is SVG (no inline
//! style, which the Content-Security-Policy forbids) with the numbers in text beside it.

/// One measured quantity and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBar {
    pub label: String,
    pub used: i64,
    /// `None`: unlimited.
    pub limit: Option<i64>,
    /// How numbers are shown: `count` or `bytes`.
    pub unit: Unit,
}

/// How a usage number reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
}

impl UsageBar {
    pub fn new(label: impl Into<String>, used: i64, limit: Option<i64>, unit: Unit) -> Self {
        Self {
            label: label.into(),
            used,
            limit,
            unit,
        }
    }

    /// Width of the filled part, 0 to 100 (an unlimited quantity shows an empty bar).
    pub fn percent(&self) -> i64 {
        match self.limit {
            Some(limit) if limit > 0 => (self.used.max(0) * 100 / limit).clamp(0, 100),
            Some(_) => 100,
            None => 0,
        }
    }

    /// `ok`, `warn` (80 % or more) or `over` (at or past the limit): the bar's colour.
    pub fn level(&self) -> &'static str {
        match self.limit {
            Some(limit) if self.used >= limit => "over",
            Some(limit) if self.used * 5 >= limit * 4 => "warn",
            _ => "ok",
        }
    }

    /// "7 of 10", "1.2 MiB of 500 MiB", "42 (no limit)".
    pub fn text(&self) -> String {
        let used = self.format(self.used);
        match self.limit {
            Some(limit) => format!("{used} of {}", self.format(limit)),
            None => format!("{used} (no limit)"),
        }
    }

    fn format(&self, value: i64) -> String {
        match self.unit {
            Unit::Count => thousands(value),
            Unit::Bytes => bytes(value),
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// Bytes in binary units, one decimal: `1.5 MiB`.
pub fn bytes(value: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut amount = value as f64;
    let mut unit = 0;
    while amount.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        amount /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{amount:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion_and_stops_at_full() {
        let bar = UsageBar::new("Users", 7, Some(10), Unit::Count);
        assert_eq!((bar.percent(), bar.level()), (70, "ok"));
        let near = UsageBar::new("Users", 8, Some(10), Unit::Count);
        assert_eq!(near.level(), "warn");
        let over = UsageBar::new("Users", 12, Some(10), Unit::Count);
        assert_eq!((over.percent(), over.level()), (100, "over"));
    }

    #[test]
    fn unlimited_quantities_say_so() {
        let bar = UsageBar::new("API calls", 1234, None, Unit::Count);
        assert_eq!(bar.text(), "1,234 (no limit)");
        assert_eq!(bar.percent(), 0);
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(500 * 1024 * 1024), "500.0 MiB");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(thousands(12), "12");
    }
}
