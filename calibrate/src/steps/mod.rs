//! The calibration steps, in the order they run: one file and one [`Step`] value each. To add a
//! step, add a file beside these and its `STEP` to [`TABLE`] (docs/calibration.md says more).

use crate::step::Step;

pub mod device;
pub mod dram;
pub mod dram_read;
pub mod fma;
pub mod gemm;
pub mod gemm_fp8;
pub mod gemm_latency;
pub mod issue;
pub mod launch;
pub mod memory_parallelism;
pub mod mps;
pub mod mps_launch;
pub mod power;
pub mod stream_gap;
pub mod streams;
pub mod timeslice;

const ALL: [Step; 16] = [
    device::STEP,
    fma::STEP,
    issue::STEP,
    dram::STEP,
    dram_read::STEP,
    memory_parallelism::STEP,
    launch::STEP,
    stream_gap::STEP,
    gemm::STEP,
    gemm_fp8::STEP,
    gemm_latency::STEP,
    streams::STEP,
    timeslice::STEP,
    mps::STEP,
    mps_launch::STEP,
    power::STEP,
];

/// Every step, in the order they run. Later steps use what earlier ones found (see
/// [`crate::step::Found`]): `issue` and `fma` before `streams` and `mps`, `launch` before `mps`, `dram` before `memory_parallelism` and `dram_read`
/// (and both before `gemm_latency`, which simulates with what they found),
/// `gemm` before `power`.
pub static TABLE: [Step; ALL.len()] = ALL;

/// The step names, as `--only` takes them.
pub const STEPS: [&str; ALL.len()] = {
    let mut names = [""; ALL.len()];
    let mut i = 0;
    while i < ALL.len() {
        names[i] = ALL[i].name;
        i += 1;
    }
    names
};

/// The step called `name`.
pub fn find(name: &str) -> Option<&'static Step> {
    TABLE.iter().find(|s| s.name == name)
}

/// The steps `--only` names (comma-separated names already split), checked against the table and
/// against `--mps`. Empty: every step.
pub fn select(only: &[String], mps: bool) -> Result<Vec<&'static Step>, String> {
    let mut out: Vec<&'static Step> = Vec::new();
    for name in only {
        let step = find(name).ok_or_else(|| format!("--only: unknown step `{name}`; steps: {}", STEPS.join(", ")))?;
        if step.needs_mps && !mps {
            return Err(format!("--only {name}: this step needs --mps"));
        }
        if !out.iter().any(|s| s.name == step.name) {
            out.push(step);
        }
    }
    Ok(out)
}

/// The step list for `simgpu calibrate --help`.
pub fn help() -> String {
    let mut s = String::from("Steps, in the order they run (--only picks some; device always runs):\n");
    for step in &TABLE {
        let flag = if step.needs_mps { " (--mps)" } else { "" };
        s.push_str(&format!("  {:<10} {}{flag}\n", step.name, step.measures));
    }
    s.push_str("docs/calibration.md lists the parameters each step fits.");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use simgpu_sim::profile::GpuProfile;
    use std::collections::BTreeSet;

    fn profile() -> GpuProfile {
        GpuProfile::from_toml("h100", include_str!("../../../models/gpus/h100-sxm.toml")).unwrap()
    }

    #[test]
    fn names_are_unique_and_device_comes_first() {
        let names: BTreeSet<&str> = STEPS.iter().copied().collect();
        assert_eq!(names.len(), TABLE.len());
        assert_eq!(STEPS.to_vec(), TABLE.iter().map(|s| s.name).collect::<Vec<_>>());
        assert_eq!(TABLE[0].name, "device");
        assert!(TABLE[0].always);
        assert!(TABLE[1..].iter().all(|s| !s.always), "only the first step may always run");
        for s in &TABLE {
            assert!(!s.measures.is_empty() && !s.fits.is_empty(), "{}", s.name);
            // A step that only records (its model is not settled) says so.
            assert!(!s.writes.is_empty() || s.fits.starts_with("nothing yet"), "{} writes nothing", s.name);
        }
    }

    /// Each declared name is a real profile parameter, and its accessor reaches that parameter.
    #[test]
    fn written_names_match_their_accessors() {
        let mut seen = BTreeSet::new();
        for step in &TABLE {
            for w in step.writes {
                assert!(seen.insert(w.name()), "{} is written by two steps", w.name());
                let mut p = profile();
                *w.source(&mut p) = "marker".into();
                let marked: Vec<&str> =
                    p.source_keys().into_iter().filter(|(_, src)| *src == "marker").map(|(n, _)| n).collect();
                assert_eq!(marked, [w.name()], "step {}", step.name);
            }
        }
    }

    #[test]
    fn only_is_checked_against_the_table() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(select(&[], false).unwrap().is_empty());
        let picked = select(&words(&["power", "fma", "power"]), false).unwrap();
        assert_eq!(picked.iter().map(|s| s.name).collect::<Vec<_>>(), ["power", "fma"]);
        let e = select(&words(&["bogus"]), false).unwrap_err();
        assert!(e.contains("unknown step `bogus`") && e.contains(&STEPS.join(", ")), "{e}");
        assert!(select(&words(&["mps"]), false).unwrap_err().contains("--mps"));
        assert_eq!(select(&words(&["mps"]), true).unwrap()[0].name, "mps");
    }

    #[test]
    fn help_lists_every_step() {
        let h = help();
        for s in &TABLE {
            assert!(h.contains(s.name) && h.contains(s.measures), "{}", s.name);
        }
    }

    /// The calibration guide names every step and every parameter a step writes.
    #[test]
    fn the_docs_follow_the_table() {
        let doc = include_str!("../../../docs/calibration.md");
        for step in &TABLE {
            assert!(doc.contains(&format!("| {} ", step.name)), "docs/calibration.md lacks a row for `{}`", step.name);
            for w in step.writes {
                let short = w.name().rsplit('.').next().unwrap();
                assert!(doc.contains(short), "docs/calibration.md does not mention {}", w.name());
            }
        }
    }
}
