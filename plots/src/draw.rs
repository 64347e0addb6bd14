//! Turning prepared data into plotters drawing calls on either backend.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::data::{self, Steps};
use crate::{PlotError, TimeChart};

pub(crate) const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Tableau 10: distinct, colour-blind friendlier than plotters' palette.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Registers the embedded font once; with ab_glyph any text drawing
/// panics without a registered font.
pub(crate) fn ensure_font() -> Result<(), PlotError> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, FONT_BYTES)
                .map_err(|_| "embedded DejaVuSans.ttf is not a valid font".to_string())
        })
        .clone()
        .map_err(PlotError)
}

/// A drawable layer: a step path in data coordinates.
pub(crate) struct Layer {
    name: String,
    color: RGBColor,
    path: Steps,
}

pub(crate) struct PreparedPanel {
    y_top: f64,
    stacked: bool,
    /// In drawing order (stacks: top layer first, so lower ones paint over).
    layers: Vec<Layer>,
}

pub(crate) struct Prepared {
    x: (f64, f64),
    panels: Vec<PreparedPanel>,
}

/// Cleans, stacks and downsamples every panel; all plotters-independent.
pub(crate) fn prepare(chart: &TimeChart, width: u32) -> Result<Prepared, String> {
    let cleaned: Vec<Vec<Steps>> =
        chart.panels.iter().map(|p| p.series.iter().map(|s| data::clean(&s.points)).collect()).collect();
    let xs = cleaned.iter().flatten().flatten().map(|p| p.0);
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    let (lo, hi) = data::normalize_range(lo, hi)?;
    // One bucket per pixel column is as much detail as can be shown.
    let buckets = (width as usize).clamp(1, data::DOWNSAMPLE_THRESHOLD);

    let mut panels = Vec::with_capacity(chart.panels.len());
    for (panel, series) in chart.panels.iter().zip(cleaned) {
        let color = |k: usize| PALETTE[k % PALETTE.len()];
        let (peak, layers): (f64, Vec<(usize, Steps)>) = if panel.stacked {
            let peak = data::stacked_peak(&series);
            let total: usize = series.iter().map(Vec::len).sum();
            let series = if total > data::DOWNSAMPLE_THRESHOLD {
                // A common grid keeps stacking cheap and exact w.r.t. averaging.
                series.iter().map(|s| data::bucket_average(s, lo, hi, buckets, true)).collect()
            } else {
                series
            };
            let mut cum: Vec<_> = data::stack_steps(&series).into_iter().enumerate().collect();
            cum.reverse();
            (peak, cum)
        } else {
            let peak = series.iter().map(|s| data::peak(s)).fold(0f64, f64::max);
            let layers = series
                .into_iter()
                .map(|s| {
                    if s.len() > data::DOWNSAMPLE_THRESHOLD {
                        data::bucket_average(&s, lo, hi, buckets, false)
                    } else {
                        s
                    }
                })
                .enumerate()
                .collect();
            (peak, layers)
        };
        let y_top = match panel.y_max {
            Some(m) => data::check_top(m)?,
            None => data::auto_top(peak)?,
        };
        let layers = layers
            .into_iter()
            .map(|(k, pts)| Layer {
                name: panel.series[k].name.clone(),
                color: color(k),
                path: data::step_path(&pts, hi, y_top),
            })
            .collect();
        panels.push(PreparedPanel { y_top, stacked: panel.stacked, layers });
    }
    Ok(Prepared { x: (lo, hi), panels })
}

#[cfg(test)]
impl Prepared {
    /// Longest vertex list handed to plotters.
    pub(crate) fn max_path_len(&self) -> usize {
        let layers = self.panels.iter().flat_map(|p| &p.layers);
        layers.map(|l| l.path.len()).max().unwrap_or(0)
    }
}

pub(crate) fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

/// Opaque pastel of `c`, so stacked layers painted over each other stay
/// readable without alpha blending.
fn lighten(c: RGBColor) -> RGBColor {
    let l = |v: u8| ((u16::from(v) * 3 + 255 * 2) / 5) as u8;
    RGBColor(l(c.0), l(c.1), l(c.2))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &TimeChart,
    prep: &Prepared,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let body =
        if chart.title.is_empty() { root.clone() } else { root.titled(&chart.title, (FONT, 20)).map_err(err)? };
    let n = prep.panels.len();
    if n == 0 {
        return root.present().map_err(err);
    }
    let (x_lo, x_hi) = prep.x;
    for (i, (area, pp)) in body.split_evenly((n, 1)).iter().zip(&prep.panels).enumerate() {
        let last = i + 1 == n;
        let x_area = if last && !chart.x_label.is_empty() { 40 } else { 22 };
        let mut cc = ChartBuilder::on(area)
            .margin(8)
            .x_label_area_size(x_area)
            .y_label_area_size(64)
            .build_cartesian_2d(x_lo..x_hi, 0.0..pp.y_top)
            .map_err(err)?;
        let mut mesh = cc.configure_mesh();
        mesh.light_line_style(RGBColor(238, 238, 238))
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .y_desc(chart.panels[i].y_label.as_str());
        if last {
            mesh.x_desc(chart.x_label.as_str());
        }
        mesh.draw().map_err(err)?;

        for layer in &pp.layers {
            let color = layer.color;
            let path = &layer.path;
            let line = (!path.is_empty()).then(|| PathElement::new(path.clone(), color));
            if pp.stacked {
                let fill = lighten(color);
                // Close the step outline down to the zero baseline.
                let poly = match (path.first(), path.last()) {
                    (Some(&(x0, _)), Some(&(x1, _))) => {
                        let mut v = path.clone();
                        v.extend([(x1, 0.0), (x0, 0.0)]);
                        Some(Polygon::new(v, fill.filled()))
                    }
                    _ => None,
                };
                cc.draw_series(poly)
                    .map_err(err)?
                    .label(layer.name.as_str())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], fill.filled()));
                cc.draw_series(line).map_err(err)?;
            } else {
                cc.draw_series(line)
                    .map_err(err)?
                    .label(layer.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
            }
        }
        if !pp.layers.is_empty() {
            cc.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.5))
                .label_font((FONT, 12))
                .draw()
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

pub(crate) fn png(chart: &TimeChart, prep: &Prepared, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    png_of(width, height, |area| draw(area, chart, prep))
}

pub(crate) fn svg(chart: &TimeChart, prep: &Prepared, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    svg_of(width, height, |area| draw(area, chart, prep))
}

/// PNG bytes of what `paint` draws on a white-backed bitmap.
pub(crate) fn png_of(
    width: u32,
    height: u32,
    paint: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<Vec<u8>, PlotError> {
    use image::ImageEncoder;
    // Sides are capped by the callers, so this cannot overflow.
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    {
        let backend = BitMapBackend::with_buffer(&mut buf, (width, height));
        paint(&backend.into_drawing_area())?;
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&buf, width, height, image::ColorType::Rgb8)
        .map_err(err)?;
    Ok(out)
}

/// SVG text of what `paint` draws.
pub(crate) fn svg_of(
    width: u32,
    height: u32,
    paint: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<Vec<u8>, PlotError> {
    let mut s = String::new();
    {
        let backend = SVGBackend::with_string(&mut s, (width, height));
        paint(&backend.into_drawing_area())?;
    }
    Ok(s.into_bytes())
}
