//! Human-readable output: the run table and the occupancy/power/clock chart.

use simgpu_plots::{Panel, Series, TimeChart};
use simgpu_sim::trace::Recording;
use simgpu_sim::Report;
use std::fmt::Write;

pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario {}  gpu {}  sharing {}  seed {}", r.scenario, r.gpu, r.sharing, r.seed);
    let _ = writeln!(s, "simulated {:.6} s in {:.1} ms wall, {} events", r.simulated_s, r.sim.wall_ms, r.sim.events);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<16} {:>14} {:<10} {:>9} {:>12} {:>12} {:>12} {:>7} {:>12}",
        "client", "throughput/s", "unit", "requests", "p50 us", "p90 us", "p99 us", "SM cap", "timing"
    );
    for c in &r.clients {
        let _ = writeln!(
            s,
            "{:<16} {:>14.3} {:<10} {:>9} {:>12.1} {:>12.1} {:>12.1} {:>7} {:>12}",
            c.name,
            c.throughput_per_s,
            c.unit,
            c.requests_completed,
            c.latency_us.p50,
            c.latency_us.p90,
            c.latency_us.p99,
            c.sm_cap,
            c.timing
        );
        for k in &c.kernels {
            let _ = writeln!(
                s,
                "  kernel {:<24} launches {:>8}  done {:>8}  duration p50 {:>12.1} us  mean {:>12.1} us",
                k.name, k.launches, k.completed, k.duration_us.p50, k.duration_us.mean
            );
        }
    }
    let g = &r.gpu_stats;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "GPU: power avg {:.0} W (max {:.0} W), SM clock avg {:.0} MHz (min {:.0}), SMs busy {:.1}%, DRAM {:.0} GB/s, context switches {}{}",
        g.avg_power_w,
        g.max_power_w,
        g.avg_sm_clock_mhz,
        g.min_sm_clock_mhz,
        g.sm_busy_fraction * 100.0,
        g.avg_dram_gbs,
        g.context_switches,
        if g.gpus > 1 { format!(" (average of {} dedicated GPUs)", g.gpus) } else { String::new() }
    );
    s
}

fn to_ms(points: &[(u64, f64)], end: u64) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = points.iter().map(|&(t, x)| (t as f64 / 1e6, x)).collect();
    if let Some(&(_, last)) = v.last() {
        v.push((end as f64 / 1e6, last));
    }
    v
}

pub fn chart(r: &Report, rec: &Recording) -> TimeChart {
    let occupancy =
        rec.client_sms.iter().map(|s| Series { name: s.name.clone(), points: to_ms(&s.points, rec.end) }).collect();
    TimeChart {
        title: format!("{} on {} ({})", r.scenario, r.gpu, r.sharing),
        x_label: "time (ms)".into(),
        panels: vec![
            Panel { y_label: "SMs occupied".into(), stacked: true, y_max: Some(rec.n_sms as f64), series: occupancy },
            Panel {
                y_label: "power (W)".into(),
                stacked: false,
                y_max: None,
                series: vec![Series { name: "power".into(), points: to_ms(&rec.power_w.points, rec.end) }],
            },
            Panel {
                y_label: "SM clock (MHz)".into(),
                stacked: false,
                y_max: None,
                series: vec![Series { name: "clock".into(), points: to_ms(&rec.clock_mhz.points, rec.end) }],
            },
        ],
    }
}
