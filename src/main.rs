//! simgpu: predicts what happens when workloads share an NVIDIA GPU. This binary only parses
//! arguments and prints; the simulator is the `simgpu-sim` crate.

mod bench;
mod calibrate_cmd;
mod files;
mod generate_cmd;
mod import_cmd;
mod output;
mod plan_cmd;
mod plot_recorder;
mod profiles;
mod run_cmd;
mod seeds_cmd;
mod trace_file;
mod validate_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    Run(run_cmd::RunArgs),
    /// Write a scenario from a PyTorch profiler trace (and an Nsight Compute CSV of the same
    /// step), and compare the traced kernel times with simgpu's solo prediction.
    Import(import_cmd::ImportArgs),
    /// Write a scenario from a model's config.json and a step (decode, prefill, encode): the kernels torch eager or vLLM launches, with the host's launch costs
    Generate(generate_cmd::GenerateArgs),
    /// Measure this machine's GPU with CUDA microbenchmarks and write a calibrated GPU profile.
    ///
    /// A full calibration starts from the datasheet profile of the GPU found and writes
    /// models/gpus/<name>.calibrated.toml. With --only it starts from the calibrated profile
    /// instead and writes a new dated file beside it (or --out; or, with --replace, the same file).
    /// Flags are checked before any GPU is looked for.
    #[command(after_help = calibrate_cmd::help_steps())]
    Calibrate {
        /// Profile to write; <same>.report.json goes beside it [default: models/gpus/<name>.calibrated.toml].
        /// With --only, an existing FILE is the profile to start from.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Bundled datasheet profile of this GPU (h100-sxm, h200, rtx-4090, a100-sxm, l40s, l4)
        /// [default: chosen from the device name].
        #[arg(long, value_name = "NAME")]
        base: Option<String>,
        /// CUDA device ordinal to calibrate.
        #[arg(long, default_value_t = 0)]
        device: usize,
        /// Also run the MPS step (starts an MPS control daemon of its own and always stops it;
        /// needs nvidia-cuda-mps-control on the PATH).
        #[arg(long)]
        mps: bool,
        /// Seconds of dense GEMMs for the power-controller trace, 2 to 120.
        #[arg(long, value_name = "SECONDS", default_value_t = 12.0)]
        power_trace_s: f64,
        /// Run only these steps (comma-separated, listed below), starting from the calibrated
        /// profile rather than the datasheet one.
        #[arg(long, value_name = "STEP", value_delimiter = ',')]
        only: Vec<String>,
        /// With --only: write the result back into the profile it started from instead of a new
        /// dated file.
        #[arg(long, requires = "only")]
        replace: bool,
    },
    /// Internal: one process of a multi-process calibration measurement.
    #[command(hide = true)]
    CalibrateWorker {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Score simgpu's predictions against experiments measured on a real GPU.
    #[command(subcommand)]
    Validate(validate_cmd::ValidateCmd),
    /// Which layout serves these workloads at the lowest cost, and does co-location pay off?
    ///
    /// Every layout a plan allows is checked for memory, simulated (in parallel) until its
    /// throughputs are known to the plan's confidence target, costed as fleets and ranked.
    Plan(plan_cmd::PlanArgs),
    /// The seed documents' published figures beside simgpu's predictions for the scenarios that
    /// restate them (docs/seeds.md: `simgpu seeds validate/seeds/*.toml --markdown docs/seeds.md`).
    Seeds(seeds_cmd::SeedsArgs),
    /// Time the bundled benchmark scenarios (events/s, simulated-time / wall-time).
    Bench {
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Repetitions per benchmark (at least 1); the fastest is reported.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Also run the slow benchmarks (32 and 64 MPS clients: seconds to minutes each).
        #[arg(long)]
        slow: bool,
        /// Run only the named benchmarks (repeatable; slow ones included when named).
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
    },
}

/// A count written as an integer or in scientific notation (`2e8`), whole and at least 1.
fn parse_count(s: &str) -> Result<u64, String> {
    if let Ok(n) = s.parse::<u64>() {
        return if n >= 1 { Ok(n) } else { Err("must be at least 1".into()) };
    }
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number (write e.g. 200000000 or 2e8)"))?;
    if !(1.0..=1e18).contains(&x) || x.fract() != 0.0 {
        return Err(format!("`{s}` must be a whole number from 1 to 1e18"));
    }
    Ok(x as u64)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(args) => run_cmd::run(&args),
        Cmd::Import(args) => import_cmd::import(&args),
        Cmd::Generate(args) => generate_cmd::generate(&args),
        Cmd::Validate(cmd) => validate_cmd::validate(&cmd),
        Cmd::Plan(args) => plan_cmd::plan(&args),
        Cmd::Seeds(args) => seeds_cmd::seeds(&args),
        Cmd::Bench { json, repeat, slow, only } => bench::bench(json, repeat.max(1), slow, &only),
        Cmd::Calibrate { out, base, device, mps, power_trace_s, only, replace } => {
            calibrate_cmd::calibrate(out.as_deref(), base.as_deref(), device, mps, power_trace_s, only, replace)
        }
        Cmd::CalibrateWorker { args } => calibrate_cmd::worker(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) if msg == run_cmd::INTERRUPTED => {
            eprintln!("interrupted: nothing written");
            ExitCode::from(130)
        }
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}
