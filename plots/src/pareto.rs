//! Cost against what a fleet serves (`simgpu plan --plot`): each fleet a point, its cost per
//! hour across and the least share of its demand any workload gets up; filled where it meets
//! every demand and SLO, hollow where not; the line at 100% is the demand, and the step line joins
//! the Pareto front (no fleet serves more for less).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::draw::{err, FONT, PALETTE};
use crate::{Format, PlotError};

#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    /// Colour and legend entry (the GPU type).
    pub group: String,
    pub cost: f64,
    /// The least share of its demand any workload gets, percent.
    pub served: f64,
    pub feasible: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pareto {
    pub title: String,
    pub points: Vec<ParetoPoint>,
}

/// The front: points no other point beats on both cost (lower) and share served (higher), by cost.
pub fn front(points: &[ParetoPoint]) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = points.iter().map(|p| (p.cost, p.served)).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for p in pts {
        if out.last().is_none_or(|l| p.1 > l.1) {
            out.push(p);
        }
    }
    out
}

/// Renders in memory; errors (never panics) on bad sizes or when no point is finite.
pub fn render_pareto(c: &Pareto, format: Format, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    crate::check_sides(width, height)?;
    crate::draw::ensure_font()?;
    // Shares past 400% are drawn at 400%.
    let pts: Vec<ParetoPoint> = c
        .points
        .iter()
        .filter(|p| p.cost.is_finite() && p.cost > 0.0 && p.served.is_finite())
        .map(|p| ParetoPoint { served: p.served.clamp(0.0, 400.0), ..p.clone() })
        .collect();
    if pts.is_empty() {
        return Err(PlotError("no fleet with a finite cost and share served".into()));
    }
    let mut groups: Vec<String> = Vec::new();
    for p in &pts {
        if !groups.contains(&p.group) {
            groups.push(p.group.clone());
        }
    }
    crate::guarded(|| match format {
        Format::Png => crate::draw::png_of(width, height, |root| draw(root, c, &pts, &groups)),
        Format::Svg => crate::draw::svg_of(width, height, |root| draw(root, c, &pts, &groups)),
    })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Pareto,
    pts: &[ParetoPoint],
    groups: &[String],
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let body = if c.title.is_empty() { root.clone() } else { root.titled(&c.title, (FONT, 20)).map_err(err)? };
    let xmax = pts.iter().fold(0.0f64, |m, p| m.max(p.cost)) * 1.08;
    let ymax = pts.iter().fold(110.0f64, |m, p| m.max(p.served)) * 1.05;
    let mut cc = ChartBuilder::on(&body)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)
        .map_err(err)?;
    cc.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .x_desc("cost, $ per hour")
        .y_desc("least share of demand served, %")
        .draw()
        .map_err(err)?;
    cc.draw_series(std::iter::once(PathElement::new(vec![(0.0, 100.0), (xmax, 100.0)], BLACK.mix(0.5))))
        .map_err(err)?
        .label("demand")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.mix(0.5)));
    for (gi, g) in groups.iter().enumerate() {
        let col = PALETTE[gi % PALETTE.len()];
        let of: Vec<&ParetoPoint> = pts.iter().filter(|p| &p.group == g).collect();
        cc.draw_series(of.iter().map(|p| {
            let style = if p.feasible { col.filled() } else { col.stroke_width(1) };
            Circle::new((p.cost, p.served), 4, style)
        }))
        .map_err(err)?
        .label(g.as_str())
        .legend(move |(x, y)| Circle::new((x + 7, y), 4, col.filled()));
    }
    let f = front(pts);
    let mut steps = Vec::new();
    for (i, &(x, y)) in f.iter().enumerate() {
        if i > 0 {
            steps.push((x, f[i - 1].1));
        }
        steps.push((x, y));
    }
    cc.draw_series(std::iter::once(PathElement::new(steps, BLACK.stroke_width(2))))
        .map_err(err)?
        .label("Pareto front")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(2)));
    cc.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font((FONT, 12))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(cost: f64, served: f64) -> ParetoPoint {
        ParetoPoint { group: "g".into(), cost, served, feasible: served >= 100.0 }
    }

    #[test]
    fn front_keeps_what_nothing_beats() {
        let pts = [p(3.0, 120.0), p(1.0, 50.0), p(2.0, 40.0), p(2.0, 130.0), p(4.0, 110.0)];
        assert_eq!(front(&pts), vec![(1.0, 50.0), (2.0, 130.0)]);
        let png = render_pareto(&Pareto { title: "t".into(), points: pts.to_vec() }, Format::Png, 400, 300).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(render_pareto(&Pareto::default(), Format::Svg, 400, 300).is_err());
    }
}
