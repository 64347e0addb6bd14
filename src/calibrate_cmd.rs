//! `simgpu calibrate`: picks the datasheet profile of the GPU found, runs the calibration with a
//! progress bar, and writes the calibrated profile and a JSON report (each whole or not at all).

use crate::files::write_atomic;
use crate::profiles;
use indicatif::{ProgressBar, ProgressStyle};
use simgpu_calibrate::calibrate::{self, Options, Progress, STEPS};
use std::path::{Path, PathBuf};

/// The bundled profile for a device name as the driver reports it.
fn base_for(device: &str) -> Option<&'static str> {
    let d = device.to_ascii_uppercase();
    [("H200", "h200"), ("H100", "h100-sxm"), ("4090", "rtx-4090"), ("A100", "a100-sxm"), ("L40S", "l40s"), ("L4", "l4")]
        .iter()
        .find(|(k, _)| d.contains(k))
        .map(|(_, v)| *v)
}

pub fn calibrate(
    out: Option<&Path>,
    base: Option<&str>,
    device: usize,
    mps: bool,
    power_trace_s: f64,
    only: Vec<String>,
) -> Result<(), String> {
    if let Some(bad) = only.iter().find(|o| !STEPS.contains(&o.as_str())) {
        return Err(format!("--only: unknown step `{bad}`; steps: {}", STEPS.join(", ")));
    }
    simgpu_calibrate::mps_daemon::install_interrupt_handler();
    let info = simgpu_calibrate::device::Gpu::open(device).map(|g| g.info().clone()).map_err(|e| e.to_string())?;
    let name = match base {
        Some(b) => b.to_string(),
        None => base_for(&info.name)
            .ok_or_else(|| format!("no bundled profile matches `{}`: pass --base with the closest one", info.name))?
            .to_string(),
    };
    let base_profile = profiles::builtin(&name).ok_or_else(|| format!("--base: unknown GPU profile `{name}`"))??;
    let out: PathBuf =
        out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(format!("models/gpus/{name}.calibrated.toml")));
    let report_path = out.with_extension("report.json");
    let opts = Options {
        ordinal: device,
        mps,
        power_trace_s,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        simgpu_version: env!("CARGO_PKG_VERSION").to_string(),
        only,
    };
    let bar = ProgressBar::new(STEPS.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:20}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut on_progress = |p: Progress| match p {
        Progress::Start { step, index, .. } => {
            bar.set_position(index as u64);
            bar.set_message(format!("{step}: measuring"));
        }
        Progress::Done { step, summary } => bar.println(format!("  {step:<10} {summary}")),
        Progress::Skipped { step, why } => bar.println(format!("  {step:<10} not measured: {why}")),
    };
    let (profile, report) = calibrate::run(&opts, &base_profile, &mut on_progress).map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let header = format!(
        "# Calibrated GPU profile written by `simgpu calibrate` ({}); fitted values name source \"calibration\".\n# Report with every sample and fit: {}\n",
        report.date,
        report_path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()
    );
    let text = format!("{header}{}", profile.to_toml());
    // Check it reads back before writing anything.
    simgpu_sim::GpuProfile::from_toml(&out.display().to_string(), &text)
        .map_err(|e| format!("internal error: the calibrated profile does not read back: {e}"))?;
    let report_json = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
    write_atomic(&report_path, &report_json)?;
    write_atomic(&out, text.as_bytes())?;
    println!(
        "calibrated {} in {:.0} s: {} parameters fitted, {} steps not measured",
        info.name,
        report.seconds,
        report.changes.len(),
        report.skipped.len()
    );
    for c in &report.changes {
        println!("  {:<40} {:>28} -> {}", c.parameter, c.before, c.after);
    }
    for (step, why) in &report.skipped {
        println!("  not measured: {step}: {why}");
    }
    println!("wrote {} and {}", out.display(), report_path.display());
    Ok(())
}

pub fn worker(args: &[String]) -> Result<(), String> {
    simgpu_calibrate::worker::run_worker(args).map_err(|e| e.to_string())
}
