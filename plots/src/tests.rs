use super::*;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
    Series { name: name.into(), points }
}

fn two_panel() -> TimeChart {
    TimeChart {
        title: "GPU 0 occupancy".into(),
        x_label: "time (s)".into(),
        panels: vec![
            Panel {
                y_label: "SMs".into(),
                stacked: true,
                y_max: Some(132.0),
                series: vec![
                    series("train-a", vec![(0.0, 40.0), (2.0, 80.0), (5.0, 0.0)]),
                    series("infer-b", vec![(1.0, 20.0), (3.0, 30.0), (6.0, 10.0)]),
                ],
            },
            Panel {
                y_label: "memory (GiB)".into(),
                stacked: false,
                y_max: None,
                series: vec![series("used", vec![(0.0, 10.0), (4.0, 30.0), (8.0, 5.0)])],
            },
        ],
    }
}

fn svg_text(chart: &TimeChart) -> String {
    String::from_utf8(render(chart, Format::Svg, 800, 600).expect("svg renders")).unwrap()
}

#[test]
fn format_from_path() {
    assert_eq!(Format::from_path(Path::new("a/b.png")), Some(Format::Png));
    assert_eq!(Format::from_path(Path::new("b.SVG")), Some(Format::Svg));
    assert_eq!(Format::from_path(Path::new("b.Png")), Some(Format::Png));
    assert_eq!(Format::from_path(Path::new("b.jpg")), None);
    assert_eq!(Format::from_path(Path::new("png")), None);
}

#[test]
fn two_panels_png() {
    let png = render(&two_panel(), Format::Png, 800, 600).expect("png renders");
    assert!(png.starts_with(PNG_MAGIC));
    assert!(png.len() > 1000);
}

#[test]
fn two_panels_svg_has_names() {
    let svg = svg_text(&two_panel());
    assert!(svg.contains("<svg"));
    for name in ["train-a", "infer-b", "used", "GPU 0 occupancy", "time (s)"] {
        assert!(svg.contains(name), "missing {name}");
    }
}

#[test]
fn empty_inputs_render() {
    let empty_series = TimeChart {
        title: String::new(),
        x_label: String::new(),
        panels: vec![
            Panel {
                y_label: "a".into(),
                stacked: true,
                y_max: None,
                series: vec![series("none", vec![]), series("nil", vec![])],
            },
            Panel { y_label: "b".into(), stacked: false, y_max: None, series: vec![series("none", vec![])] },
            Panel::default(),
        ],
    };
    for chart in [empty_series, TimeChart::default()] {
        assert!(render(&chart, Format::Png, 300, 200).unwrap().starts_with(PNG_MAGIC));
        assert!(svg_text(&chart).contains("<svg"));
    }
}

#[test]
fn non_finite_inputs_do_not_panic() {
    let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let mut chart = two_panel();
    for (i, v) in bad.into_iter().enumerate() {
        chart.panels[0].series[0].points.push((v, 1.0));
        chart.panels[1].series[0].points.push((i as f64, v));
    }
    chart.panels[1].series.push(series("all-nan", vec![(f64::NAN, f64::NAN)]));
    assert!(render(&chart, Format::Png, 400, 300).is_ok());
    assert!(svg_text(&chart).contains("all-nan"));

    // Invalid y_max and overflowing data are errors, not panics.
    for y_max in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
        let mut c = two_panel();
        c.panels[0].y_max = Some(y_max);
        assert!(render(&c, Format::Svg, 400, 300).is_err());
    }
    let mut c = two_panel();
    c.panels[1].series[0].points.push((9.0, f64::MAX));
    assert!(render(&c, Format::Png, 400, 300).is_err());
    let mut c = two_panel();
    c.panels[1].series[0].points = vec![(-f64::MAX, 1.0), (f64::MAX, 1.0)];
    assert!(render(&c, Format::Png, 400, 300).is_err());
}

#[test]
fn odd_shapes_do_not_panic() {
    let mut chart = two_panel();
    // Huge, tiny, negative and single-instant data; off-scale values.
    chart.panels.push(Panel {
        y_label: "x".into(),
        stacked: true,
        y_max: Some(1.0),
        series: vec![series("neg", vec![(5.0, -3.0)]), series("big", vec![(5.0, 1e300)])],
    });
    chart.panels.push(Panel {
        y_label: "tiny".into(),
        stacked: false,
        y_max: None,
        series: vec![series("t", vec![(0.0, 1e-310), (1.0, 5e-324)])],
    });
    for (w, h) in [(64, 256), (16384, 256), (100, 64 * 4)] {
        assert!(render(&chart, Format::Png, w, h).is_ok(), "{w}x{h}");
        assert!(render(&chart, Format::Svg, w, h).is_ok(), "{w}x{h}");
    }
    for (w, h) in [(0, 100), (100, 0), (63, 300), (20000, 300), (300, 100)] {
        assert!(render(&chart, Format::Png, w, h).is_err(), "{w}x{h}");
    }
    let single = TimeChart {
        panels: vec![Panel { series: vec![series("s", vec![(1e15, 2.0)])], ..Panel::default() }],
        ..TimeChart::default()
    };
    assert!(render(&single, Format::Png, 200, 100).is_ok());
    let huge_x = TimeChart {
        panels: vec![Panel {
            series: vec![series("s", vec![(1e300, 2.0), (1e300 * (1.0 + 1e-15), 3.0)])],
            ..Panel::default()
        }],
        ..TimeChart::default()
    };
    assert!(render(&huge_x, Format::Svg, 200, 100).is_ok());
}

#[test]
fn downsampling_keeps_output_bounded() {
    let n = 200_000;
    let wave = |k: usize| -> Vec<(f64, f64)> { (0..n).map(|i| (i as f64 * 0.01, ((i * k) % 17) as f64)).collect() };
    let chart = TimeChart {
        title: "big".into(),
        x_label: "t".into(),
        panels: vec![
            Panel {
                y_label: "stack".into(),
                stacked: true,
                y_max: None,
                series: vec![series("a", wave(3)), series("b", wave(5)), series("c", wave(7))],
            },
            Panel { y_label: "line".into(), stacked: false, y_max: None, series: vec![series("d", wave(11))] },
        ],
    };
    let prepared = draw::prepare(&chart, 1000).unwrap();
    assert!(prepared.max_path_len() <= 2 * 1000 + 1);

    let start = std::time::Instant::now();
    let svg = svg_text(&chart);
    let png = render(&chart, Format::Png, 1000, 600).unwrap();
    let took = start.elapsed();
    assert!(png.starts_with(PNG_MAGIC));
    // 4 paths of <= 2001 vertices plus axes: well under 1 MB, whereas the
    // raw data would be ~4 * 400k vertices.
    assert!(svg.len() < 1_000_000, "svg is {} bytes", svg.len());
    // Generous: debug builds on a loaded 2-core box.
    assert!(took.as_secs() < 20, "took {took:?}");
}
