//! `simgpu import`: a PyTorch profiler trace (and optionally an Nsight Compute CSV) in, a
//! scenario out, with the traced kernel durations beside simgpu's solo prediction.

use crate::files::{self, Plan};
use crate::profiles;
use simgpu_import::{Imported, Options, StepChoice};
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// A PyTorch profiler trace (.json or .json.gz, from export_chrome_trace) or an Nsight
    /// Systems SQLite export (.sqlite), and optionally an Nsight Compute CSV (.csv) of the same step.
    #[arg(required = true, num_args = 1..=2)]
    pub files: Vec<PathBuf>,
    /// Which profiler step: `auto` (the last ProfilerStep# with kernels) or its number.
    #[arg(long, default_value = "auto", value_parser = parse_step)]
    pub step: StepChoice,
    /// The step's time measured without the profiler, in microseconds: host gaps are scaled to
    /// it (the profiler inflates host time).
    #[arg(long, value_name = "US")]
    pub host_step_us: Option<f64>,
    /// Profile of the GPU to run on [default: the one the trace was taken on].
    #[arg(long, value_name = "NAME")]
    pub gpu: Option<String>,
    /// The client's name [default: the trace file's stem].
    #[arg(long)]
    pub name: Option<String>,
    /// Write the scenario here (else it goes to stdout and the comparison to stderr).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_step(s: &str) -> Result<StepChoice, String> {
    if s == "auto" {
        return Ok(StepChoice::Auto);
    }
    s.parse().map(StepChoice::Number).map_err(|_| format!("`{s}`: give `auto` or a step number"))
}

/// Inputs larger than this are refused before reading (memory stays bounded).
const MAX_INPUT_BYTES: u64 = 2 << 30;

/// Reads a file, gunzipping it when its name ends in `.gz`; at most 2 GiB either way.
fn read(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read> = if gz { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let mut text = String::new();
    let n = reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if n as u64 > MAX_INPUT_BYTES {
        return Err(format!("{}: over the 2 GiB this command reads", path.display()));
    }
    Ok(text)
}

/// The extension that says what a file is, under a `.gz`.
fn kind(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default()
}

pub fn import(a: &ImportArgs) -> Result<(), String> {
    let (mut trace, mut ncu) = (None, None);
    for f in &a.files {
        let slot = match kind(f).as_str() {
            "json" | "sqlite" => &mut trace,
            "csv" => &mut ncu,
            _ => {
                return Err(format!(
                    "{}: give a .json PyTorch profiler trace or a .sqlite Nsight Systems export, and optionally a \
                     .csv from Nsight Compute",
                    f.display()
                ))
            }
        };
        if slot.replace(f).is_some() {
            return Err(format!("{}: one trace and one Nsight Compute CSV at most", f.display()));
        }
    }
    let trace = trace.ok_or("no .json profiler trace given")?;
    if let Some(h) = a.host_step_us {
        if !(h.is_finite() && h > 0.0 && h <= 1e9) {
            return Err("--host-step-us: a positive number of microseconds, at most 1e9".into());
        }
    }
    let file_name = trace.file_name().and_then(|s| s.to_str()).unwrap_or("imported");
    let stem = file_name.strip_suffix(".gz").unwrap_or(file_name);
    let stem = stem.strip_suffix(".json").or_else(|| stem.strip_suffix(".sqlite")).unwrap_or(stem).to_string();
    let opts = Options { step: a.step, host_step_us: a.host_step_us, name: a.name.clone().unwrap_or(stem) };
    let mut plan = Plan::default();
    let inputs: Vec<&Path> = a.files.iter().map(PathBuf::as_path).collect();
    let out_i = a.out.as_deref().map(|p| plan.add(p, "--out", &inputs)).transpose()?;

    let ncu_text = ncu.map(|p| read(p)).transpose()?;
    let at = |e: String| format!("{}: {e}", trace.display());
    let parsed = if kind(trace) == "sqlite" {
        if trace.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
            return Err(format!("{}: unpack the Nsight Systems export first", trace.display()));
        }
        simgpu_import::nsys_sqlite::read(trace).map_err(at)?
    } else {
        simgpu_import::torch_trace::parse(&read(trace)?).map_err(at)?
    };
    let im = simgpu_import::import_trace(parsed, ncu_text.as_deref(), &opts).map_err(at)?;
    let gpu = match &a.gpu {
        Some(g) => g.clone(),
        None => im
            .gpu_name
            .as_deref()
            .and_then(simgpu_import::profile_for)
            .ok_or_else(|| {
                format!(
                    "the trace was taken on {}: say which profile to run on with --gpu",
                    im.gpu_name.as_deref().unwrap_or("an unnamed GPU")
                )
            })?
            .to_string(),
    };
    let text = simgpu_import::render::scenario(&im, &trace.display().to_string(), &gpu);
    // The scenario must read back as written: the same checks as `simgpu run`.
    let scn = simgpu_sim::Scenario::parse("imported scenario", &text).map_err(|e| format!("internal: {e}"))?;
    let profile = profiles::builtin(&gpu).ok_or_else(|| format!("no built-in profile `{gpu}`"))??;
    let comparison = compare(&im, &scn, &profile)?;
    match (out_i, &a.out) {
        (Some(i), Some(path)) => {
            plan.write(i, text.as_bytes())?;
            plan.commit()?;
            files::print(&format!("wrote {}\n{comparison}", path.display()))
        }
        _ => {
            eprint!("{comparison}");
            files::print(&text)
        }
    }
}

/// Runs the imported client alone on `profile` and sets its kernels beside the trace's.
fn compare(im: &Imported, scn: &simgpu_sim::Scenario, profile: &simgpu_sim::GpuProfile) -> Result<String, String> {
    let mut short = scn.clone();
    if let Some(c) = short.spec.clients.get_mut().first_mut() {
        c.requests = Some(toml::Spanned::new(0..0, 3));
    }
    let w = short.bind(profile).map_err(|e| e.to_string())?;
    let r = simgpu_sim::run(&w);
    let c = &r.clients[0];
    let entries = c.kernel_entries.as_ref().ok_or("no kernel entries in the report")?;
    let client = &im.client;
    let mut per_step = vec![0u64; client.kernels.len()];
    for (k, n) in client.launch_sequence() {
        per_step[k] += n as u64;
    }
    // By name: (launches per step, traced us per step, predicted us per step).
    let mut rows: Vec<(String, u64, f64, f64)> = Vec::new();
    for (i, k) in client.kernels.iter().enumerate() {
        let predicted = entries.get(i).and_then(|e| e.duration_us.as_ref()).map_or(0.0, |d| d.mean);
        let n = per_step[i];
        let row = match rows.iter_mut().find(|r| r.0 == k.name) {
            Some(r) => r,
            None => {
                rows.push((k.name.clone(), 0, 0.0, 0.0));
                rows.last_mut().ok_or("no row")?
            }
        };
        row.1 += n;
        row.2 += im.traced_us[i] * n as f64;
        row.3 += predicted * n as f64;
    }
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} of {}: {} kernels, {} entries{}",
        im.step_label,
        im.gpu_name.as_deref().unwrap_or("the trace"),
        im.kernels_in_step,
        client.kernels.len(),
        if client.groups.is_empty() {
            String::new()
        } else {
            format!(" ({} in the group `layer`)", client.groups[0].len)
        }
    );
    for n in &im.notes {
        let _ = writeln!(s, "  - {n}");
    }
    let _ = writeln!(
        s,
        "\nsolo on {} ({}): traced kernel time per step beside simgpu's prediction",
        r.profile.name,
        r.profile.calibration_date.as_deref().map_or("datasheet".to_string(), |d| format!("calibrated {d}"))
    );
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0).clamp(12, 60);
    let _ = writeln!(s, "{:<w$} {:>9} {:>14} {:>14} {:>8}", "kernel", "per step", "traced us", "simgpu us", "ratio");
    let (mut tt, mut tp) = (0.0, 0.0);
    for (name, n, t, p) in &rows {
        tt += t;
        tp += p;
        let ratio = if *t > 0.0 { format!("{:.2}", p / t) } else { "-".into() };
        let name: String = name.chars().take(w).collect();
        let _ = writeln!(s, "{name:<w$} {n:>9} {t:>14.1} {p:>14.1} {ratio:>8}");
    }
    let ratio = if tt > 0.0 { tp / tt } else { 0.0 };
    let _ = writeln!(s, "{:<w$} {:>9} {tt:>14.1} {tp:>14.1} {ratio:>8.2}", "all kernels", "");
    if let Some(l) = &c.latency_us {
        let _ = writeln!(s, "simgpu's step time (host and GPU): {:.1} us", l.mean);
    }
    Ok(s)
}
