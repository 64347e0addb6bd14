//! `simgpu run`: scenario in, report out; outputs checked before the run and written together
//! after it; a work limit, a progress bar on stderr, and a clean stop on Ctrl-C.

use crate::files::{self, Plan};
use crate::plot_recorder::PlotRecorder;
use crate::trace_file::ChromeTrace;
use crate::{output, profiles};
use indicatif::{ProgressBar, ProgressStyle};
use simgpu_sim::trace::{GpuInfo, Recorder, Sample, Span};
use simgpu_sim::{Ns, RunError, RunOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Events a run may take unless `--max-events` says otherwise: about a minute of simulation.
pub const DEFAULT_MAX_EVENTS: u64 = 200_000_000;
/// The same with `--trace`: a traced event costs about 60 times as much and ~900 bytes of trace,
/// so this is also about a minute (and ~5 GB).
pub const DEFAULT_MAX_TRACED_EVENTS: u64 = 5_000_000;
/// The error text of a run stopped by Ctrl-C (main turns it into exit status 130).
pub const INTERRUPTED: &str = "interrupted";

static STOP: AtomicBool = AtomicBool::new(false);

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario TOML file; several run in parallel, reported in the order given (a JSON
    /// array with --json).
    #[arg(required = true, num_args = 1..)]
    pub scenarios: Vec<PathBuf>,
    /// Runs at once when several scenarios are given [default: one per core].
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write a Chrome trace (JSON; open it in Perfetto).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Draw SM occupancy by client, power and clock over time (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Use this GPU profile file instead of the one the scenario names.
    #[arg(long, value_name = "FILE")]
    pub gpu_profile: Option<PathBuf>,
    /// Directory holding gpus/<name>.toml, searched before the built-in profiles (it must exist).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Refuse or stop a run past this many events; an estimate is checked before the run
    /// [default: 2e8, about a minute; 5e6 with --trace].
    #[arg(long, value_name = "N", value_parser = crate::parse_count)]
    pub max_events: Option<u64>,
    /// No progress bar on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also list every kernel entry apart (by default kernels are summed by name).
    #[arg(long)]
    pub kernel_entries: bool,
}

/// Drops the per-entry kernel lists unless asked for.
fn trim(r: &mut simgpu_sim::Report, a: &RunArgs) {
    if !a.kernel_entries {
        for c in &mut r.clients {
            c.kernel_entries = None;
        }
    }
}

/// Both recorders of a run, when both are asked for.
struct Tee<'a>(Vec<&'a mut dyn Recorder>);

impl Recorder for Tee<'_> {
    fn gpu(&mut self, info: &GpuInfo) {
        self.0.iter_mut().for_each(|r| r.gpu(info));
    }
    fn span(&mut self, gpu: u32, span: &Span<'_>) {
        self.0.iter_mut().for_each(|r| r.span(gpu, span));
    }
    fn sample(&mut self, gpu: u32, what: Sample, t: Ns, value: f64) {
        self.0.iter_mut().for_each(|r| r.sample(gpu, what, t, value));
    }
    fn end(&mut self, gpu: u32, t: Ns) {
        self.0.iter_mut().for_each(|r| r.end(gpu, t));
    }
}

/// A scenario read, checked and bound to its profile, ready to run.
struct Prepared {
    path: PathBuf,
    workload: simgpu_sim::Workload,
    /// The same clients each alone on a GPU (None for a dedicated scenario): slowdown's reference.
    alone: Option<simgpu_sim::Workload>,
    /// The profile file read, when it did not come built in.
    profile_file: Option<PathBuf>,
}

fn prepare(path: &Path, a: &RunArgs) -> Result<Prepared, String> {
    prepare_with(path, a.gpu_profile.as_deref(), a.models.as_deref(), a.seed)
}

fn prepare_with(
    path: &Path,
    gpu_profile: Option<&Path>,
    models: Option<&Path>,
    seed: Option<u64>,
) -> Result<Prepared, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read scenario: {e}", path.display()))?;
    let scn = simgpu_sim::Scenario::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    let resolved = profiles::resolve(&scn, gpu_profile, models, path)?;
    let mut w = scn.bind(&resolved.profile).map_err(|e| e.to_string())?;
    let mut alone = scn.bind_alone(&resolved.profile).map_err(|e| e.to_string())?;
    for w in std::iter::once(&mut w).chain(alone.as_mut()) {
        w.set_profile_origin(&resolved.origin);
        if let Some(s) = seed {
            w.set_seed(s);
        }
    }
    let profile_file = (resolved.origin != "built-in").then(|| PathBuf::from(&resolved.origin));
    Ok(Prepared { path: path.to_path_buf(), workload: w, alone, profile_file })
}

/// Simulates one scenario file as `simgpu run` would (its profile resolved the same way, the
/// same event limit), without outputs: for commands that judge or compare runs. With `explain`,
/// each client also gets its slowdown against running alone (its time kept by state, and a
/// second run of the clients alone): what a comparison names as the cause of a miss.
/// Ctrl-C stops it (`INTERRUPTED`).
pub fn simulate(
    path: &Path,
    gpu_profile: Option<&Path>,
    models: Option<&Path>,
    explain: bool,
) -> Result<simgpu_sim::Report, String> {
    let p = prepare_with(path, gpu_profile, models, None)?;
    check_estimate(&p, DEFAULT_MAX_EVENTS, false)?;
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    let mut r = run_prepared(&p, DEFAULT_MAX_EVENTS, explain)?;
    if explain {
        add_slowdown(&p, &mut r, DEFAULT_MAX_EVENTS)?;
    }
    Ok(r)
}

/// One prepared run without a recorder, stopped by Ctrl-C (`INTERRUPTED`) or its event limit.
fn run_prepared(p: &Prepared, max_events: u64, account_time: bool) -> Result<simgpu_sim::Report, String> {
    let mut progress = |_: simgpu_sim::Progress| !STOP.load(Ordering::SeqCst);
    let opts = RunOptions { recorder: None, max_events: Some(max_events), progress: Some(&mut progress), account_time };
    match simgpu_sim::run_with(&p.workload, opts) {
        Ok(r) => Ok(r),
        Err(s) if s.error == RunError::Interrupted => Err(INTERRUPTED.to_string()),
        Err(s) => Err(format!("{}: {}", p.path.display(), s.error)),
    }
}

/// Runs the clients alone and fills in each client's `slowdown` against it.
fn add_slowdown(p: &Prepared, report: &mut simgpu_sim::Report, max_events: u64) -> Result<(), String> {
    let Some(alone) = &p.alone else { return Ok(()) };
    let mut progress = |_: simgpu_sim::Progress| !STOP.load(Ordering::SeqCst);
    let opts = RunOptions {
        max_events: Some(max_events),
        progress: Some(&mut progress),
        account_time: true,
        ..Default::default()
    };
    match simgpu_sim::run_with(alone, opts) {
        Ok(r) => {
            simgpu_sim::slowdown::attribute_all(report, &r);
            Ok(())
        }
        Err(s) if s.error == RunError::Interrupted => Err(INTERRUPTED.to_string()),
        Err(s) => Err(format!("{}: the clients alone (for slowdown): {}", p.path.display(), s.error)),
    }
}

/// Refuses a run whose estimate is over the limit.
fn check_estimate(p: &Prepared, max_events: u64, traced: bool) -> Result<(), String> {
    let estimate = simgpu_sim::estimate_events(&p.workload);
    if estimate > max_events as f64 {
        let pace = if traced { "about a minute per 5e6 traced events" } else { "about a minute per 2e8 events" };
        return Err(format!(
            "{}: this run could take up to about {estimate:.2e} events, over the limit of {max_events} \
             ({pace}): shorten duration_s or give requests, or raise --max-events",
            p.path.display(),
        ));
    }
    Ok(())
}

pub fn run(a: &RunArgs) -> Result<(), String> {
    if a.scenarios.len() > 1 {
        return run_several(a);
    }
    let plot_format = match &a.plot {
        Some(p) => Some(
            simgpu_plots::Format::from_path(p)
                .ok_or_else(|| format!("{}: --plot needs a .png or .svg file name", p.display()))?,
        ),
        None => None,
    };
    let path = a.scenarios.first().ok_or("no scenario given")?.as_path();
    let prepared = prepare(path, a)?;
    let w = &prepared.workload;
    let traced = a.trace.is_some();
    let max_events = a.max_events.unwrap_or(if traced { DEFAULT_MAX_TRACED_EVENTS } else { DEFAULT_MAX_EVENTS });
    check_estimate(&prepared, max_events, traced)?;
    // Every output is checked, and its temporary created, before the run.
    // The profile read (when it came from a file) is an input too.
    let inputs: Vec<&Path> =
        [Some(path), a.gpu_profile.as_deref(), prepared.profile_file.as_deref()].into_iter().flatten().collect();
    let mut plan = Plan::default();
    let trace_i = a.trace.as_deref().map(|p| plan.add(p, "--trace", &inputs)).transpose()?;
    let plot_i = a.plot.as_deref().map(|p| plan.add(p, "--plot", &inputs)).transpose()?;
    let _ = ctrlc::set_handler(|| {
        STOP.store(true, Ordering::SeqCst);
    });

    let mut trace = trace_i.map(|i| ChromeTrace::create(plan.tmp(i))).transpose()?;
    let mut plot = plot_i.map(|_| PlotRecorder::default());
    let mut parts: Vec<&mut dyn Recorder> = Vec::new();
    if let Some(t) = trace.as_mut() {
        parts.push(t);
    }
    if let Some(p) = plot.as_mut() {
        parts.push(p);
    }
    let mut tee = Tee(parts);
    let show_bar = !a.quiet && std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut bar: Option<ProgressBar> = None;
    let mut progress = |p: simgpu_sim::Progress| {
        if STOP.load(Ordering::SeqCst) {
            return false;
        }
        // Only runs longer than a second get a bar.
        if show_bar && start.elapsed() > Duration::from_secs(1) {
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new(1000);
                b.set_style(
                    ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {percent:>3}% of simulated time {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b
            });
            let gpu_share = 1.0 / p.gpus as f64;
            let frac = (p.gpu as f64 + p.now_ns as f64 / p.horizon_ns.max(1) as f64) * gpu_share;
            b.set_position((frac * 1000.0) as u64);
            b.set_message(format!("{} events", p.events));
        }
        true
    };
    let recorder: Option<&mut dyn Recorder> = if tee.0.is_empty() { None } else { Some(&mut tee) };
    let opts = RunOptions { recorder, max_events: Some(max_events), progress: Some(&mut progress), account_time: true };
    let result = simgpu_sim::run_with(w, opts);
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    let mut report = match result {
        Ok(r) => r,
        Err(s) if s.error == RunError::Interrupted => {
            files::remove_pending();
            return Err(INTERRUPTED.into());
        }
        Err(s) => return Err(format!("{}: {}; nothing written", path.display(), s.error)),
    };
    report.sim.wall_ms = start.elapsed().as_secs_f64() * 1e3;
    drop(tee);
    if let Err(e) = add_slowdown(&prepared, &mut report, max_events) {
        files::remove_pending();
        return Err(e);
    }
    if let Some(t) = trace.take() {
        t.finish()?;
    }
    if let (Some(i), Some(fmt), Some(rec)) = (plot_i, plot_format, plot.as_ref()) {
        let p = a.plot.as_deref().unwrap_or(Path::new("plot"));
        let bytes = simgpu_plots::render(&output::chart(&report, rec), fmt, 1400, 900)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        plan.write(i, &bytes)?;
    }
    if STOP.load(Ordering::SeqCst) {
        files::remove_pending();
        return Err(INTERRUPTED.into());
    }
    plan.commit()?;
    trim(&mut report, a);
    if a.json {
        crate::files::print(&(serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n"))?;
    } else {
        crate::files::print(&output::table(&report))?;
    }
    Ok(())
}

/// Several scenarios: all are read and checked first (a bad one stops everything before any
/// run), then run in parallel, each on one thread; the reports come out in the order given, as
/// one JSON array or one table after another. Traces and plots are for single runs.
fn run_several(a: &RunArgs) -> Result<(), String> {
    if a.trace.is_some() || a.plot.is_some() {
        return Err("--trace and --plot take one scenario; run them one at a time".into());
    }
    let max_events = a.max_events.unwrap_or(DEFAULT_MAX_EVENTS);
    let mut prepared = Vec::with_capacity(a.scenarios.len());
    for path in &a.scenarios {
        let p = prepare(path, a)?;
        check_estimate(&p, max_events, false)?;
        prepared.push(p);
    }
    let _ = ctrlc::set_handler(|| {
        STOP.store(true, Ordering::SeqCst);
    });
    let jobs = a.jobs.map_or(0, usize::from);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().map_err(|e| e.to_string())?;
    let show_bar = !a.quiet && std::io::stderr().is_terminal();
    let bar = show_bar.then(|| {
        let b = ProgressBar::new(prepared.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} runs")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let results: Vec<Result<simgpu_sim::Report, String>> = pool.install(|| {
        use rayon::prelude::*;
        prepared
            .par_iter()
            .map(|p| {
                let start = Instant::now();
                let r = run_prepared(p, max_events, true);
                if let Some(b) = &bar {
                    b.inc(1);
                }
                let mut r = r?;
                r.sim.wall_ms = start.elapsed().as_secs_f64() * 1e3;
                add_slowdown(p, &mut r, max_events)?;
                trim(&mut r, a);
                Ok(r)
            })
            .collect()
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if STOP.load(Ordering::SeqCst) {
        return Err(INTERRUPTED.into());
    }
    let mut reports = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(format!("{}; nothing printed", errors.join("\n")));
    }
    if a.json {
        crate::files::print(&(serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())? + "\n"))
    } else {
        let tables: Vec<String> = reports.iter().map(output::table).collect();
        crate::files::print(&tables.join("\n"))
    }
}
