//! Bar charts drawn on the server as SVG (no chart library in the browser, nothing for the
//! CSP to allow): groups along the x axis (weeks, days), one bar per series in each group,
//! a value scale with round ticks, a legend, and a `<title>` on each bar for its number.
//! The geometry is computed here; `ui/bar_chart.svg` only places it, escaped.

use askama::Template;

/// A grouped bar chart. `series` names the bars of each group, in order; every group has
/// one value per series.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// What the chart shows, for screen readers (`aria-label`).
    pub title: String,
    pub series: Vec<&'static str>,
    pub groups: Vec<(String, Vec<i64>)>,
}

const WIDTH: i64 = 640;
const HEIGHT: i64 = 220;
const LEFT: i64 = 40;
const BOTTOM: i64 = 28;
const TOP: i64 = 12;

/// A bar in SVG coordinates.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub series: usize,
    pub tooltip: String,
}

/// A horizontal grid line with its value.
#[derive(Debug, Clone)]
pub struct Tick {
    pub y: i64,
    pub label: String,
}

/// A series' key under the chart.
#[derive(Debug, Clone)]
pub struct LegendEntry {
    pub x: i64,
    pub series: usize,
    pub name: &'static str,
}

/// A group's label under the axis.
#[derive(Debug, Clone)]
pub struct GroupLabel {
    pub x: i64,
    pub text: String,
}

#[derive(Template)]
#[template(path = "ui/bar_chart.svg")]
struct ChartSvg<'a> {
    title: &'a str,
    width: i64,
    height: i64,
    left: i64,
    baseline: i64,
    bars: Vec<Bar>,
    ticks: Vec<Tick>,
    labels: Vec<GroupLabel>,
    legend: Vec<LegendEntry>,
}

impl BarChart {
    /// The chart as an SVG element, ready to place in a page (`{{ chart|safe }}`: every
    /// text in it was escaped by its template).
    pub fn to_svg(&self) -> String {
        let top = self.scale_top();
        let baseline = HEIGHT - BOTTOM;
        let plot_height = baseline - TOP;
        let group_width = (WIDTH - LEFT) / (self.groups.len().max(1) as i64);
        let series = self.series.len().max(1) as i64;
        let bar_width = ((group_width - 8) / series).max(2);
        let mut bars = Vec::new();
        let mut labels = Vec::new();
        for (index, (label, values)) in self.groups.iter().enumerate() {
            let group_x = LEFT + index as i64 * group_width;
            labels.push(GroupLabel {
                x: group_x + group_width / 2,
                text: label.clone(),
            });
            for (serie, value) in values.iter().enumerate() {
                let height = value.max(&0) * plot_height / top;
                bars.push(Bar {
                    x: group_x + 4 + serie as i64 * bar_width,
                    y: baseline - height,
                    width: bar_width - 1,
                    height,
                    series: serie,
                    tooltip: format!(
                        "{label}: {value} {}",
                        self.series.get(serie).copied().unwrap_or_default()
                    ),
                });
            }
        }
        let ticks = (0..=4)
            .map(|step| Tick {
                y: baseline - step * plot_height / 4,
                label: (top * step / 4).to_string(),
            })
            .collect();
        ChartSvg {
            title: &self.title,
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            baseline,
            bars,
            ticks,
            labels,
            legend: self
                .series
                .iter()
                .enumerate()
                .map(|(series, name)| LegendEntry {
                    x: LEFT + series as i64 * 140,
                    series,
                    name,
                })
                .collect(),
        }
        .render()
        .unwrap_or_default()
    }

    /// The top of the value scale: the largest value rounded up to a multiple of 4 (so
    /// the four grid steps are whole numbers), at least 4.
    fn scale_top(&self) -> i64 {
        let max = self
            .groups
            .iter()
            .flat_map(|(_, values)| values.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        (max + 3) / 4 * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> BarChart {
        BarChart {
            title: "Signups <and> cancellations".into(),
            series: vec!["signups", "cancellations"],
            groups: vec![("W1".into(), vec![8, 2]), ("W2".into(), vec![4, 0])],
        }
    }

    #[test]
    fn bars_are_in_proportion_to_their_values() {
        let svg = chart().to_svg();
        assert!(svg.starts_with("<svg"));
        // The scale tops out at 8: the 8 fills the plot, the 4 half of it.
        let full = HEIGHT - BOTTOM - TOP;
        assert!(svg.contains(&format!("height=\"{full}\"")), "{svg}");
        assert!(svg.contains(&format!("height=\"{}\"", full / 2)), "{svg}");
    }

    #[test]
    fn text_in_the_chart_is_escaped() {
        let svg = chart().to_svg();
        assert!(svg.contains("Signups &#60;and&#62; cancellations") || svg.contains("&lt;and&gt;"));
        assert!(!svg.contains("<and>"));
    }

    #[test]
    fn an_empty_chart_still_draws_its_axes() {
        let empty = BarChart {
            title: "nothing".into(),
            series: vec!["a"],
            groups: Vec::new(),
        };
        assert!(empty.to_svg().contains("<line"));
    }
}
