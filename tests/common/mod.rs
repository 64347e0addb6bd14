//! Helpers shared by the integration tests.
#![allow(dead_code)]

use simgpu_sim::{GpuProfile, Scenario, Workload};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary in `dir`: (exit status, stdout, stderr).
pub fn simgpu(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_simgpu")).args(args).current_dir(dir).output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Writes a file in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub const H100: &str = include_str!("../../models/gpus/h100-sxm.toml");

pub fn h100() -> GpuProfile {
    GpuProfile::from_toml("h100-sxm.toml", H100).expect("bundled profile parses")
}

pub fn workload(text: &str, gpu: &GpuProfile) -> Workload {
    let s = Scenario::parse("test.toml", text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    s.bind(gpu).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// One kernel of a generated scenario.
#[derive(Debug, Clone)]
pub struct K {
    pub grid: u64,
    pub block: u32,
    pub regs: u32,
    pub smem: u32,
    pub flops: f64,
    pub bytes: f64,
    pub op: &'static str,
    pub gap_us: f64,
    pub sync: bool,
}

impl K {
    pub fn toml(&self, i: usize) -> String {
        format!(
            "[[clients.kernels]]\nname = \"k{i}\"\ngrid = {}\nblock = {}\nregs_per_thread = {}\nsmem_bytes = {}\nflops_per_block = {:?}\ndram_bytes_per_block = {:?}\nop = \"{}\"\nhost_gap_us = {:?}\nsync = {}\n",
            self.grid, self.block, self.regs, self.smem, self.flops, self.bytes, self.op, self.gap_us, self.sync
        )
    }
}

pub fn scenario(sharing: &str, clients: &[(u64, Option<f64>, Vec<K>)], duration_s: f64) -> String {
    let mut s = format!("gpu = \"h100-sxm\"\nsharing = \"{sharing}\"\nduration_s = {duration_s:?}\n");
    for (ci, (requests, pct, ks)) in clients.iter().enumerate() {
        s += &format!("\n[[clients]]\nname = \"c{ci}\"\nrequests = {requests}\n");
        if let (Some(p), "mps") = (pct, sharing) {
            s += &format!("mps_thread_percentage = {p:?}\n");
        }
        for (i, k) in ks.iter().enumerate() {
            s += &k.toml(i);
        }
    }
    s
}

/// A calibrated profile by the short GPU name the traces use ("h100", "h200"), and the name
/// scenarios give it.
pub fn calibrated(gpu: &str) -> (GpuProfile, &'static str) {
    match gpu {
        "h100" => (
            GpuProfile::from_toml("h100-sxm", include_str!("../../models/gpus/h100-sxm.calibrated.toml")).unwrap(),
            "h100-sxm",
        ),
        _ => (GpuProfile::from_toml("h200", include_str!("../../models/gpus/h200.calibrated.toml")).unwrap(), "h200"),
    }
}

fn gunzip(path: &Path) -> String {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut s).unwrap();
    s
}

/// A committed traced step (tests/data/import/GPU/NAME), imported as `simgpu import` does and
/// run alone (three steps) on the GPU's calibrated profile, beside the trace.
pub fn traced_step(gpu: &str, name: &str) -> simgpu_import::compare::Comparison {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import").join(gpu);
    let trace = gunzip(&dir.join(format!("{name}.json.gz")));
    // The CUDA-graph step launches the eager step's kernels: its Nsight Compute rows serve both.
    let ncu_path = dir.join(format!("{}.ncu.csv.gz", name.replace("-graph", "-eager")));
    let ncu = ncu_path.exists().then(|| gunzip(&ncu_path));
    let unprofiled: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.unprofiled.json"))).unwrap()).unwrap();
    let opts = simgpu_import::Options {
        step: simgpu_import::StepChoice::Auto,
        host_step_us: unprofiled["mean_step_us"].as_f64(),
        name: name.to_string(),
    };
    let im = simgpu_import::import(&trace, ncu.as_deref(), &opts).unwrap();
    let (p, pname) = calibrated(gpu);
    let text = simgpu_import::render::scenario(&im, name, pname);
    let mut scn = Scenario::parse(name, &text).unwrap();
    if let Some(c) = scn.spec.clients.get_mut().first_mut() {
        c.requests = Some(toml::Spanned::new(0..0, 3));
    }
    let w: Workload = scn.bind(&p).unwrap();
    simgpu_import::compare::compare(&im, &w).unwrap()
}
