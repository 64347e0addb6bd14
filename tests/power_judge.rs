//! Power and clock judged on a load the calibration did not use: the power probe's transformer
//! encoder step loop on the H200 (docs/power.md), simulated from its imported trace
//! (scenarios/power/encoder-loop-h200.toml) with the calibrated profile, against what NVML
//! recorded on the card (tests/data/power/h200-probe-2026-11-22.json.gz). Nothing is fitted to
//! it. The power error must stay within the fidelity issue's 10%; the clock and throughput errors
//! within the committed figures below (lower them when a change improves them).

use flate2::read::GzDecoder;
use serde_json::Value;
use simgpu_sim::{GpuProfile, Scenario};
use std::io::Read;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What the card did: (energy-counter watts, mean NVML SM clock in MHz, steps per second), over
/// the last two thirds of the load, as docs/power.md averages.
fn card(load: &str) -> (f64, f64, f64) {
    let mut text = String::new();
    let path = format!("{ROOT}/tests/data/power/h200-probe-2026-11-22.json.gz");
    GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let l = doc["loads"].as_array().unwrap().iter().find(|l| l["load"] == load).expect("load in the probe");
    let s = l["samples"].as_array().unwrap();
    let tail = &s[s.len() / 3..];
    let (a, b) = (&tail[0], &tail[tail.len() - 1]);
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let watts = (f(b, "energy_mj") - f(a, "energy_mj")) / (f(b, "t") - f(a, "t")) / 1000.0;
    let mhz = tail.iter().map(|x| f(x, "sm_mhz")).sum::<f64>() / tail.len() as f64;
    (watts, mhz, f(l, "steps") / f(l, "seconds"))
}

#[test]
fn encoder_loop_power_and_clock_against_the_card() {
    let gpu =
        GpuProfile::from_toml("h200", include_str!("../models/gpus/h200.calibrated.toml")).expect("profile parses");
    let text = std::fs::read_to_string(format!("{ROOT}/scenarios/power/encoder-loop-h200.toml")).unwrap();
    let w = Scenario::parse("encoder-loop-h200.toml", &text).unwrap().bind(&gpu).unwrap();
    let r = simgpu_sim::run(&w);
    let g = &r.gpu_stats;
    let steps = r.clients[0].throughput_per_s;
    let (watts, mhz, card_steps) = card("encoder_b64_s512_h1024");
    let err = |sim: f64, card: f64| sim / card - 1.0;
    let (e_w, e_mhz, e_steps) = (err(g.avg_power_w, watts), err(g.avg_sm_clock_mhz, mhz), err(steps, card_steps));
    println!(
        "encoder loop, H200: power {:.0} W (card {watts:.0}, {:+.1}%), NVML clock {:.0} MHz (card {mhz:.0}, {:+.1}%), \
         SMs at {:.0} MHz, {steps:.0} steps/s (card {card_steps:.0}, {:+.1}%)",
        g.avg_power_w,
        e_w * 100.0,
        g.avg_sm_clock_mhz,
        e_mhz * 100.0,
        g.avg_effective_sm_clock_mhz,
        e_steps * 100.0
    );
    // The goal for power; the clock (goal 5%) and throughput are not there yet: these
    // are the figures reached on 2026-12-03, rounded up, so that they only get better.
    assert!(e_w.abs() <= 0.10, "power {:+.1}% off the card", e_w * 100.0);
    assert!(e_mhz.abs() <= 0.19, "NVML clock {:+.1}% off the card", e_mhz * 100.0);
    assert!(e_steps.abs() <= 0.13, "throughput {:+.1}% off the card", e_steps * 100.0);
}
