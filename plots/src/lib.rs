//! simgpu's renderings: time charts of step-function series (occupancy
//! timelines), and predicted-against-measured comparisons (`comparison`), drawn
//! with plotters into in-memory PNG or SVG bytes.
//!
//! Series are step functions: a value holds from its point's x until the
//! next point's x, and the last value holds until the end of the shared x
//! range. Points with a non-finite coordinate are dropped; points are sorted
//! by x and, among equal x, the last one wins. Series longer than
//! [`DOWNSAMPLE_THRESHOLD`] points (or stacked panels whose series together
//! are) are drawn from a per-pixel-column time-weighted average, not a max.

mod comparison;
mod data;
mod draw;
mod pareto;

use std::path::Path;

pub use comparison::{render_comparison, Comparison, ComparisonPoint};
pub use data::DOWNSAMPLE_THRESHOLD;
pub use pareto::{front as pareto_front, render_pareto, Pareto, ParetoPoint};

/// Output format chosen from the file extension by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// `.png` / `.svg`, case-insensitive; anything else is `None`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("png") {
            Some(Format::Png)
        } else if ext.eq_ignore_ascii_case("svg") {
            Some(Format::Svg)
        } else {
            None
        }
    }
}

/// One line/area: a step function, value holds from points[i].0 until points[i+1].0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One horizontal panel with a shared x axis (time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    pub y_label: String,
    /// Draw the series as stacked areas (with a legend) instead of lines.
    pub stacked: bool,
    /// Fixed top of the y axis; default is 5% above the data (or stack) peak.
    pub y_max: Option<f64>,
    pub series: Vec<Series>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeChart {
    pub title: String,
    pub x_label: String,
    /// Stacked top to bottom, each with an equal share of the height.
    pub panels: Vec<Panel>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotError(pub String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plot error: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

/// Smallest and largest accepted image side, in pixels.
pub const MIN_SIDE: u32 = 64;
pub const MAX_SIDE: u32 = 16384;
/// Each panel needs this many pixels of height to fit its axes.
pub const MIN_PANEL_HEIGHT: u32 = 48;

/// Renders in memory (never writes files: the caller writes atomically) and returns the PNG or SVG bytes.
///
/// Errors (never panics) on sizes outside [`MIN_SIDE`]..=[`MAX_SIDE`] or
/// panels shorter than [`MIN_PANEL_HEIGHT`], on an invalid `y_max`
/// (non-finite or not positive), and on data too large for f64 axes.
pub fn render(chart: &TimeChart, format: Format, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    check_sides(width, height)?;
    let panels = chart.panels.len().max(1) as u64;
    if u64::from(height) / panels < u64::from(MIN_PANEL_HEIGHT) {
        return Err(PlotError(format!("height {height} too small for {panels} panels ({MIN_PANEL_HEIGHT} px each)")));
    }
    draw::ensure_font()?;
    let prepared = draw::prepare(chart, width).map_err(PlotError)?;
    guarded(|| match format {
        Format::Png => draw::png(chart, &prepared, width, height),
        Format::Svg => draw::svg(chart, &prepared, width, height),
    })
}

/// Backstop: plotters asserts internally; a bad chart must not take the simulator down with it.
pub(crate) fn guarded(f: impl FnOnce() -> Result<Vec<u8>, PlotError>) -> Result<Vec<u8>, PlotError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(PlotError("renderer panicked".into())))
}

/// Both sides within [`MIN_SIDE`]..=[`MAX_SIDE`].
pub(crate) fn check_sides(width: u32, height: u32) -> Result<(), PlotError> {
    for (what, side) in [("width", width), ("height", height)] {
        if !(MIN_SIDE..=MAX_SIDE).contains(&side) {
            return Err(PlotError(format!("{what} {side} outside {MIN_SIDE}..={MAX_SIDE}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
