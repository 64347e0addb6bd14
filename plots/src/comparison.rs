//! Predicted against measured (`simgpu validate report --plot`): on the left every value as a
//! point on log-log axes with the identity line (on it: predicted as measured), on the right each
//! value's relative error as a bar, in the order given; colours by group (experiment).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::draw::{err, FONT, PALETTE};
use crate::{Format, PlotError};

#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonPoint {
    /// Colour and legend entry (e.g. the experiment).
    pub group: String,
    pub measured: f64,
    pub predicted: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    pub title: String,
    /// What the values are (the axis unit), e.g. "value (us or 1/s)".
    pub unit: String,
    pub points: Vec<ComparisonPoint>,
}

/// Renders in memory; errors (never panics) on bad sizes or when no point is positive and finite.
pub fn render_comparison(c: &Comparison, format: Format, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    crate::check_sides(width, height)?;
    crate::draw::ensure_font()?;
    let ok = |x: f64| x.is_finite() && x > 0.0;
    let pts: Vec<&ComparisonPoint> = c.points.iter().filter(|p| ok(p.measured) && ok(p.predicted)).collect();
    if pts.is_empty() {
        return Err(PlotError("no point with a positive, finite measured and predicted value".into()));
    }
    let mut groups: Vec<&str> = Vec::new();
    for p in &pts {
        if !groups.contains(&p.group.as_str()) {
            groups.push(&p.group);
        }
    }
    let color = |g: &str| PALETTE[groups.iter().position(|x| *x == g).unwrap_or(0) % PALETTE.len()];
    crate::guarded(|| match format {
        Format::Png => crate::draw::png_of(width, height, |root| draw(root, c, &pts, &groups, &color)),
        Format::Svg => crate::draw::svg_of(width, height, |root| draw(root, c, &pts, &groups, &color)),
    })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Comparison,
    pts: &[&ComparisonPoint],
    groups: &[&str],
    color: &dyn Fn(&str) -> RGBColor,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let body = if c.title.is_empty() { root.clone() } else { root.titled(&c.title, (FONT, 20)).map_err(err)? };
    let (left, right) = body.split_horizontally(body.dim_in_pixel().0 / 2);
    // Both axes over the same decades, so the identity line is the diagonal.
    let all = pts.iter().flat_map(|p| [p.measured, p.predicted]);
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(x), h.max(x)));
    let (lo, hi) = (lo / 2.0, hi * 2.0);
    let mut cc = ChartBuilder::on(&left)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())
        .map_err(err)?;
    cc.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .x_desc(format!("measured, {}", c.unit))
        .y_desc(format!("predicted, {}", c.unit))
        .draw()
        .map_err(err)?;
    cc.draw_series(std::iter::once(PathElement::new(vec![(lo, lo), (hi, hi)], BLACK.mix(0.6))))
        .map_err(err)?
        .label("predicted = measured")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.mix(0.6)));
    for &g in groups {
        let col = color(g);
        let of = pts.iter().filter(|p| p.group == g);
        cc.draw_series(of.map(|p| Circle::new((p.measured, p.predicted), 4, col.filled())))
            .map_err(err)?
            .label(g)
            .legend(move |(x, y)| Circle::new((x + 7, y), 4, col.filled()));
    }
    cc.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font((FONT, 12))
        .draw()
        .map_err(err)?;

    let errs: Vec<f64> = pts.iter().map(|p| (p.predicted - p.measured) / p.measured * 100.0).collect();
    let top = errs.iter().fold(10.0f64, |m, e| m.max(e.abs())) * 1.1;
    let n = pts.len() as f64;
    let mut bc = ChartBuilder::on(&right)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n - 0.5, -top..top)
        .map_err(err)?;
    bc.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .x_desc("value (cases in report order)")
        .y_desc("error of the prediction, %")
        .draw()
        .map_err(err)?;
    bc.draw_series(pts.iter().zip(&errs).enumerate().map(|(i, (p, &e))| {
        let x = i as f64;
        Rectangle::new([(x - 0.4, 0.0), (x + 0.4, e)], color(&p.group).filled())
    }))
    .map_err(err)?;
    bc.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (n - 0.5, 0.0)], BLACK))).map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(g: &str, m: f64, p: f64) -> ComparisonPoint {
        ComparisonPoint { group: g.into(), measured: m, predicted: p }
    }

    #[test]
    fn draws_png_and_svg_and_refuses_nothing_to_draw() {
        let c = Comparison {
            title: "t".into(),
            unit: "us".into(),
            points: vec![point("a", 10.0, 12.0), point("b", 1e6, 0.9e6), point("a", 3.0, f64::NAN)],
        };
        let png = render_comparison(&c, Format::Png, 800, 400).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let svg = String::from_utf8(render_comparison(&c, Format::Svg, 800, 400).unwrap()).unwrap();
        assert!(svg.contains("predicted = measured"));
        let empty = Comparison { points: vec![point("a", 0.0, 1.0)], ..c };
        assert!(render_comparison(&empty, Format::Png, 800, 400).is_err());
        assert!(render_comparison(&Comparison::default(), Format::Png, 10, 400).is_err());
    }
}
