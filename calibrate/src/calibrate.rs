//! `simgpu calibrate`: runs the steps of [`crate::steps::TABLE`] in turn on one GPU and returns
//! the profile with every fitted value naming a calibration source (GPU, driver, CUDA version,
//! date, simgpu version, command), plus a report with every sample, fit and residual. A step that
//! cannot run (no MPS without `--mps`, a library missing mid-way) leaves its parameters as they
//! were and says why.

use crate::kernels::Kernels;
use crate::probe_kernels::ProbeKernels;
use crate::step::{Found, Session, Step};
use crate::steps::TABLE;
use serde::Serialize;
use simgpu_harness::{DeviceInfo, Gpu, HarnessError};
use simgpu_sim::profile::GpuProfile;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;

pub use crate::steps::STEPS;

pub struct Options {
    pub ordinal: usize,
    pub mps: bool,
    /// Seconds of the dense-GEMM run that exercises the power controller (see
    /// [`POWER_TRACE_S`]).
    pub power_trace_s: f64,
    /// The command line, for provenance.
    pub command: String,
    pub simgpu_version: String,
    /// Run only these steps, and those that always run (empty: all); see [`crate::steps::select`].
    pub only: Vec<&'static Step>,
    /// Where the profile calibration starts from came from, for the report.
    pub started_from: String,
}

/// The seconds `--power-trace-s` accepts: the controller needs a couple of seconds to settle, and
/// much more only heats the card.
pub const POWER_TRACE_S: RangeInclusive<f64> = 2.0..=120.0;

/// `--power-trace-s`, or why not.
pub fn check_power_trace_s(s: f64) -> Result<f64, String> {
    if POWER_TRACE_S.contains(&s) {
        Ok(s)
    } else {
        Err(format!(
            "--power-trace-s: {s} is out of range: give {} to {} seconds",
            POWER_TRACE_S.start(),
            POWER_TRACE_S.end()
        ))
    }
}

/// What the caller shows while calibration runs.
pub enum Progress<'a> {
    Start { step: &'a str, index: usize, total: usize },
    Done { step: &'a str, summary: String },
    Skipped { step: &'a str, why: String },
}

/// One fitted parameter: what the profile said before and what calibration found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub parameter: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub device: DeviceInfo,
    pub date: String,
    pub command: String,
    /// The profile the calibration started from (a datasheet profile, or a calibrated one with
    /// `--only`).
    pub started_from: String,
    /// The `[sources]` key the fitted values name.
    pub source: String,
    pub steps: serde_json::Map<String, serde_json::Value>,
    pub skipped: Vec<(String, String)>,
    pub changes: Vec<Change>,
    pub seconds: f64,
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
pub fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0)
            as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The `[sources]` key of a full calibration.
pub const SOURCE: &str = "calibration";

/// The key fitted values name. A partial run (`--only`) on a profile that already holds a
/// calibration gets a key of its own, so that the values it did not measure keep their provenance.
pub fn source_key(start: &GpuProfile, partial: bool, date: &str) -> String {
    if !partial || !start.sources.contains_key(SOURCE) {
        return SOURCE.into();
    }
    let mut key = format!("{SOURCE}-{date}");
    let mut n = 2;
    while start.sources.contains_key(&key) {
        key = format!("{SOURCE}-{date}-{n}");
        n += 1;
    }
    key
}

/// Drops calibration sources that no parameter names any more (all re-measured since).
fn prune_sources(p: &mut GpuProfile) {
    let used: BTreeSet<String> = p.source_keys().into_iter().map(|(_, k)| k.to_string()).collect();
    p.sources.retain(|k, _| !k.starts_with(SOURCE) || used.contains(k));
}

/// Why `step` does not run, if it does not.
fn skip_reason(step: &Step, opts: &Options) -> Option<String> {
    if !step.always && !opts.only.is_empty() && !opts.only.iter().any(|o| o.name == step.name) {
        return Some("not selected (--only)".into());
    }
    if step.needs_mps && !opts.mps {
        return Some("not asked for (run with --mps)".into());
    }
    None
}

/// Runs the calibration on `opts.ordinal`, starting from `start` (the datasheet profile for a
/// full calibration, the calibrated one for `--only`).
pub fn run(
    opts: &Options,
    start: &GpuProfile,
    progress: &mut dyn FnMut(Progress),
) -> Result<(GpuProfile, Report), HarnessError> {
    let started = std::time::Instant::now();
    let total = TABLE.len();
    // Opening the GPU and compiling the kernels is most of the first step's time: announce it first.
    progress(Progress::Start { step: TABLE[0].name, index: 0, total });
    let gpu = Gpu::open(opts.ordinal)?;
    let kernels = Kernels::load(&gpu)?;
    let probes = ProbeKernels::load(&gpu)?;
    let date = today();
    let source = source_key(start, !opts.only.is_empty(), &date);
    let mut s = Session {
        gpu: &gpu,
        kernels: &kernels,
        probes: &probes,
        opts,
        found: Found::default(),
        profile: start.clone(),
        source: source.clone(),
        changes: Vec::new(),
        samples: serde_json::Map::new(),
        current: &TABLE[0],
    };
    let mut skipped = Vec::new();
    for (index, step) in TABLE.iter().enumerate() {
        if index > 0 {
            progress(Progress::Start { step: step.name, index, total });
        }
        if let Some(why) = skip_reason(step, opts) {
            progress(Progress::Skipped { step: step.name, why: why.clone() });
            skipped.push((step.name.to_string(), why));
            continue;
        }
        s.current = step;
        match (step.run)(&mut s) {
            Ok(summary) => progress(Progress::Done { step: step.name, summary }),
            Err(e) if step.always => return Err(e),
            Err(e) => {
                progress(Progress::Skipped { step: step.name, why: e.to_string() });
                skipped.push((step.name.to_string(), e.to_string()));
            }
        }
    }

    let info = gpu.info().clone();
    let steps_run = if opts.only.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = TABLE.iter().filter(|t| skip_reason(t, opts).is_none()).map(|t| t.name).collect();
        format!(" (steps {})", names.join(", "))
    };
    let provenance = format!(
        "simgpu calibrate{steps_run} on {} ({}), NVIDIA driver {}, CUDA driver API {}, {}, simgpu {}, command: {}",
        info.name,
        info.uuid,
        info.nvidia_driver_version.as_deref().unwrap_or("unknown"),
        info.cuda_driver_version,
        date,
        opts.simgpu_version,
        opts.command
    );
    let Session { mut profile, changes, samples, .. } = s;
    profile.sources.insert(source.clone(), provenance);
    prune_sources(&mut profile);
    let report = Report {
        device: info,
        date,
        command: opts.command.clone(),
        started_from: opts.started_from.clone(),
        source,
        steps: samples,
        skipped,
        changes,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((profile, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datasheet() -> GpuProfile {
        GpuProfile::from_toml("h100", include_str!("../../models/gpus/h100-sxm.toml")).unwrap()
    }

    #[test]
    fn date_format() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }

    #[test]
    fn power_trace_range() {
        assert_eq!(check_power_trace_s(12.0), Ok(12.0));
        assert_eq!(check_power_trace_s(2.0), Ok(2.0));
        assert_eq!(check_power_trace_s(120.0), Ok(120.0));
        for bad in [1.0, 1000.0, -3.0, f64::NAN] {
            let e = check_power_trace_s(bad).unwrap_err();
            assert!(e.contains("2 to 120"), "{e}");
        }
    }

    #[test]
    fn partial_runs_get_a_source_of_their_own() {
        let mut p = datasheet();
        assert_eq!(source_key(&p, false, "2026-11-30"), "calibration");
        assert_eq!(source_key(&p, true, "2026-11-30"), "calibration", "nothing calibrated yet");
        p.sources.insert("calibration".into(), "full run".into());
        assert_eq!(source_key(&p, false, "2026-11-30"), "calibration");
        assert_eq!(source_key(&p, true, "2026-11-30"), "calibration-2026-11-30");
        p.sources.insert("calibration-2026-11-30".into(), "earlier today".into());
        assert_eq!(source_key(&p, true, "2026-11-30"), "calibration-2026-11-30-2");
    }

    #[test]
    fn unused_calibration_sources_are_dropped() {
        let mut p = datasheet();
        p.sources.insert("calibration".into(), "full run".into());
        p.sources.insert("calibration-2026-11-30".into(), "partial".into());
        p.rates.fp32_flops_per_clk.source = "calibration-2026-11-30".into();
        let datasheet_keys = datasheet().sources.len();
        prune_sources(&mut p);
        assert!(p.sources.contains_key("calibration-2026-11-30"));
        assert!(!p.sources.contains_key("calibration"));
        assert_eq!(p.sources.len(), datasheet_keys + 1, "other sources stay");
    }

    #[test]
    fn skips_follow_only_and_mps() {
        let opts = |only: &[&str], mps: bool| Options {
            ordinal: 0,
            mps,
            power_trace_s: 12.0,
            command: "test".into(),
            simgpu_version: "0".into(),
            only: only.iter().map(|n| crate::steps::find(n).unwrap()).collect(),
            started_from: "test".into(),
        };
        let runs =
            |o: &Options| TABLE.iter().filter(|s| skip_reason(s, o).is_none()).map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(runs(&opts(&[], true)), STEPS);
        assert!(!runs(&opts(&[], false)).contains(&"mps"));
        assert_eq!(runs(&opts(&["power"], false)), ["device", "power"]);
        assert_eq!(runs(&opts(&["mps", "fma"], true)), ["device", "fma", "mps"]);
    }
}
