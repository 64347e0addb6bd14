//! `simgpu validate report`: reads measurement records, simulates the cases they measured (as
//! `simgpu run` would, with the profile the scenario resolves to), and prints measured against
//! predicted. The scoring itself is `simgpu-validate`'s; this file reads files and prints.

use crate::run_cmd;
use rayon::prelude::*;
use simgpu_validate::{score, score_experiment, Experiment, Record, Scores};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum ValidateCmd {
    /// Simulate the cases measured in RECORD files (JSONL) and print measured against predicted:
    /// error per metric, MAPE per experiment and overall, and whether the predicted best sharing
    /// choice is the measured one.
    Report(ReportArgs),
    /// Run an experiment's cases on this machine's GPU and write their record (JSONL): each
    /// client is its own command (the experiment's `[clients.NAME]`), under the case scenario's
    /// sharing (time-sliced processes, or MPS with each client's thread percentage).
    Run(RunArgs),
    /// Replay one client of a scenario on this machine's GPU: its kernels launched with their
    /// grid, block, residency, FLOPs on the named unit, DRAM bytes, host gaps and syncs, timed as
    /// the scenario times it. `validate run` uses it for every client without a command.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The client to replay (its `name` in the scenario).
    #[arg(long)]
    pub client: String,
    /// Seconds to measure, after warm-up.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// The GPU (CUDA ordinal).
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Plan with this GPU profile file instead of the one the scenario names.
    #[arg(long, value_name = "FILE")]
    pub gpu_profile: Option<PathBuf>,
    /// Directory holding gpus/<name>.toml, searched before the built-in profiles.
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Speak the client line protocol of `validate run` (docs/validate.md): print `simgpu ready`
    /// once warm, wait for `go`, measure, print `simgpu result {...}`.
    #[arg(long)]
    pub protocol: bool,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The experiment file (TOML).
    pub experiment: PathBuf,
    /// The record to write (JSONL, written once every case has run).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seconds each case measures, 0.5 to 600.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Run only these cases (comma-separated).
    #[arg(long, value_name = "CASE", value_delimiter = ',')]
    pub only: Vec<String>,
    /// The GPU (NVML index) whose identity goes into the record.
    #[arg(long, default_value_t = 0)]
    pub device: u32,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Record files (JSONL, one line per case run on a card; e.g. validate/records/*.jsonl).
    #[arg(required = true, num_args = 1..)]
    pub records: Vec<PathBuf>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Predict with this GPU profile file instead of the one each scenario names.
    #[arg(long, value_name = "FILE")]
    pub gpu_profile: Option<PathBuf>,
    /// Directory holding gpus/<name>.toml, searched before the built-in profiles.
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Also draw predicted against measured (log-log, with the identity line) and each value's
    /// error as a bar (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Also write the comparison as a Markdown page (the tables, the plot if drawn, and for every
    /// value off by more than 20% what the simulator says the client lost, and to what).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Fail (exit status 1, after printing) if the overall MAPE is above PCT percent: a gate for CI.
    #[arg(long, value_name = "PCT")]
    pub max_mape: Option<f64>,
}

pub fn validate(cmd: &ValidateCmd) -> Result<(), String> {
    match cmd {
        ValidateCmd::Report(a) => report(a),
        ValidateCmd::Run(a) => run(a),
        ValidateCmd::Replay(a) => replay(a),
    }
}

/// An experiment file and the records of it, in the order read.
struct Group {
    path: PathBuf,
    experiment: Experiment,
    records: Vec<Record>,
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read {what}: {e}", path.display()))
}

/// Records grouped by the experiment file they name (first appearance first).
fn load(records: &[PathBuf]) -> Result<Vec<Group>, String> {
    let mut groups: Vec<Group> = Vec::new();
    for rp in records {
        let text = read(rp, "record")?;
        let recs = Record::parse_all(&rp.display().to_string(), &text).map_err(|e| e.to_string())?;
        let dir = rp.parent().unwrap_or(Path::new(""));
        for r in recs {
            let ep = dir.join(&r.experiment);
            let key = ep
                .canonicalize()
                .map_err(|e| format!("{}: case `{}`: experiment file {}: {e}", rp.display(), r.case, ep.display()))?;
            let i = match groups.iter().position(|g| g.path == key) {
                Some(i) => i,
                None => {
                    let text = read(&key, "experiment")?;
                    let experiment = Experiment::parse(&ep.display().to_string(), &text).map_err(|e| e.to_string())?;
                    groups.push(Group { path: key, experiment, records: Vec::new() });
                    groups.len() - 1
                }
            };
            if groups[i].experiment.case(&r.case).is_none() {
                return Err(format!(
                    "{}: case `{}` is not in experiment `{}` ({})",
                    rp.display(),
                    r.case,
                    groups[i].experiment.name,
                    ep.display()
                ));
            }
            groups[i].records.push(r);
        }
    }
    Ok(groups)
}

fn report(a: &ReportArgs) -> Result<(), String> {
    // The plot's file is checked (not an input, its directory writable) before anything runs.
    let plot_format = match &a.plot {
        Some(p) => Some(
            simgpu_plots::Format::from_path(p)
                .ok_or_else(|| format!("{}: --plot needs a .png or .svg file name", p.display()))?,
        ),
        None => None,
    };
    let mut plan = crate::files::Plan::default();
    let inputs: Vec<&Path> = a.records.iter().map(PathBuf::as_path).collect();
    if let Some(m) = a.max_mape {
        if !(m.is_finite() && m >= 0.0) {
            return Err(format!("--max-mape {m}: a percentage of 0 or more"));
        }
    }
    let plot_i = a.plot.as_deref().map(|p| plan.add(p, "--plot", &inputs)).transpose()?;
    let md_i = a.markdown.as_deref().map(|p| plan.add(p, "--markdown", &inputs)).transpose()?;
    let groups = load(&a.records)?;
    let mut scored = Vec::new();
    let mut simulated = Vec::new();
    for g in &groups {
        let e = &g.experiment;
        let dir = g.path.parent().unwrap_or(Path::new(""));
        // Every case a record or a choice needs, simulated once (in parallel: runs are independent).
        let mut needed: Vec<&str> = g.records.iter().map(|r| r.case.as_str()).collect();
        needed.extend(e.choices.iter().flat_map(|c| c.cases.iter().map(String::as_str)));
        needed.sort_unstable();
        needed.dedup();
        let reports: Vec<(String, simgpu_sim::Report)> = needed
            .par_iter()
            .map(|&name| {
                let case = e.case(name).ok_or_else(|| format!("experiment `{}`: no case `{name}`", e.name))?;
                let sp = dir.join(&case.scenario);
                let r = run_cmd::simulate(&sp, a.gpu_profile.as_deref(), a.models.as_deref(), a.markdown.is_some())
                    .map_err(|err| format!("experiment `{}`, case `{name}`: {err}", e.name))?;
                if r.gpu != e.gpu {
                    return Err(format!(
                        "experiment `{}`, case `{name}`: the scenario is for `{}`, the experiment for `{}`",
                        e.name, r.gpu, e.gpu
                    ));
                }
                Ok((name.to_string(), r))
            })
            .collect::<Result<_, String>>()?;
        let reports: BTreeMap<String, simgpu_sim::Report> = reports.into_iter().collect();
        let recs: Vec<&Record> = g.records.iter().collect();
        scored.push(score_experiment(e, &recs, &reports).map_err(|err| format!("experiment `{}`: {err}", e.name))?);
        simulated.push(reports);
    }
    let scores = score(scored);
    if let (Some(i), Some(fmt)) = (plot_i, plot_format) {
        let c = simgpu_plots::Comparison {
            title: format!(
                "simgpu against the card: {} values, MAPE {:.1}%, median {:.1}%",
                scores.rows,
                scores.mape * 100.0,
                scores.median_ape * 100.0
            ),
            unit: "us, 1/s, W or MHz".into(),
            points: scores
                .experiments
                .iter()
                .flat_map(|e| {
                    e.rows.iter().map(|r| simgpu_plots::ComparisonPoint {
                        group: e.experiment.clone(),
                        measured: r.measured,
                        predicted: r.predicted,
                    })
                })
                .collect(),
        };
        let bytes = simgpu_plots::render_comparison(&c, fmt, 1400, 700).map_err(|e| e.to_string())?;
        plan.write(i, &bytes)?;
    }
    if let (Some(i), Some(path)) = (md_i, &a.markdown) {
        // The plot is linked relative to the page, as both are written.
        let plot = a.plot.as_deref().map(|p| relative_to(p, path));
        plan.write(i, markdown(&scores, &simulated, &a.records, plot.as_deref()).as_bytes())?;
    }
    plan.commit()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&scores).map_err(|e| e.to_string())?);
    } else {
        print!("{}", table(&scores));
    }
    if let Some(max) = a.max_mape {
        let mape = scores.mape * 100.0;
        if mape > max {
            eprintln!("error: overall MAPE {mape:.2}% is above --max-mape {max}%: the predictions got worse");
            std::process::exit(1);
        }
    }
    Ok(())
}

/// `target`'s path as a link from the page at `page` (its file name where both share a directory).
fn relative_to(target: &Path, page: &Path) -> String {
    let (td, pd) = (target.parent().unwrap_or(Path::new("")), page.parent().unwrap_or(Path::new("")));
    match (td.canonicalize(), pd.canonicalize()) {
        (Ok(t), Ok(p)) if t == p => target.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        _ => target.display().to_string(),
    }
}

/// A value off by more than this is a miss: the page says what the simulator blames.
const MISS: f64 = 0.20;

/// The comparison as a Markdown page: how it was made, per experiment the values and choices,
/// and for each missed case the simulator's own account of every client's time (its slowdown
/// against running alone and the causes).
fn markdown(
    s: &Scores,
    reports: &[BTreeMap<String, simgpu_sim::Report>],
    records: &[PathBuf],
    plot: Option<&str>,
) -> String {
    let mut o = String::new();
    let files: Vec<String> = records.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(o, "# Validation: simgpu against the card\n");
    let _ = writeln!(
        o,
        "Written by `simgpu validate report {} --markdown ...`; do not edit by hand. \
         Every measured value comes from a record of a run on a card; every predicted one from \
         simulating the case's scenario with the profile named below. Nothing was fitted on these records.\n",
        files.join(" ")
    );
    let _ = writeln!(o, "**Overall: {}.**\n", overall(s));
    if let Some(p) = plot {
        let _ = writeln!(o, "![predicted against measured]({p})\n");
    }
    for (e, reps) in s.experiments.iter().zip(reports) {
        let _ = writeln!(o, "## {}\n\n{}\n", e.experiment, e.description);
        let p = &e.profile;
        let cal = if p.calibrated {
            format!("calibrated {}", p.calibration_date.as_deref().unwrap_or(""))
        } else {
            "not calibrated".into()
        };
        let _ = writeln!(o, "- predicted with profile `{}` ({}, {})", p.name, p.origin, cal.trim_end());
        for m in &e.measured_on {
            let _ = writeln!(
                o,
                "- measured on {}, driver {}, CUDA {}, {}, by `{}`",
                m.gpu, m.driver, m.cuda, m.date, m.command
            );
        }
        let _ = writeln!(o, "- {}", figures(e));
        if let Some(sp) = &e.repeat_spread {
            let _ = writeln!(o, "- {}", spread(sp));
        }
        let _ =
            writeln!(o, "\n| case | metric | measured | predicted | error | samples |\n|---|---|---:|---:|---:|---:|");
        for r in &e.rows {
            let flag = if r.error.abs() > MISS { " **miss**" } else { "" };
            let _ = writeln!(
                o,
                "| {} | {} | {:.2} | {:.2} | {}{flag} | {} |",
                r.case,
                r.metric,
                r.measured,
                r.predicted,
                pct(r.error),
                r.samples
            );
        }
        for v in &e.choices {
            let verdict = match (v.agree, &v.measured_best) {
                (Some(agree), Some(mb)) => format!(
                    "measured best {mb}, predicted best {}: {}",
                    v.predicted_best.join(" = "),
                    if agree { "agree" } else { "**disagree**" }
                ),
                _ => format!("predicted best {}; not judged", v.predicted_best.join(" = ")),
            };
            let _ = writeln!(o, "\nChoice: {} ({}): {verdict}.", v.question, v.metric);
        }
        let mut missed: Vec<&str> = e.rows.iter().filter(|r| r.error.abs() > MISS).map(|r| r.case.as_str()).collect();
        missed.dedup();
        if !missed.is_empty() {
            let _ = writeln!(o, "\n### Where it misses, and what the simulator blames\n");
            let _ = writeln!(
                o,
                "A client the simulator sees losing nothing against running alone misses on its own \
                 kernel times (the solo model), not on sharing.\n"
            );
        }
        for case in missed {
            let Some(rep) = reps.get(case) else { continue };
            for c in &rep.clients {
                let why = match &c.slowdown {
                    Some(sd) => crate::output::slowdown_line(sd),
                    None => "nothing to set it against (alone in its case, or no request measured): \
                             a miss here is its own kernel times"
                        .to_string(),
                };
                let _ = writeln!(o, "- {case}, {}: {why}", c.name);
            }
        }
        let _ = writeln!(o);
    }
    o
}

/// Every experiment together: values, errors and the choices agreed.
fn overall(s: &Scores) -> String {
    format!(
        "{} values in {} experiment(s), MAPE {:.1}%, median absolute error {:.1}%; throughputs: {} values, MAPE {:.1}%; \
         sharing choices agreed {} of {}",
        s.rows,
        s.experiments.len(),
        s.mape * 100.0,
        s.median_ape * 100.0,
        s.throughput_rows,
        s.throughput_mape * 100.0,
        s.choices_agreed,
        s.choices_judged
    )
}

/// An experiment's size and errors, as both the table and the page give them.
fn figures(e: &simgpu_validate::score::ExperimentScore) -> String {
    format!("{} values, MAPE {:.1}%, median absolute error {:.1}%", e.rows.len(), e.mape * 100.0, e.median_ape * 100.0)
}

/// How far the card's repeated measurements of one case metric spread.
fn spread(sp: &simgpu_validate::score::Spread) -> String {
    format!(
        "the card against itself: {} case metrics measured more than once, spread (max - min) / mean median {:.1}%, widest {:.1}% ({})",
        sp.metrics,
        sp.median * 100.0,
        sp.max * 100.0,
        sp.widest
    )
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// The human-readable form: per experiment its provenance, one line per value, MAPE and choices.
fn table(s: &Scores) -> String {
    let mut o = String::new();
    for e in &s.experiments {
        let _ = writeln!(o, "experiment {}: {}", e.experiment, e.description);
        let p = &e.profile;
        let cal = match (&p.calibrated, &p.calibration_date) {
            (true, Some(d)) => format!("calibrated {d}"),
            (true, None) => "calibrated".into(),
            _ => "not calibrated".into(),
        };
        let _ = writeln!(o, "predicted with profile {} ({}, {cal})", p.name, p.origin);
        for m in &e.measured_on {
            let _ = writeln!(
                o,
                "measured on {}, driver {}, CUDA {}, {}, by `{}`{}",
                m.gpu,
                m.driver,
                m.cuda,
                m.date,
                m.command,
                if m.tools.is_empty() { String::new() } else { format!(" ({})", m.tools) }
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<16} {:<36} {:>14} {:>14} {:>9} {:>7}",
            "case", "metric", "measured", "predicted", "error", "samples"
        );
        for r in &e.rows {
            let _ = writeln!(
                o,
                "{:<16} {:<36} {:>14.2} {:>14.2} {:>9} {:>7}",
                r.case,
                r.metric,
                r.measured,
                r.predicted,
                pct(r.error),
                r.samples
            );
        }
        let _ = writeln!(o, "\n{}: {}", e.experiment, figures(e));
        if let Some(sp) = &e.repeat_spread {
            let _ = writeln!(o, "{}", spread(sp));
        }
        if !e.unmeasured.is_empty() {
            let _ = writeln!(o, "cases without a record: {}", e.unmeasured.join(", "));
        }
        for v in &e.choices {
            let verdict = match (v.agree, &v.measured_best, v.predicted_best_measured_off) {
                (Some(agree), Some(mb), Some(off)) => format!(
                    "measured best {mb}, predicted best {} (measured up to {:.1}% off the best): {}",
                    v.predicted_best.join(" = "),
                    off * 100.0,
                    if agree { "agree" } else { "disagree" }
                ),
                _ => format!("predicted best {}; not judged (a case has no measurement)", v.predicted_best.join(" = ")),
            };
            let _ = writeln!(
                o,
                "choice: {} ({}, {} best, tolerance {:.0}%): {verdict}",
                v.question,
                v.metric,
                v.best.as_str(),
                v.tolerance * 100.0
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "overall: {}", overall(s));
    o
}

/// How one case runs on the card: its clients' commands and whether under MPS.
fn case_plan(
    e: &Experiment,
    exp_dir: &Path,
    case: &simgpu_validate::Case,
    seconds: f64,
    device: u32,
) -> Result<CasePlan, String> {
    use simgpu_sim::spec::Sharing;
    // Commands and the replayer report client metrics only: said before anything starts.
    if let Some(m) = case.measure.iter().find(|m| m.metric.of_kernels()) {
        return Err(format!(
            "case `{}`: `{}`: a kernel metric cannot be measured on the card by `validate run` \
             (its clients report client metrics only: p50_us, p90_us, p99_us, throughput_per_s)",
            case.name,
            m.label()
        ));
    }
    let sp = exp_dir.join(&case.scenario);
    let text = read(&sp, "scenario")?;
    let scn = simgpu_sim::Scenario::parse(&sp.display().to_string(), &text).map_err(|err| err.to_string())?;
    let clients = scn.spec.clients.get_ref();
    let mps = match scn.sharing() {
        Some(Sharing::Mps) => true,
        Some(Sharing::Timeslice) => false,
        Some(Sharing::Dedicated) if clients.len() == 1 => false,
        other => {
            return Err(format!(
                "case `{}`: {} with {} clients cannot run on one GPU as separate commands \
                 (time-sliced and MPS cases can; MIG and SM partitions are refused: the card's mode is never changed)",
                case.name,
                other.map_or("an explicit `gpus` layout".to_string(), |s| format!("sharing `{}`", s.as_str())),
                clients.len()
            ))
        }
    };
    let mut out = Vec::new();
    let mut replayed = Vec::new();
    for c in clients {
        let name = c.name.get_ref();
        let argv = match e.command_of(case, name) {
            Some(argv) => argv.to_vec(),
            None => {
                // No command of its own: this binary replays the client's scenario kernels.
                // The plan is made now, so that a client that cannot be replayed stops the run
                // before anything starts.
                replay_plan_of(&sp, name, None, None).map_err(|err| format!("case `{}`: {err}", case.name))?;
                replayed.push(name.clone());
                let exe = std::env::current_exe().map_err(|err| format!("the simgpu binary's path: {err}"))?;
                let sp_abs = sp.canonicalize().map_err(|err| format!("{}: {err}", sp.display()))?;
                [
                    exe.display().to_string(),
                    "validate".into(),
                    "replay".into(),
                    sp_abs.display().to_string(),
                    "--client".into(),
                    name.clone(),
                    "--seconds".into(),
                    seconds.to_string(),
                    "--device".into(),
                    device.to_string(),
                    "--protocol".into(),
                ]
                .to_vec()
            }
        };
        out.push(simgpu_harness::command_clients::CommandClient {
            name: name.clone(),
            argv,
            cwd: exp_dir.to_path_buf(),
            mps_thread_percentage: c.mps_thread_percentage.as_ref().map(|p| *p.get_ref()),
        });
    }
    Ok(CasePlan { clients: out, mps, replayed })
}

/// How one case runs on the card.
struct CasePlan {
    clients: Vec<simgpu_harness::command_clients::CommandClient>,
    mps: bool,
    /// Clients the replayer runs (no command of their own).
    replayed: Vec<String>,
}

/// The replayer's plan of `client` in the scenario at `path`, with the profile it resolves to
/// (as `simgpu run` resolves it), and the client's request unit count.
fn replay_plan_of(
    path: &Path,
    client: &str,
    gpu_profile: Option<&Path>,
    models: Option<&Path>,
) -> Result<(simgpu_harness::replay::ReplayClient, f64), String> {
    let text = read(path, "scenario")?;
    let scn = simgpu_sim::Scenario::parse(&path.display().to_string(), &text).map_err(|err| err.to_string())?;
    let resolved = crate::profiles::resolve(&scn, gpu_profile, models, path)?;
    // Every check `simgpu run` makes, with the line it points at.
    scn.bind(&resolved.profile).map_err(|err| err.to_string())?;
    let (w, _) = scn.to_spec();
    let (i, c) = w.clients.iter().enumerate().find(|(_, c)| c.name == client).ok_or_else(|| {
        let names: Vec<&str> = w.clients.iter().map(|c| c.name.as_str()).collect();
        format!("{}: no client `{client}` (the scenario has {})", path.display(), names.join(", "))
    })?;
    let plan = simgpu_validate::replay_plan::replay_client(c, i, w.seed, &resolved.profile)
        .map_err(|err| format!("{}: {err}", path.display()))?;
    Ok((plan, c.units_per_request))
}

fn replay(a: &ReplayArgs) -> Result<(), String> {
    use simgpu_harness::command_clients::{GO, READY, RESULT};
    if a.protocol {
        simgpu_harness::worker::die_with_parent();
    }
    if !(a.seconds.is_finite() && a.seconds > 0.0 && a.seconds <= 600.0) {
        return Err(format!("--seconds {}: must be more than 0 and at most 600", a.seconds));
    }
    let (plan, units) = replay_plan_of(&a.scenario, &a.client, a.gpu_profile.as_deref(), a.models.as_deref())?;
    let gpu = simgpu_harness::Gpu::open(a.device).map_err(|err| err.to_string())?;
    let ready = || {
        if a.protocol {
            simgpu_harness::worker::say(READY);
            simgpu_harness::worker::wait_for(GO)?;
        } else {
            eprintln!("replaying `{}` on {} for {} s", plan.name, gpu.info().name, a.seconds);
        }
        Ok(())
    };
    let r = simgpu_harness::replay::replay(&gpu, &plan, a.seconds, ready)
        .map_err(|err| format!("client `{}`: {err}", plan.name))?;
    // Where the card holds a kernel to other than the simulated residency, the comparison is
    // off for a reason of the replay's own: said on stderr (the protocol reads stdout).
    for res in r.residency.iter().filter(|res| res.got != res.wanted) {
        eprintln!(
            "warning: kernel `{}`: {} blocks per SM on the card, {} in the simulator \
             (the replay kernel alone holds {}; padded to {} bytes of shared memory)",
            res.kernel, res.got, res.wanted, res.natural, res.dynamic_smem_bytes
        );
    }
    let q = |x: f64| r.quantile_us(x).unwrap_or(f64::NAN);
    let result = serde_json::json!({
        "samples": r.latencies_us.len(),
        "p50_us": q(0.5),
        "p90_us": q(0.9),
        "p99_us": q(0.99),
        "throughput_per_s": r.requests_per_s() * units,
    });
    if a.protocol {
        if r.latencies_us.is_empty() {
            return Err(format!("client `{}`: no request completed in the {} s window", plan.name, a.seconds));
        }
        simgpu_harness::worker::say(&format!("{RESULT}{result}"));
    } else {
        println!("client {} on {} ({} launches)", plan.name, gpu.info().name, r.launches);
        println!("{}", serde_json::to_string_pretty(&result).map_err(|err| err.to_string())?);
        println!(
            "{:<40} {:>7} {:>7} {:>7} {:>9} {:>6} {:>5}",
            "kernel", "wanted", "natural", "got", "smem", "depth", "regs"
        );
        for res in &r.residency {
            let regs = if res.capped { format!("<={}", simgpu_harness::replay::CAPPED_REGS) } else { "any".into() };
            println!(
                "{:<40} {:>7} {:>7} {:>7} {:>9} {:>6} {:>5}",
                res.kernel, res.wanted, res.natural, res.got, res.dynamic_smem_bytes, res.depth, regs
            );
        }
    }
    Ok(())
}

/// `to` written relative to the directory `from` (both absolute).
fn relative(to: &Path, from: &Path) -> PathBuf {
    let (t, f): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut p = PathBuf::new();
    for _ in common..f.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c);
    }
    p
}

/// What ran the clients of a case, as its record says.
fn tools(clients: usize, replayed: &[String]) -> String {
    match replayed.len() {
        0 => "the clients' own commands (experiment `[clients]`)".into(),
        n if n == clients => format!("simgpu's kernel replayer for every client ({})", replayed.join(", ")),
        _ => format!("simgpu's kernel replayer for {}; the other clients' own commands", replayed.join(", ")),
    }
}

/// After a failed case: the cases already done are on stdout, one record line each; the rest can
/// be run on their own.
fn rerun_hint(a: &RunArgs, done: &[&simgpu_validate::Case], rest: &[&simgpu_validate::Case]) -> String {
    let names = |cs: &[&simgpu_validate::Case]| cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",");
    if done.is_empty() {
        return String::new();
    }
    format!(
        " (the records of {} are on stdout above; the rest: `simgpu validate run {} --only {} --out ...`)",
        names(done),
        a.experiment.display(),
        names(rest)
    )
}

/// Why the card cannot measure this experiment: its cases are simulated on the experiment's
/// profile, so a record taken on any other card (another bundled GPU, another board of the same
/// chip, an unbundled GPU) would be judged against the wrong card. None when they match, or when
/// the experiment is for a profile of the user's own.
fn other_card(experiment: &str, gpu: &str, device_name: &str, device: u32) -> Option<String> {
    let card = crate::profiles::for_device(device_name);
    let wanted = crate::profiles::BY_DEVICE_NAME.iter().any(|(_, n)| *n == gpu);
    (wanted && card != Some(gpu)).then(|| {
        let (what, instead) = match card {
            Some(c) => (format!(" ({c})"), format!("run an experiment for {c}")),
            None => (
                ", not a bundled profile's card".to_string(),
                "write an experiment for a profile of this card".to_string(),
            ),
        };
        format!(
            "experiment `{experiment}` is for the {gpu} profile, but GPU {device} is an {device_name}{what}: its \
             record would be scored against the wrong card; nothing run (run it on a {gpu} machine, or {instead})"
        )
    })
}

fn run(a: &RunArgs) -> Result<(), String> {
    if !(0.5..=600.0).contains(&a.seconds) {
        return Err(format!("--seconds {}: must be from 0.5 to 600", a.seconds));
    }
    let text = read(&a.experiment, "experiment")?;
    let e = Experiment::parse(&a.experiment.display().to_string(), &text).map_err(|err| err.to_string())?;
    for o in &a.only {
        if e.case(o).is_none() {
            return Err(format!("--only {o}: no such case in experiment `{}`", e.name));
        }
    }
    let exp_abs = a.experiment.canonicalize().map_err(|err| format!("{}: {err}", a.experiment.display()))?;
    let exp_dir = exp_abs.parent().unwrap_or(Path::new("/")).to_path_buf();
    let cases: Vec<_> = e.cases.iter().filter(|c| a.only.is_empty() || a.only.contains(&c.name)).collect();
    // Everything is checked before the first process starts: each case's plan, and the output.
    let plans = cases.iter().map(|c| case_plan(&e, &exp_dir, c, a.seconds, a.device)).collect::<Result<Vec<_>, _>>()?;
    // Ctrl-C from here on: daemons stopped, the output's temporary removed, exit 130.
    simgpu_harness::mps_daemon::on_interrupt(crate::files::remove_pending);
    let mut plan = crate::files::Plan::default();
    let out_i = plan.add(&a.out, "--out", &[a.experiment.as_path()])?;
    let out_dir = plan.tmp(out_i).parent().map(Path::to_path_buf).unwrap_or_default();
    let experiment_ref = relative(&exp_abs, &out_dir.canonicalize().unwrap_or(out_dir.clone()));
    let id = simgpu_harness::nvml_identity(a.device).map_err(|err| err.to_string())?;
    if let Some(why) = other_card(&e.name, &e.gpu, &id.name, a.device) {
        return Err(why);
    }
    let provenance = simgpu_validate::Provenance {
        gpu: id.name,
        uuid: Some(id.uuid),
        driver: id.driver,
        cuda: id.cuda,
        date: simgpu_calibrate::calibrate::today(),
        simgpu_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        tools: String::new(),
        note: String::new(),
    };
    let mut lines = String::new();
    // The bar ticks on its own: a case blocks for its clients' start-up and the whole window.
    let bar = indicatif::ProgressBar::new(cases.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:20}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(500));
    for (i, (case, CasePlan { clients, mps, replayed })) in cases.iter().zip(&plans).enumerate() {
        bar.set_position(i as u64);
        bar.set_message(format!(
            "{}: {} client(s){}, {} s",
            case.name,
            clients.len(),
            if *mps { " under MPS" } else { "" },
            a.seconds
        ));
        let results =
            simgpu_harness::command_clients::run_together(clients, *mps, a.seconds, Some(a.device)).map_err(|err| {
                format!("case `{}`: {err}; nothing written{}", case.name, rerun_hint(a, &cases[..i], &cases[i..]))
            })?;
        let results: Vec<_> = results.into_iter().map(|r| (r.name, r.values, r.samples)).collect();
        let mut provenance = provenance.clone();
        provenance.tools = tools(clients.len(), replayed);
        let rec = e.record_of(&case.name, experiment_ref.display().to_string(), provenance, &results)?;
        let line = serde_json::to_string(&rec).map_err(|err| err.to_string())?;
        bar.suspend(|| println!("{line}"));
        lines.push_str(&line);
        lines.push('\n');
    }
    bar.finish_and_clear();
    plan.write(out_i, lines.as_bytes())?;
    plan.commit()?;
    eprintln!("wrote {} ({} cases)", a.out.display(), cases.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::other_card;

    #[test]
    fn an_h200_experiment_is_refused_on_an_h100() {
        let why = other_card("pairs-h200", "h200", "NVIDIA H100 80GB HBM3", 0).unwrap();
        assert!(why.contains("for the h200 profile") && why.contains("NVIDIA H100 80GB HBM3 (h100-sxm)"), "{why}");
        assert_eq!(other_card("pairs-h200", "h200", "NVIDIA H200", 0), None);
        // An experiment for a user's own profile: nothing to judge by.
        assert_eq!(other_card("mine", "my-gpu", "NVIDIA H100 80GB HBM3", 0), None);
        // Another board of the chip, or a card no profile is bundled for, is no H100 SXM either.
        for other in ["NVIDIA H100 PCIe", "NVIDIA H100 NVL", "NVIDIA B200"] {
            let why = other_card("pairs-h100", "h100-sxm", other, 0).unwrap();
            assert!(why.contains(other) && why.contains("nothing run"), "{why}");
        }
        assert!(other_card("pairs-h200", "h200", "NVIDIA H200 NVL", 0).is_some());
    }
}
