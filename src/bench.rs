//! `simgpu bench`: times the bundled benchmark scenarios, and as a yardstick the same number of
//! push/pop operations on a bare binary heap of (time, sequence) keys.

use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

const BENCHES: &[(&str, &str, &str)] = &[
    ("seed000-mps-132", "scenarios/seed000/mps-132.toml", include_str!("../scenarios/seed000/mps-132.toml")),
    ("decode-mps", "scenarios/bench/decode-mps.toml", include_str!("../scenarios/bench/decode-mps.toml")),
];
const H100: &str = include_str!("../models/gpus/h100-sxm.toml");

#[derive(Serialize)]
struct Bench {
    name: String,
    events: u64,
    kernels: u64,
    wall_ms: f64,
    events_per_s: f64,
    simulated_s: f64,
    sim_to_wall: f64,
    heap_events_per_s: f64,
}

#[derive(Serialize)]
struct Benches {
    benchmarks: Vec<Bench>,
}

/// Pushes `n` pseudo-random (time, seq) keys, then pops them all; returns operations per second
/// counting a push and its pop as one event, as the simulator counts one popped event.
fn heap_rate(n: u64) -> (f64, u64) {
    let mut h = BinaryHeap::with_capacity(n as usize);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let start = Instant::now();
    for seq in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h.push(Reverse((x >> 24, seq)));
    }
    let mut check = 0u64;
    while let Some(Reverse((t, _))) = h.pop() {
        check = check.wrapping_add(t);
    }
    (n as f64 / start.elapsed().as_secs_f64(), check)
}

pub fn bench(json: bool, repeat: u32) -> Result<(), String> {
    let gpu = simgpu_sim::GpuProfile::from_toml("h100-sxm.toml", H100).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (name, file, text) in BENCHES {
        let scn = simgpu_sim::Scenario::parse(file, text).map_err(|e| e.to_string())?;
        let w = scn.bind(&gpu).map_err(|e| e.to_string())?;
        let mut best = f64::INFINITY;
        let mut report = None;
        for _ in 0..repeat {
            let start = Instant::now();
            let (r, _) = simgpu_sim::run(&w, false);
            best = best.min(start.elapsed().as_secs_f64());
            report = Some(r);
        }
        let r = report.ok_or("no repetition ran")?;
        let kernels: u64 = r.clients.iter().flat_map(|c| &c.kernels).map(|k| k.completed).sum();
        let mut heap = 0.0f64;
        for _ in 0..repeat {
            heap = heap.max(heap_rate(r.sim.events.max(1)).0);
        }
        out.push(Bench {
            name: name.to_string(),
            events: r.sim.events,
            kernels,
            wall_ms: best * 1e3,
            events_per_s: r.sim.events as f64 / best,
            simulated_s: r.simulated_s,
            sim_to_wall: r.simulated_s / best,
            heap_events_per_s: heap,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&Benches { benchmarks: out }).map_err(|e| e.to_string())?);
    } else {
        println!(
            "{:<18} {:>10} {:>9} {:>10} {:>14} {:>12} {:>12} {:>16}",
            "benchmark", "events", "kernels", "wall ms", "events/s", "simulated s", "sim/wall", "heap events/s"
        );
        for b in out {
            println!(
                "{:<18} {:>10} {:>9} {:>10.2} {:>14.0} {:>12.3} {:>12.1} {:>16.0}",
                b.name,
                b.events,
                b.kernels,
                b.wall_ms,
                b.events_per_s,
                b.simulated_s,
                b.sim_to_wall,
                b.heap_events_per_s
            );
        }
    }
    Ok(())
}
