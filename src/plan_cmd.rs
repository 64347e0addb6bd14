//! `simgpu plan`: reads a plan, has the planner (`simgpu-plan`) simulate and rank its layouts,
//! and prints the ranked table and the verdict (or JSON, a shard's results, a Pareto plot).

use crate::files;
use crate::profiles;
use indicatif::{ProgressBar, ProgressStyle};
use simgpu_plan::costing::Candidate;
use simgpu_plan::file::{PlanSpec, Resolve};
use simgpu_plan::{Hooks, PlanReport, Shard, Simulated};
use simgpu_sim::GpuProfile;
use std::fmt::Write;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub sub: Option<PlanSub>,
    /// The plan file (TOML; docs/plan.md).
    #[arg(required = true)]
    pub plan: Option<PathBuf>,
    /// Simulate only part K of N of the layouts (`--shard 2/8`) and write its results to --out
    /// for `simgpu plan merge`.
    #[arg(long, value_name = "K/N", requires = "out")]
    pub shard: Option<String>,
    /// Threads simulating layouts [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub show: Show,
}

#[derive(clap::Subcommand)]
pub enum PlanSub {
    /// Combine the results of every shard of a plan into the report one run gives.
    Merge {
        /// The plan file the shards ran.
        plan: PathBuf,
        /// Every shard's results (`simgpu plan PLAN --shard K/N --out FILE`).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[command(flatten)]
        show: Show,
    },
}

#[derive(clap::Args)]
pub struct Show {
    /// Print the report as one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write the JSON report here (with --shard: the shard's results).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw cost against the share of demand served, per fleet (PNG or SVG).
    #[arg(long, value_name = "FILE.png|svg")]
    pub plot: Option<PathBuf>,
    /// List every fleet, not the best 15 and the 5 closest that fail.
    #[arg(long)]
    pub all: bool,
    /// Directory with gpus/<name>.toml profiles, looked in before the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
}

/// Largest plan file read.
const MAX_PLAN_BYTES: u64 = 1 << 20;

/// Models by bundled name or path (relative to the plan file), GPUs by profile name.
struct Resolver<'a> {
    dir: PathBuf,
    anchor: &'a Path,
    models: Option<&'a Path>,
}

impl Resolve for Resolver<'_> {
    fn model(&self, name: &str) -> Result<(String, String), String> {
        if simgpu_workloads::bundled::model(name).is_some() || Path::new(name).is_absolute() {
            return crate::generate_cmd::read_config(name).map_err(|e| e.trim_start_matches("--model ").to_string());
        }
        let p = self.dir.join(name);
        crate::generate_cmd::read_config(&p.display().to_string())
            .map_err(|e| e.trim_start_matches("--model ").to_string())
    }

    fn gpu(&self, name: &str) -> Result<(GpuProfile, String), String> {
        match profiles::by_name(name, self.models, self.anchor)? {
            Some(r) => Ok((r.profile, r.origin)),
            None => Err(format!("unknown GPU `{name}`; known: {}", profiles::builtin_names().join(", "))),
        }
    }
}

fn read_plan(path: &Path, models: Option<&Path>) -> Result<(PlanSpec, String), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: cannot read the plan: {e}", path.display()))?;
    if meta.len() > MAX_PLAN_BYTES {
        return Err(format!("{}: {} bytes is too large for a plan", path.display(), meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the plan: {e}", path.display()))?;
    let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let r = Resolver { dir, anchor: path, models };
    let spec = simgpu_plan::file::parse(&path.display().to_string(), &text, &r).map_err(|e| e.to_string())?;
    Ok((spec, text))
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("--shard {s}: give K/N with 1 <= K <= N, e.g. 2/8");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || k > n || n > 100_000 {
        return Err(bad());
    }
    Ok(Shard { index: k - 1, count: n })
}

static STOP: AtomicBool = AtomicBool::new(false);

pub fn plan(a: &PlanArgs) -> Result<(), String> {
    if let Some(PlanSub::Merge { plan, shards, show }) = &a.sub {
        return merge(plan, shards, show);
    }
    let path = a.plan.as_deref().ok_or("give a plan file")?;
    let shard = a.shard.as_deref().map(parse_shard).transpose()?.unwrap_or(Shard::WHOLE);
    let (spec, text) = read_plan(path, a.show.models.as_deref())?;
    let mut outputs = files::Plan::default();
    let out = a.show.out.as_deref().map(|p| outputs.add(p, "--out", &[path])).transpose()?;
    let plot = match (&a.show.plot, a.shard.is_some()) {
        (Some(_), true) => return Err("--plot draws a whole plan: draw it after `simgpu plan merge`".into()),
        (Some(p), false) => Some(check_plot(p, &mut outputs, path)?),
        (None, _) => None,
    };
    let _ = ctrlc::set_handler(|| {
        STOP.store(true, Ordering::SeqCst);
        files::remove_pending();
    });
    let threads = a.jobs.map_or(0, |j| j as usize);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| format!("threads: {e}"))?;
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} layouts, {elapsed} (eta {eta}) {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let on_progress = |done: usize, total: usize, label: &str| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(label.to_string());
        }
    };
    let stop = || STOP.load(Ordering::SeqCst);
    let hooks = Hooks { progress: Some(&on_progress), stop: &stop };
    let t0 = Instant::now();
    let sim = pool.install(|| simgpu_plan::simulate(&spec, &simgpu_plan::fingerprint(&text), shard, hooks));
    let wall = t0.elapsed().as_secs_f64();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if stop() {
        files::remove_pending();
        return Err(crate::run_cmd::INTERRUPTED.into());
    }
    if a.shard.is_some() {
        let json = serde_json::to_string_pretty(&sim).map_err(|e| format!("internal: {e}"))? + "\n";
        if let Some(i) = out {
            outputs.write(i, json.as_bytes())?;
        }
        outputs.commit()?;
        let simulated = sim.units.iter().filter(|u| u.pruned.is_none()).count();
        println!(
            "shard {}/{} of plan {}: {} of {} layouts taken, {} simulated in {:.1} s wall",
            shard.index + 1,
            shard.count,
            spec.name,
            sim.units.len(),
            sim.units_total,
            simulated,
            wall
        );
        return Ok(());
    }
    let report = simgpu_plan::report(&spec, &sim)?;
    let timing = Timing { wall_s: wall, threads: pool.current_num_threads() };
    show_report(&report, &a.show, Some(timing), outputs, out, plot)
}

fn check_plot(p: &Path, outputs: &mut files::Plan, input: &Path) -> Result<(usize, simgpu_plots::Format), String> {
    let fmt = simgpu_plots::Format::from_path(p)
        .ok_or_else(|| format!("--plot {}: give a .png or .svg file", p.display()))?;
    Ok((outputs.add(p, "--plot", &[input])?, fmt))
}

fn merge(path: &Path, shards: &[PathBuf], show: &Show) -> Result<(), String> {
    let (spec, text) = read_plan(path, show.models.as_deref())?;
    let mut outputs = files::Plan::default();
    let inputs: Vec<&Path> = std::iter::once(path).chain(shards.iter().map(PathBuf::as_path)).collect();
    let out = show.out.as_deref().map(|p| outputs.add(p, "--out", &inputs)).transpose()?;
    let plot = show.plot.as_deref().map(|p| check_plot(p, &mut outputs, path)).transpose()?;
    let mut parts = Vec::new();
    for s in shards {
        let t = std::fs::read_to_string(s).map_err(|e| format!("{}: cannot read: {e}", s.display()))?;
        let part: Simulated =
            serde_json::from_str(&t).map_err(|e| format!("{}: not a shard's results: {e}", s.display()))?;
        if part.fingerprint != simgpu_plan::fingerprint(&text) {
            return Err(format!(
                "{}: the results of another plan, or of another version of {}",
                s.display(),
                path.display()
            ));
        }
        parts.push(part);
    }
    let sim = simgpu_plan::merge(parts)?;
    let report = simgpu_plan::report(&spec, &sim)?;
    show_report(&report, show, None, outputs, out, plot)
}

struct Timing {
    wall_s: f64,
    threads: usize,
}

fn show_report(
    r: &PlanReport,
    show: &Show,
    timing: Option<Timing>,
    outputs: files::Plan,
    out: Option<usize>,
    plot: Option<(usize, simgpu_plots::Format)>,
) -> Result<(), String> {
    let json = serde_json::to_string_pretty(r).map_err(|e| format!("internal: {e}"))? + "\n";
    if let Some(i) = out {
        outputs.write(i, json.as_bytes())?;
    }
    if let Some((i, fmt)) = plot {
        let bytes = simgpu_plots::render_pareto(&pareto(r), fmt, 1100, 700).map_err(|e| format!("--plot: {}", e.0))?;
        outputs.write(i, &bytes)?;
    }
    outputs.commit()?;
    if show.json {
        files::print(&json)
    } else {
        files::print(&table(r, show.all, timing.as_ref()))
    }
}

fn pareto(r: &PlanReport) -> simgpu_plots::Pareto {
    simgpu_plots::Pareto {
        title: format!("plan {}: cost against the least share of demand served", r.plan),
        points: r
            .candidates
            .iter()
            .map(|c| simgpu_plots::ParetoPoint {
                group: c.gpu.clone(),
                cost: c.cost_per_hour,
                served: (c.headroom + 1.0) * 100.0,
                feasible: c.feasible,
            })
            .collect(),
    }
}

fn cell(c: &Candidate, w: usize) -> String {
    let o = &c.workloads[w];
    let ci = o.ci95_per_s.map_or(String::new(), |h| format!("±{h:.0}"));
    let p99 = o.p99_ms.map_or("-".into(), |p| format!("{p:.1}"));
    let mark = if o.meets { "" } else { " ✗" };
    format!("{:.0}{ci} ({p99}){mark}", o.throughput_per_s)
}

fn table(r: &PlanReport, all: bool, timing: Option<&Timing>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "plan {}  seed {}", r.plan, r.seed);
    for g in &r.gpus {
        let cal = match (&g.calibrated, &g.calibration_date) {
            (true, Some(d)) => format!("calibrated {d}"),
            (true, None) => "calibrated".into(),
            (false, _) => "datasheet, not calibrated".into(),
        };
        let _ = writeln!(
            s,
            "gpu {} ({}, {cal}): up to {} at ${:.2}/h",
            g.name, g.profile_origin, g.max_count, g.cost_per_hour
        );
    }
    for w in &r.workloads {
        let slo = w.slo_p99_ms.map_or(String::new(), |p| format!(", p99 <= {p} ms"));
        let _ = writeln!(s, "workload {}: {} {}; demand {} {}/s{slo}", w.name, w.model, w.step, w.demand_per_s, w.unit);
    }
    let l = &r.layouts;
    let _ = write!(
        s,
        "layouts: {} enumerated, {} do not fit, {} invalid, {} dominated, {} simulated",
        l.enumerated, l.does_not_fit, l.invalid, l.dominated, l.simulated
    );
    match timing {
        Some(t) => {
            let per = if l.simulated > 0 { t.wall_s * t.threads as f64 / l.simulated as f64 } else { 0.0 };
            let _ = writeln!(
                s,
                " in {:.1} s wall on {} threads ({:.0} ms of a thread per layout)",
                t.wall_s,
                t.threads,
                per * 1e3
            );
        }
        None => {
            let _ = writeln!(s, " (merged shards)");
        }
    }
    // A GPU type where nothing ran says why.
    for g in &r.gpus {
        let of: Vec<&simgpu_plan::evaluate::UnitResult> = r.units.iter().filter(|u| u.gpu == g.name).collect();
        if of.iter().all(|u| u.pruned.is_some()) {
            let why = of.iter().filter_map(|u| u.pruned.as_deref()).next().unwrap_or("no layout");
            let _ = writeln!(s, "no layout ran on {}: {why}", g.name);
        }
    }
    let _ = writeln!(s);
    let names: Vec<String> = r.workloads.iter().map(|w| format!("{} {}/s (p99 ms)", w.name, w.unit)).collect();
    let mut head = format!("{:>4}  {:<9} {:>4} {:>9}  ", "rank", "gpu", "GPUs", "$/h");
    for n in &names {
        let _ = write!(head, "  {n:>30}");
    }
    let _ = writeln!(s, "{head}  {:>8}  layout", "headroom");
    let feasible: Vec<&Candidate> = r.candidates.iter().filter(|c| c.feasible).collect();
    let failing: Vec<&Candidate> = r.candidates.iter().filter(|c| !c.feasible).collect();
    let (nf, nx) = if all { (feasible.len(), failing.len()) } else { (15, 5) };
    for (i, c) in feasible.iter().take(nf).enumerate() {
        row(&mut s, &format!("{}", i + 1), c, r.workloads.len());
    }
    if feasible.len() > nf {
        let _ = writeln!(s, "   … {} more that serve the demand (--all lists them)", feasible.len() - nf);
    }
    if !failing.is_empty() {
        let _ = writeln!(s, "not serving the demand ({} fleets; the closest):", failing.len());
        for c in failing.iter().take(nx) {
            row(&mut s, "-", c, r.workloads.len());
            let _ = writeln!(s, "{:>24}{}", "", c.why_not.as_deref().unwrap_or(""));
        }
    }
    let _ = writeln!(s);
    if let Some(c) = &r.recommendation {
        let _ = writeln!(s, "recommendation: {} x {} (${:.2}/h): {}", c.gpus, c.gpu, c.cost_per_hour, c.layout);
    }
    let _ = writeln!(s, "verdict: {}", r.verdict);
    if let Some(c) = &r.caution {
        let _ = writeln!(s, "caution: {c}");
    }
    s
}

fn row(s: &mut String, rank: &str, c: &Candidate, nw: usize) {
    let mut line = format!("{rank:>4}  {:<9} {:>4} {:>9.2}  ", c.gpu, c.gpus, c.cost_per_hour);
    for w in 0..nw {
        let _ = write!(line, "  {:>30}", cell(c, w));
    }
    let _ = writeln!(s, "{line}  {:>+7.0}%  {}", c.headroom * 100.0, c.layout);
}
