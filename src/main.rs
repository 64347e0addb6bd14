//! simgpu: predicts what happens when workloads share an NVIDIA GPU. This binary only parses
//! arguments and prints; the simulator is the `simgpu-sim` crate.

mod bench;
mod calibrate_cmd;
mod files;
mod output;
mod profiles;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "simgpu", version, about = "Discrete-event simulator of NVIDIA GPUs shared between workloads")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulate a scenario and report throughput, latency and GPU statistics.
    Run {
        /// Scenario TOML file.
        scenario: PathBuf,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Write a Chrome trace (JSON; open it in Perfetto).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Draw SM occupancy by client, power and clock over time (.png or .svg).
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
        /// Use this GPU profile file instead of the one the scenario names.
        #[arg(long, value_name = "FILE")]
        gpu_profile: Option<PathBuf>,
        /// Directory holding gpus/<name>.toml (default: models/ beside or above the scenario, then ./models).
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Measure this machine's GPU with CUDA microbenchmarks and write a calibrated GPU profile.
    Calibrate {
        /// Output profile (default: models/gpus/<name>.calibrated.toml); a .report.json goes beside it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Bundled profile to start from (default: chosen from the device name).
        #[arg(long, value_name = "NAME")]
        base: Option<String>,
        /// CUDA device ordinal.
        #[arg(long, default_value_t = 0)]
        device: usize,
        /// Also run the MPS measurements (starts and always stops an MPS daemon of its own).
        #[arg(long)]
        mps: bool,
        /// Seconds of dense GEMMs for the power-controller trace.
        #[arg(long, default_value_t = 12.0)]
        power_trace_s: f64,
        /// Only these steps (comma-separated: fma, issue, dram, launch, gemm, streams, timeslice, mps, power).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Internal: one process of a multi-process calibration measurement.
    #[command(hide = true)]
    CalibrateWorker {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Time the bundled benchmark scenarios (events/s, simulated-time / wall-time).
    Bench {
        #[arg(long)]
        json: bool,
        /// Repetitions per benchmark; the fastest is reported.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run { scenario, json, trace, plot, gpu_profile, models, seed } => {
            run(&scenario, json, trace.as_deref(), plot.as_deref(), gpu_profile.as_deref(), models.as_deref(), seed)
        }
        Cmd::Bench { json, repeat } => bench::bench(json, repeat.max(1)),
        Cmd::Calibrate { out, base, device, mps, power_trace_s, only } => calibrate_cmd::calibrate(
            out.as_deref(),
            base.as_deref(),
            device,
            mps,
            power_trace_s.clamp(2.0, 120.0),
            only,
        ),
        Cmd::CalibrateWorker { args } => calibrate_cmd::worker(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(
    path: &Path,
    json: bool,
    trace: Option<&Path>,
    plot: Option<&Path>,
    gpu_profile: Option<&Path>,
    models: Option<&Path>,
    seed: Option<u64>,
) -> Result<(), String> {
    let plot_format = match plot {
        Some(p) => Some(
            simgpu_plots::Format::from_path(p)
                .ok_or_else(|| format!("{}: --plot needs a .png or .svg file name", p.display()))?,
        ),
        None => None,
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read scenario: {e}", path.display()))?;
    let scn = simgpu_sim::Scenario::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    let (gpu, _) = profiles::resolve(&scn, gpu_profile, models, path)?;
    let mut w = scn.bind(&gpu).map_err(|e| e.to_string())?;
    if let Some(s) = seed {
        w.set_seed(s);
    }
    let start = std::time::Instant::now();
    let (mut report, rec) = simgpu_sim::run(&w, trace.is_some() || plot.is_some());
    report.sim.wall_ms = start.elapsed().as_secs_f64() * 1e3;
    // Render everything before writing anything, so a failure leaves no partial output.
    let mut outputs: Vec<(&Path, Vec<u8>)> = Vec::new();
    if let (Some(p), Some(r)) = (trace, rec.as_ref()) {
        let doc = serde_json::json!({"traceEvents": r.chrome_events(), "displayTimeUnit": "ns"});
        outputs.push((p, serde_json::to_vec(&doc).map_err(|e| e.to_string())?));
    }
    if let (Some(p), Some(fmt), Some(r)) = (plot, plot_format, rec.as_ref()) {
        let bytes = simgpu_plots::render(&output::chart(&report, r), fmt, 1400, 900)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        outputs.push((p, bytes));
    }
    for (p, bytes) in outputs {
        files::write_atomic(p, &bytes)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print!("{}", output::table(&report));
    }
    Ok(())
}
