//! `simgpu seeds`: the seed documents' published figures beside simgpu's predictions
//! (docs/seeds.md is this command's `--markdown` output).

use crate::files::Plan;
use rayon::prelude::*;
use simgpu_validate::seeds::{compare, markdown, table, Grids, Published};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct SeedsArgs {
    /// Published-figure files (`validate/seeds/<seed>.toml`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Also write the comparison as a Markdown page (docs/seeds.md).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The grids of a scenario's kernels, for the stream statistics.
fn grids(path: &Path) -> Result<Grids, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let scn = simgpu_sim::Scenario::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    let gpu = scn.spec.gpu.get_ref().clone();
    let profile =
        crate::profiles::builtin(&gpu).ok_or_else(|| format!("{}: no built-in profile `{gpu}`", path.display()))??;
    Ok(Grids::of(&scn.to_spec().0, profile.sm.count.value as u64))
}

pub fn seeds(a: &SeedsArgs) -> Result<(), String> {
    let mut plan = Plan::default();
    let inputs: Vec<&Path> = a.files.iter().map(PathBuf::as_path).collect();
    let md = a.markdown.as_deref().map(|p| plan.add(p, "--markdown", &inputs)).transpose()?;
    let mut comparisons = Vec::new();
    for f in &a.files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let p = Published::parse(&f.display().to_string(), &text).map_err(|e| e.to_string())?;
        let dir = f.parent().unwrap_or(Path::new(""));
        // Every scenario once, in parallel (independent runs; each deterministic).
        let runs: Vec<(String, simgpu_sim::Report, Grids)> = p
            .scenarios()
            .par_iter()
            .map(|&s| {
                let path = dir.join(s);
                let r = crate::run_cmd::simulate(&path, None, None, true)?;
                Ok((s.to_string(), r, grids(&path)?))
            })
            .collect::<Result<_, String>>()?;
        let mut reports = BTreeMap::new();
        let mut all_grids = BTreeMap::new();
        for (s, r, g) in runs {
            reports.insert(s.clone(), r);
            all_grids.insert(s, g);
        }
        comparisons.push(compare(&p, &reports, &all_grids).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    if let (Some(i), Some(_)) = (md, &a.markdown) {
        let files: Vec<String> = a.files.iter().map(|f| f.display().to_string()).collect();
        // The page names the command that regenerates it where it is kept.
        let command = format!("simgpu seeds {} --markdown docs/seeds.md", files.join(" "));
        plan.write(i, markdown(&comparisons, &command).as_bytes())?;
    }
    plan.commit()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&comparisons).map_err(|e| e.to_string())?);
    } else {
        print!("{}", table(&comparisons));
    }
    Ok(())
}
