//! Clients that are the user's own commands (a serving benchmark, a torch loop), run side by side
//! under one sharing mode: the real-command half of `simgpu validate run`.
//!
//! The line protocol (docs/validate.md): simgpu starts each command in the experiment's
//! directory with `SIMGPU_CLIENT` (its client name) and `SIMGPU_SECONDS` (the measured window)
//! set, under MPS also the daemon's directories and the client's
//! `CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`. A command prints [`READY`] once warmed up, waits for
//! [`GO`] on stdin (sent to every client at once), measures for the window and prints, as its last
//! line, [`RESULT`] followed by a JSON object of metric values (`p50_us`, `throughput_per_s`, ...)
//! and `samples`. Everything else it prints is ignored. Commands die with simgpu (however it
//! ends) and the daemon is always stopped.

use crate::children::Worker;
use crate::error::HarnessError;
use crate::mps_daemon::MpsDaemon;
use crate::power_sampler::{average_power, Sample, Sampler};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const READY: &str = "simgpu ready";
pub const GO: &str = "go";
pub const RESULT: &str = "simgpu result ";

/// One client's command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandClient {
    pub name: String,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// MPS only: `CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`.
    pub mps_thread_percentage: Option<f64>,
}

/// What a client's command reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientResult {
    pub name: String,
    pub values: BTreeMap<String, f64>,
    pub samples: u64,
}

/// How long a command may take to say it is ready (model loads), and past its window to finish.
pub const READY_TIMEOUT: Duration = Duration::from_secs(300);
pub const FINISH_SLACK: Duration = Duration::from_secs(120);

/// Runs `clients` together: under an MPS daemon of their own when `mps`, else as plain processes
/// (time-sliced when there are several). Returns each client's result, in order.
///
/// With `gpu` (an NVML index), the GPU is sampled from `go` to the end of the window, and a
/// last result, named [`GPU_RESULT`], holds its mean power (`power_w`, from the energy counter)
/// and mean SM clock (`sm_clock_mhz`), with the samples taken.
pub fn run_together(
    clients: &[CommandClient],
    mps: bool,
    seconds: f64,
    gpu: Option<u32>,
) -> Result<Vec<ClientResult>, HarnessError> {
    let daemon = if mps { Some(MpsDaemon::start()?) } else { None };
    let mut workers = Vec::new();
    for c in clients {
        let mut env = daemon.as_ref().map(|d| d.client_env()).unwrap_or_default();
        env.push(("SIMGPU_CLIENT".into(), c.name.clone()));
        env.push(("SIMGPU_SECONDS".into(), seconds.to_string()));
        if let (true, Some(p)) = (mps, c.mps_thread_percentage) {
            env.push(("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE".into(), p.to_string()));
        }
        let mut w = Worker::spawn_program(&c.argv, &env, &c.cwd)?;
        // One at a time: a client's module loads would otherwise run beside another's warm-up.
        w.expect(READY, READY_TIMEOUT).map_err(|e| named(&c.name, e))?;
        workers.push(w);
    }
    let sampler = gpu.map(|i| Sampler::start(i, SAMPLE_PERIOD)).transpose()?;
    for (w, c) in workers.iter_mut().zip(clients) {
        w.send_line(GO).map_err(|e| named(&c.name, e))?;
    }
    let window = Duration::from_secs_f64(seconds) + FINISH_SLACK;
    let mut out = Vec::new();
    for (w, c) in workers.into_iter().zip(clients) {
        let line = w.finish(window).map_err(|e| named(&c.name, e))?;
        out.push(parse_result(&c.name, &line)?);
    }
    if let Some(s) = sampler {
        out.push(gpu_result(&s.finish()?, seconds)?);
    }
    drop(daemon);
    Ok(out)
}

/// The name of the GPU's own result (see [`run_together`]).
pub const GPU_RESULT: &str = "gpu";

/// NVML every 20 ms: the SM clock moves in steps of a few ms, power is read off the energy counter.
const SAMPLE_PERIOD: Duration = Duration::from_millis(20);

/// The GPU's mean power and SM clock over the measured window (samples past it left out: the
/// clients only finish there).
fn gpu_result(samples: &[Sample], seconds: f64) -> Result<ClientResult, HarnessError> {
    let window: Vec<Sample> = samples.iter().copied().filter(|s| s.t_s <= seconds).collect();
    let power = average_power(&window);
    let (Some(power), false) = (power, window.len() < 2) else {
        return Err(HarnessError::Nvml(format!("{} NVML samples in the {seconds} s window", window.len())));
    };
    let clock = window.iter().map(|s| s.sm_mhz).sum::<f64>() / window.len() as f64;
    let values = BTreeMap::from([("power_w".to_string(), power), ("sm_clock_mhz".to_string(), clock)]);
    Ok(ClientResult { name: GPU_RESULT.to_string(), values, samples: window.len() as u64 })
}

fn named(client: &str, e: HarnessError) -> HarnessError {
    HarnessError::Process(format!("client `{client}`: {e}"))
}

/// The result line of a client: `simgpu result {"samples": N, "<metric>": value, ...}`.
pub fn parse_result(client: &str, line: &str) -> Result<ClientResult, HarnessError> {
    let bad = |why: String| HarnessError::Process(format!("client `{client}`: last line {line:?}: {why}"));
    let json =
        line.trim().strip_prefix(RESULT.trim_end()).ok_or_else(|| bad(format!("does not start with `{RESULT}`")))?;
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(json.trim()).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let mut values = BTreeMap::new();
    let mut samples = None;
    for (k, v) in map {
        let x = v.as_f64().ok_or_else(|| bad(format!("`{k}` is not a number")))?;
        if k == "samples" {
            samples = Some(x as u64);
        } else {
            values.insert(k, x);
        }
    }
    let samples = samples.ok_or_else(|| bad("no `samples`".into()))?;
    Ok(ClientResult { name: client.to_string(), values, samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpu_result_averages_the_window_only() {
        let s = |t_s: f64, energy_mj: u64, sm_mhz: f64| Sample { t_s, power_w: 1.0, sm_mhz, energy_mj, throttle: 0 };
        // 300 J over the 1 s window at 1800 and 1600 MHz; a sample past the window (the clients
        // finishing, idle) is left out.
        let samples =
            [s(0.0, 1_000_000, 1800.0), s(0.5, 1_150_000, 1600.0), s(1.0, 1_300_000, 1600.0), s(1.4, 1_310_000, 345.0)];
        let r = gpu_result(&samples, 1.0).unwrap();
        assert_eq!(r.name, GPU_RESULT);
        assert!((r.values["power_w"] - 300.0).abs() < 1e-9, "{:?}", r.values);
        assert!((r.values["sm_clock_mhz"] - 5000.0 / 3.0).abs() < 1e-9, "{:?}", r.values);
        assert_eq!(r.samples, 3);
        let e = gpu_result(&samples[..1], 1.0).unwrap_err().to_string();
        assert!(e.contains("1 NVML samples"), "{e}");
    }

    #[test]
    fn result_lines_parse_and_bad_ones_say_why() {
        let r = parse_result("a", r#"simgpu result {"samples": 12, "p50_us": 3.5}"#).unwrap();
        assert_eq!((r.samples, r.values["p50_us"]), (12, 3.5));
        assert!(parse_result("a", "done").unwrap_err().to_string().contains("does not start with"));
        assert!(parse_result("a", r#"simgpu result {"p50_us": 3.5}"#).unwrap_err().to_string().contains("samples"));
        assert!(parse_result("a", r#"simgpu result {"samples": 1, "x": "y"}"#).is_err());
    }

    #[test]
    fn commands_run_together_without_mps() {
        let sh = |name: &str, value: &str| {
            CommandClient {
            name: name.into(),
            argv: [
                "sh",
                "-c",
                &format!("echo loading; echo 'simgpu ready'; read go; echo \"simgpu result {{\\\"samples\\\": 3, \\\"p50_us\\\": {value}, \\\"seconds\\\": $SIMGPU_SECONDS}}\""),
            ]
            .map(String::from)
            .to_vec(),
            cwd: PathBuf::from("."),
            mps_thread_percentage: None,
        }
        };
        let r = run_together(&[sh("a", "1.5"), sh("b", "2.5")], false, 0.5, None).unwrap();
        assert_eq!(r[0].values["p50_us"], 1.5);
        assert_eq!(r[1].values["p50_us"], 2.5);
        assert_eq!(r[1].values["seconds"], 0.5);
        // A command that never says ready is an error naming it.
        let mut quiet = sh("c", "1");
        quiet.argv = ["sh", "-c", "exit 3"].map(String::from).to_vec();
        let e = run_together(&[quiet], false, 0.1, None).unwrap_err();
        assert!(e.to_string().contains("client `c`"), "{e}");
    }
}
