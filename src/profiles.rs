//! Finding a GPU profile by name, the same way from any directory.
//!
//! Order: `--gpu-profile FILE`; then `gpus/<name>.calibrated.toml` and `gpus/<name>.toml` in
//! `--models DIR` and in `$SIMGPU_MODELS` (each must exist when given); then the profiles built
//! into the binary, calibrated before datasheet; and only for a name that is not built in, a
//! `models/` directory beside or above the scenario. The working directory plays no part, so
//! a scenario gives the same answer wherever it is run from, and the report says which
//! profile it used.

use simgpu_sim::{GpuProfile, InputError, Scenario};
use std::path::{Path, PathBuf};

/// The bundled profiles, built in: (name, datasheet, calibrated).
const BUILT_IN: &[(&str, &str, Option<&str>)] = &[
    (
        "h100-sxm",
        include_str!("../models/gpus/h100-sxm.toml"),
        Some(include_str!("../models/gpus/h100-sxm.calibrated.toml")),
    ),
    ("h200", include_str!("../models/gpus/h200.toml"), Some(include_str!("../models/gpus/h200.calibrated.toml"))),
    ("rtx-4090", include_str!("../models/gpus/rtx-4090.toml"), None),
    ("a100-sxm", include_str!("../models/gpus/a100-sxm.toml"), None),
    ("l40s", include_str!("../models/gpus/l40s.toml"), None),
    ("l4", include_str!("../models/gpus/l4.toml"), None),
];

/// A loaded profile and where it came from ("built-in" or the file).
pub struct Resolved {
    pub profile: GpuProfile,
    pub origin: String,
}

/// Directories given explicitly; each must exist.
fn explicit_dirs(flag: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let mut dirs = Vec::new();
    let check = |d: &Path, what: &str| {
        if !d.is_dir() {
            Err(format!("{what}{}: no such directory", d.display()))
        } else if !d.join("gpus").is_dir() {
            Err(format!("{what}{}: has no gpus/ directory (profiles go in <DIR>/gpus/<name>.toml)", d.display()))
        } else {
            Ok(())
        }
    };
    if let Some(d) = flag {
        check(d, "--models ")?;
        dirs.push(d.to_path_buf());
    }
    // An empty variable is the same as an unset one.
    if let Some(env) = std::env::var_os("SIMGPU_MODELS").filter(|v| !v.is_empty()) {
        let d = PathBuf::from(env);
        check(&d, "$SIMGPU_MODELS=")?;
        dirs.push(d);
    }
    Ok(dirs)
}

fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter()
        .flat_map(|d| [format!("{name}.calibrated.toml"), format!("{name}.toml")].map(|f| d.join("gpus").join(f)))
        .find(|p| p.is_file())
}

/// Loads the profile a scenario names. Errors point at the scenario's `gpu` line.
pub fn resolve(
    scn: &Scenario,
    explicit: Option<&Path>,
    models: Option<&Path>,
    scenario_path: &Path,
) -> Result<Resolved, String> {
    if let Some(path) = explicit {
        return load_file(path).map(|profile| Resolved { profile, origin: path.display().to_string() });
    }
    let name = scn.spec.gpu.get_ref().as_str();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(scn.err(&scn.spec.gpu, "gpu", "not a GPU profile name").to_string());
    }
    match by_name(name, models, scenario_path)? {
        Some(r) => Ok(r),
        None => {
            let known: Vec<&str> = BUILT_IN.iter().map(|(n, _, _)| *n).collect();
            Err(scn.err(&scn.spec.gpu, "gpu", format!("unknown GPU `{name}`; known: {}", known.join(", "))).to_string())
        }
    }
}

/// A profile by name, as `resolve` finds it (`anchor`: the file naming it, whose directory and
/// those above it may hold a `models/`); None when no profile has that name.
pub fn by_name(name: &str, models: Option<&Path>, anchor: &Path) -> Result<Option<Resolved>, String> {
    if let Some(path) = find_in(&explicit_dirs(models)?, name) {
        return load_file(&path).map(|profile| Some(Resolved { profile, origin: path.display().to_string() }));
    }
    if let Some(p) = builtin(name) {
        return Ok(Some(Resolved { profile: p?, origin: "built-in".into() }));
    }
    // A GPU of the user's own: models/ beside or above the file naming it.
    let abs = std::fs::canonicalize(anchor).unwrap_or_else(|_| anchor.to_path_buf());
    let beside: Vec<PathBuf> = abs.ancestors().skip(1).map(|d| d.join("models")).filter(|m| m.is_dir()).collect();
    match find_in(&beside, name) {
        Some(path) => load_file(&path).map(|profile| Some(Resolved { profile, origin: path.display().to_string() })),
        None => Ok(None),
    }
}

/// Bundled profiles by device: (what the name the driver reports contains, profile name). More
/// specific names first (an "H200" is not an "H100"; "L40S" before "L4").
pub const BY_DEVICE_NAME: [(&str, &str); 6] = [
    ("H200", "h200"),
    ("H100", "h100-sxm"),
    ("4090", "rtx-4090"),
    ("A100", "a100-sxm"),
    ("L40S", "l40s"),
    ("L4", "l4"),
];

/// Boards of a bundled chip that are other cards: fewer SMs, other clocks or power limits
/// (an H100 PCIe has 114 SMs and 350 W; an H100 or H200 NVL and an A100 PCIe other limits; a
/// GH200's GPU is its own board).
const OTHER_BOARDS: [&str; 3] = ["PCIE", "NVL", "GH200"];

/// The bundled profile of a device, by the name the driver reports (None: not one bundled,
/// other boards of a bundled chip included).
pub fn for_device(device: &str) -> Option<&'static str> {
    let d = device.to_ascii_uppercase();
    if OTHER_BOARDS.iter().any(|b| d.contains(b)) {
        return None;
    }
    BY_DEVICE_NAME.iter().find(|(k, _)| d.contains(k)).map(|(_, v)| *v)
}

/// The names of the built-in profiles.
pub fn builtin_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _, _)| *n).collect()
}

/// A bundled profile by name: the calibrated one where there is one.
pub fn builtin(name: &str) -> Option<Result<GpuProfile, String>> {
    let (_, datasheet, calibrated) = BUILT_IN.iter().find(|(n, _, _)| *n == name)?;
    let (label, text) = match calibrated {
        Some(c) => (format!("<built-in {name}.calibrated>"), *c),
        None => (format!("<built-in {name}>"), *datasheet),
    };
    Some(GpuProfile::from_toml(&label, text).map_err(|e| e.to_string()))
}

/// A bundled datasheet profile by name (what calibration starts from).
pub fn builtin_datasheet(name: &str) -> Option<Result<GpuProfile, String>> {
    let (_, text, _) = BUILT_IN.iter().find(|(n, _, _)| *n == name)?;
    Some(GpuProfile::from_toml(&format!("<built-in {name}>"), text).map_err(|e| e.to_string()))
}

pub fn load_file(path: &Path) -> Result<GpuProfile, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read GPU profile: {e}", path.display()))?;
    GpuProfile::from_toml(&path.display().to_string(), &text).map_err(|e: InputError| e.to_string())
}
