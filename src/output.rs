//! Human-readable output: the run table and the occupancy/power/clock chart.

use crate::plot_recorder::{PlotRecorder, Steps};
use simgpu_plots::{Panel, Series, TimeChart};
use simgpu_sim::report::Percentiles;
use simgpu_sim::Report;
use std::fmt::Write;

/// A percentile, or `-` where nothing was measured.
fn pct(p: &Option<Percentiles>, f: fn(&Percentiles) -> f64) -> String {
    p.as_ref().map_or_else(|| "-".to_string(), |p| format!("{:.1}", f(p)))
}

pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let p = &r.profile;
    let cal = match (&p.calibrated, &p.calibration_date) {
        (true, Some(d)) => format!("calibrated {d}"),
        (true, None) => "calibrated".to_string(),
        (false, _) => "datasheet, not calibrated".to_string(),
    };
    let _ = writeln!(s, "scenario {}  gpu {}  sharing {}  seed {}", r.scenario, r.gpu, r.sharing, r.seed);
    let _ = writeln!(s, "profile {} ({}, {})", p.name, p.origin, cal);
    let _ = writeln!(
        s,
        "simulated {:.6} s in {:.1} ms wall, {} events, {} power-controller ticks ({} fast-forwarded)",
        r.simulated_s, r.sim.wall_ms, r.sim.events, r.sim.controller_ticks, r.sim.ticks_fast_forwarded
    );
    let _ = writeln!(s);
    let w = r.clients.iter().map(|c| c.name.chars().count()).max().unwrap_or(0).max(16);
    let u = r.clients.iter().map(|c| c.unit.chars().count()).max().unwrap_or(0).max(10);
    let _ = writeln!(
        s,
        "{:<w$} {:>14} {:<u$} {:>9} {:>12} {:>12} {:>12} {:>7} {:>12}",
        "client", "throughput/s", "unit", "requests", "p50 us", "p90 us", "p99 us", "SM cap", "timing"
    );
    let kw = r.clients.iter().flat_map(|c| &c.kernels).map(|k| k.name.chars().count()).max().unwrap_or(0).max(24);
    let entry_w = r
        .clients
        .iter()
        .flat_map(|c| c.kernel_entries.iter().flatten())
        .map(|k| k.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    for c in &r.clients {
        let l = &c.latency_us;
        let _ = writeln!(
            s,
            "{:<w$} {:>14.3} {:<u$} {:>9} {:>12} {:>12} {:>12} {:>7} {:>12}",
            c.name,
            c.throughput_per_s,
            c.unit,
            c.requests_completed,
            pct(l, |p| p.p50),
            pct(l, |p| p.p90),
            pct(l, |p| p.p99),
            c.sm_cap,
            c.timing
        );
        if let Some(p) = &c.placement {
            let _ = writeln!(s, "  on {p}");
        }
        if let Some(sd) = &c.slowdown {
            let _ = writeln!(s, "  {}", slowdown_line(sd));
        }
        for k in &c.kernels {
            let _ = writeln!(
                s,
                "  kernel {:<kw$} entries {:>4}  launches {:>8}  mean {:>12.3} us  total {:>14.1} us  {:>5.1}% of GPU time",
                k.name,
                k.entries,
                k.launches,
                k.mean_us,
                k.total_us,
                k.share * 100.0
            );
        }
        for k in c.kernel_entries.iter().flatten() {
            let _ = writeln!(
                s,
                "    entry {:<entry_w$} launches {:>8}  done {:>8}  duration p50 {:>12} us  mean {:>12} us",
                k.name,
                k.launches,
                k.completed,
                pct(&k.duration_us, |p| p.p50),
                pct(&k.duration_us, |p| p.mean)
            );
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", gpu_line("GPU", &r.gpu_stats));
    for (i, g) in r.per_gpu.iter().enumerate() {
        let _ = writeln!(s, "{}", gpu_line(&format!("  gpu {i}"), g));
    }
    s
}

/// One GPU's (or the average's) power, clock, activity and switches.
fn gpu_line(label: &str, g: &simgpu_sim::report::GpuStats) -> String {
    format!(
        "{label}: power avg {:.0} W (max {:.0} W over a controller period), SM clock avg {:.0} MHz (min {:.0}{}), SMs busy {:.1}%, DRAM {:.0} GB/s, context switches {}{}",
        g.avg_power_w,
        g.max_power_w,
        g.avg_sm_clock_mhz,
        g.min_sm_clock_mhz,
        // Shown where the fast limiter held the SMs below the controller's clock.
        if g.avg_effective_sm_clock_mhz < g.avg_sm_clock_mhz - 0.5 {
            format!("; SMs ran at {:.0} under the fast power limit", g.avg_effective_sm_clock_mhz)
        } else {
            String::new()
        },
        g.sm_busy_fraction * 100.0,
        g.avg_dram_gbs,
        g.context_switches,
        if g.gpus > 1 { format!(" (average of {} GPUs)", g.gpus) } else { String::new() }
    )
}

/// One line: the loss against running alone and its causes, largest first (those under 0.05% of
/// the time left out; they are in the JSON).
pub(crate) fn slowdown_line(sd: &simgpu_sim::slowdown::Slowdown) -> String {
    let parts = sd.causes_line();
    format!(
        "slowdown {:.1}% against alone ({:.1} us per request against {:.1}; alone {:.3}/s){}{}",
        sd.loss * 100.0,
        sd.shared_us_per_request,
        sd.alone_us_per_request,
        sd.alone_throughput_per_s,
        if parts.is_empty() { "" } else { ": " },
        parts
    )
}

fn to_ms(s: &Steps, end: u64) -> Series {
    let mut v: Vec<(f64, f64)> = s.points.iter().map(|&(t, x)| (t as f64 / 1e6, x)).collect();
    if let Some(&(_, last)) = v.last() {
        v.push((end as f64 / 1e6, last));
    }
    Series { name: s.name.clone(), points: v }
}

pub fn chart(r: &Report, rec: &PlotRecorder) -> TimeChart {
    let occupancy = rec.clients.iter().map(|(_, s)| to_ms(s, rec.end)).collect();
    TimeChart {
        title: format!("{} on {} ({})", r.scenario, r.gpu, r.sharing),
        x_label: "time (ms)".into(),
        panels: vec![
            Panel {
                y_label: "SMs occupied".into(),
                stacked: true,
                y_max: Some(rec.total_sms as f64),
                series: occupancy,
            },
            Panel {
                y_label: "power (W, controller periods)".into(),
                stacked: false,
                y_max: None,
                series: rec.power.iter().map(|s| to_ms(s, rec.end)).collect(),
            },
            Panel {
                y_label: "SM clock (MHz)".into(),
                stacked: false,
                y_max: None,
                series: rec.clock.iter().map(|s| to_ms(s, rec.end)).collect(),
            },
        ],
    }
}
