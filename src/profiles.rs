//! Finding a GPU profile by name: a calibrated profile beats the datasheet one, files on disk
//! beat the copies built into the binary (so `simgpu run` works from any directory).

use simgpu_sim::{GpuProfile, InputError, Scenario};
use std::path::{Path, PathBuf};

/// The bundled profiles, built in.
const BUILT_IN: &[(&str, &str)] = &[
    ("h100-sxm", include_str!("../models/gpus/h100-sxm.toml")),
    ("h200", include_str!("../models/gpus/h200.toml")),
    ("rtx-4090", include_str!("../models/gpus/rtx-4090.toml")),
    ("a100-sxm", include_str!("../models/gpus/a100-sxm.toml")),
    ("l40s", include_str!("../models/gpus/l40s.toml")),
    ("l4", include_str!("../models/gpus/l4.toml")),
];

/// Directories that may hold `gpus/<name>.toml`: the flag, $SIMGPU_MODELS, a `models/` beside the
/// scenario or above it, and `models/` in the working directory.
fn model_dirs(flag: Option<&Path>, scenario: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = flag.map(Path::to_path_buf).into_iter().collect();
    if let Some(env) = std::env::var_os("SIMGPU_MODELS") {
        dirs.push(PathBuf::from(env));
    }
    let abs = std::fs::canonicalize(scenario).unwrap_or_else(|_| scenario.to_path_buf());
    for dir in abs.ancestors().skip(1) {
        let m = dir.join("models");
        if m.join("gpus").is_dir() {
            dirs.push(m);
            break;
        }
    }
    dirs.push(PathBuf::from("models"));
    dirs
}

/// Loads the profile a scenario names. Errors point at the scenario's `gpu` line.
pub fn resolve(
    scn: &Scenario,
    explicit: Option<&Path>,
    models: Option<&Path>,
    scenario_path: &Path,
) -> Result<(GpuProfile, String), String> {
    if let Some(path) = explicit {
        return load_file(path).map(|p| (p, path.display().to_string()));
    }
    let name = scn.spec.gpu.get_ref().as_str();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(scn.err(&scn.spec.gpu, "gpu", "not a GPU profile name").to_string());
    }
    for dir in model_dirs(models, scenario_path) {
        for file in [format!("{name}.calibrated.toml"), format!("{name}.toml")] {
            let path = dir.join("gpus").join(&file);
            if path.is_file() {
                return load_file(&path).map(|p| (p, path.display().to_string()));
            }
        }
    }
    if let Some(p) = builtin(name) {
        return Ok((p?, format!("built-in {name}")));
    }
    let known: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    Err(scn.err(&scn.spec.gpu, "gpu", format!("unknown GPU `{name}`; known: {}", known.join(", "))).to_string())
}

/// A bundled profile by name.
pub fn builtin(name: &str) -> Option<Result<GpuProfile, String>> {
    let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name)?;
    Some(GpuProfile::from_toml(&format!("<built-in {name}>"), text).map_err(|e| e.to_string()))
}

pub fn load_file(path: &Path) -> Result<GpuProfile, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read GPU profile: {e}", path.display()))?;
    GpuProfile::from_toml(&path.display().to_string(), &text).map_err(|e: InputError| e.to_string())
}
