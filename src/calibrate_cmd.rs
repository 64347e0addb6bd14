//! `simgpu calibrate`: checks the flags, picks the profile to start from (the datasheet profile
//! of the GPU found; the calibrated one with `--only`), runs the calibration with a progress bar,
//! and writes the calibrated profile and a JSON report (each whole or not at all).

use crate::files::write_atomic;
use crate::profiles;
use indicatif::{ProgressBar, ProgressStyle};
use simgpu_calibrate::calibrate::{self, Options, Progress, STEPS};
use simgpu_calibrate::harness::{mps_daemon, Gpu};
use simgpu_calibrate::Step;
use simgpu_sim::profile::GpuProfile;
use std::path::{Path, PathBuf};

fn bundled(name: &str) -> Result<GpuProfile, String> {
    let names: Vec<&str> = profiles::BY_DEVICE_NAME.iter().map(|(_, n)| *n).collect();
    profiles::builtin_datasheet(name)
        .ok_or_else(|| format!("--base: unknown GPU profile `{name}`; bundled: {}", names.join(", ")))?
}

/// The step list shown by `simgpu calibrate --help`.
pub fn help_steps() -> String {
    simgpu_calibrate::steps::help()
}

/// Where a calibration starts and what it writes.
struct Plan {
    start: GpuProfile,
    started_from: String,
    out: PathBuf,
    /// The report of the profile being replaced (`--replace`), kept inside the new one.
    previous_report: Option<PathBuf>,
}

fn report_path(profile: &Path) -> PathBuf {
    profile.with_extension("report.json")
}

/// Where `--only` starts when `--out` names no existing file.
enum Calibrated {
    File(PathBuf),
    /// The calibrated profile built into the binary (no file to write beside or replace).
    BuiltIn(Box<GpuProfile>),
}

/// The calibrated profile of `name`: `$SIMGPU_MODELS/gpus/<name>.calibrated.toml` (as `simgpu
/// run` looks there first), then `models/gpus/<name>.calibrated.toml` here (where a full
/// calibration writes it), then the one built into the binary.
fn find_calibrated(name: &str) -> Result<Calibrated, String> {
    let mut dirs = Vec::new();
    if let Some(env) = std::env::var_os("SIMGPU_MODELS") {
        let d = PathBuf::from(env);
        if !d.is_dir() {
            return Err(format!("$SIMGPU_MODELS={}: no such directory", d.display()));
        }
        dirs.push(d);
    }
    dirs.push(PathBuf::from("models"));
    let file = format!("{name}.calibrated.toml");
    if let Some(p) = dirs.iter().map(|d| d.join("gpus").join(&file)).find(|p| p.is_file()) {
        return Ok(Calibrated::File(p));
    }
    match profiles::builtin(name) {
        Some(Ok(p)) if p.sources.contains_key(calibrate::SOURCE) => Ok(Calibrated::BuiltIn(Box::new(p))),
        Some(Err(e)) => Err(e),
        _ => {
            let looked: Vec<String> = dirs.iter().map(|d| d.join("gpus").display().to_string()).collect();
            Err(format!(
                "--only: no calibrated profile {file} in {} and none built in: run a full calibration first, or name one with --out",
                looked.join(", ")
            ))
        }
    }
}

/// `<stem>.<date>.toml` beside `path` (then `<stem>.<date>-2.toml`, ...), a name not taken yet.
fn dated(path: &Path, date: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut candidate = dir.join(format!("{stem}.{date}.toml"));
    let mut n = 2;
    while candidate.exists() || report_path(&candidate).exists() {
        candidate = dir.join(format!("{stem}.{date}-{n}.toml"));
        n += 1;
    }
    candidate
}

/// A full calibration starts from the datasheet profile and writes `models/gpus/<name>.calibrated.toml`
/// (or `--out`). `--only` starts from the calibrated profile (`--out` if it exists, else the one
/// [`find_calibrated`] finds) and writes `--out` if that does not exist yet, else the profile it
/// started from with `--replace`, else a new dated file beside it.
fn plan(name: &str, out: Option<&Path>, partial: bool, replace: bool) -> Result<Plan, String> {
    if !partial {
        let out =
            out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(format!("models/gpus/{name}.calibrated.toml")));
        check_dir(&out)?;
        return Ok(Plan {
            start: bundled(name)?,
            started_from: format!("built-in {name}"),
            out,
            previous_report: None,
        });
    }
    let (start, start_file) = match out {
        Some(o) if o.is_file() => (Calibrated::File(o.to_path_buf()), true),
        Some(o) if replace => {
            return Err(format!("--replace: {} does not exist, so there is nothing to replace", o.display()))
        }
        _ => (find_calibrated(name)?, false),
    };
    let today = calibrate::today();
    let (start, started_from, written) = match start {
        Calibrated::File(f) => {
            let written = match out {
                Some(o) if !start_file => o.to_path_buf(),
                _ if replace => f.clone(),
                _ => dated(&f, &today),
            };
            (profiles::load_file(&f)?, f.display().to_string(), written)
        }
        Calibrated::BuiltIn(p) => {
            let written = match out {
                Some(o) => o.to_path_buf(),
                None if replace => {
                    return Err(format!(
                        "--replace: the calibrated profile of {name} is the one built into the binary, so there is no file to replace (name one with --out)"
                    ))
                }
                None => dated(Path::new(&format!("models/gpus/{name}.calibrated.toml")), &today),
            };
            (*p, format!("built-in {name}.calibrated"), written)
        }
    };
    check_dir(&written)?;
    let previous_report = Some(report_path(&written)).filter(|r| replace && r.is_file());
    Ok(Plan { start, started_from, out: written, previous_report })
}

/// The directory `path` goes into must exist (checked before measuring for a minute).
/// An output profile path: its directory exists and takes files, and the path is not a
/// directory or anything but a regular file (checked before a minute of measuring).
fn check_dir(path: &Path) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!("{}: directory {} does not exist", path.display(), dir.display()));
    }
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_file() {
            return Err(format!("{}: exists and is not a regular file", path.display()));
        }
    }
    let probe = dir.join(format!(".simgpu-calibrate.{}.probe", std::process::id()));
    std::fs::File::create(&probe).map_err(|e| format!("{}: cannot write in {}: {e}", path.display(), dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

pub fn calibrate(
    out: Option<&Path>,
    base: Option<&str>,
    device: usize,
    mps: bool,
    power_trace_s: f64,
    only: Vec<String>,
    replace: bool,
) -> Result<(), String> {
    // Every flag is checked before looking for a GPU.
    let only: Vec<&'static Step> = simgpu_calibrate::select(&only, mps)?;
    let power_trace_s = calibrate::check_power_trace_s(power_trace_s)?;
    let partial = !only.is_empty();
    if replace && !partial {
        return Err("--replace only applies with --only (a full calibration always writes a whole new profile)".into());
    }
    if let Some(b) = base {
        bundled(b)?;
    }
    // Output directories that do not depend on the GPU's name are checked now.
    match out {
        Some(o) => check_dir(o)?,
        None if !partial && !Path::new("models/gpus").is_dir() => {
            return Err("models/gpus does not exist here: run from the repository, or pass --out".into())
        }
        None => {}
    }
    let early = match base {
        Some(b) => Some(plan(b, out, partial, replace)?),
        None => None,
    };

    mps_daemon::install_interrupt_handler();
    let info = Gpu::open(device).map(|g| g.info().clone()).map_err(|e| e.to_string())?;
    let plan = match early {
        Some(p) => p,
        None => {
            let name = profiles::for_device(&info.name).ok_or_else(|| {
                format!(
                    "no bundled profile matches `{}` (other boards of a bundled chip, PCIe or NVL, are other \
                     cards): pass --base with the closest one",
                    info.name
                )
            })?;
            plan(name, out, partial, replace)?
        }
    };
    let report_path = report_path(&plan.out);
    let opts = Options {
        ordinal: device,
        mps,
        power_trace_s,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        simgpu_version: env!("CARGO_PKG_VERSION").to_string(),
        only,
        started_from: plan.started_from.clone(),
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
    let (profile, report) = calibrate::run(&opts, &plan.start, &mut on_progress).map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let header = format!(
        "# Calibrated GPU profile written by `simgpu calibrate` ({}); fitted values name source \"{}\".\n# Started from: {}\n# Report with every sample and fit: {}\n",
        report.date,
        report.source,
        report.started_from,
        report_path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()
    );
    let text = format!("{header}{}", profile.to_toml());
    // Check it reads back before writing anything.
    GpuProfile::from_toml(&plan.out.display().to_string(), &text)
        .map_err(|e| format!("internal error: the calibrated profile does not read back: {e}"))?;
    let mut report_json = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    // The replaced report holds the samples of the steps not run this time: keep it inside.
    if let (Some(prev), Some(obj)) = (&plan.previous_report, report_json.as_object_mut()) {
        let old = std::fs::read(prev).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        if let Some(old) = old {
            obj.insert("previous".into(), old);
        }
    }
    let report_bytes = serde_json::to_vec_pretty(&report_json).map_err(|e| e.to_string())?;
    write_atomic(&report_path, &report_bytes)?;
    write_atomic(&plan.out, text.as_bytes())?;
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
    println!("wrote {} and {}", plan.out.display(), report_path.display());
    Ok(())
}

pub fn worker(args: &[String]) -> Result<(), String> {
    simgpu_calibrate::run_worker(args).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_name_is_a_profile() {
        for (_, name) in profiles::BY_DEVICE_NAME {
            assert!(bundled(name).is_ok(), "{name}");
        }
        assert!(bundled("nope").unwrap_err().contains("h100-sxm"));
        assert_eq!(profiles::for_device("NVIDIA H100 80GB HBM3"), Some("h100-sxm"));
        assert_eq!(profiles::for_device("NVIDIA L40S"), Some("l40s"));
        assert_eq!(profiles::for_device("NVIDIA H200"), Some("h200"));
        // Other boards of a bundled chip are other cards.
        for other in
            ["NVIDIA H100 PCIe", "NVIDIA H100 NVL", "NVIDIA H200 NVL", "NVIDIA A100-PCIE-40GB", "NVIDIA GH200 480GB"]
        {
            assert_eq!(profiles::for_device(other), None, "{other}");
        }
    }

    #[test]
    fn dated_names_do_not_replace_anything() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h100-sxm.calibrated.toml");
        let first = dated(&p, "2026-11-30");
        assert_eq!(first, dir.path().join("h100-sxm.calibrated.2026-11-30.toml"));
        std::fs::write(&first, "x").unwrap();
        assert_eq!(dated(&p, "2026-11-30"), dir.path().join("h100-sxm.calibrated.2026-11-30-2.toml"));
    }
}
