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
    let cmp = simgpu_import::compare::compare(im, &w)?;
    let client = &im.client;
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
        cmp.profile.name,
        cmp.profile.calibration_date.as_deref().map_or("datasheet".to_string(), |d| format!("calibrated {d}"))
    );
    let w = cmp.rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).clamp(12, 60);
    let _ = writeln!(s, "{:<w$} {:>9} {:>14} {:>14} {:>8}", "kernel", "per step", "traced us", "simgpu us", "ratio");
    let ratio = |p: f64, t: f64| if t > 0.0 { format!("{:.2}", p / t) } else { "-".into() };
    for r in &cmp.rows {
        let name: String = r.name.chars().take(w).collect();
        let q = ratio(r.predicted_us, r.traced_us);
        let _ = writeln!(s, "{name:<w$} {:>9} {:>14.1} {:>14.1} {q:>8}", r.per_step, r.traced_us, r.predicted_us);
    }
    let (tt, tp) = (cmp.traced_us(), cmp.predicted_us());
    let _ = writeln!(s, "{:<w$} {:>9} {tt:>14.1} {tp:>14.1} {:>8}", "all kernels", "", ratio(tp, tt));
    let _ = writeln!(s, "\nby class: traced and predicted us per step, and the median per-kernel error");
    for (class, t, p, e) in cmp.by_class() {
        let _ = writeln!(s, "{class:<16} {t:>12.1} {p:>12.1} {:>8} {:>7.0}%", ratio(p, t), e * 100.0);
    }
    if let Some(l) = cmp.step_us {
        let _ = writeln!(s, "simgpu's step time (host and GPU): {l:.1} us");
    }
    Ok(s)
}
