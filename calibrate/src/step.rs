//! What a calibration step is: a named, typed value in [`crate::steps::TABLE`] that says what it
//! measures, what it fits and which profile parameters it writes, plus the [`Session`] its body
//! runs in (the open GPU, the profile being calibrated, the report being written).

use crate::calibrate::{Change, Options};
use crate::kernels::Kernels;
use crate::probe_kernels::ProbeKernels;
use serde::Serialize;
use simgpu_harness::{DeviceInfo, Gpu, HarnessError};
use simgpu_sim::profile::{GpuProfile, Param};
use std::fmt::Debug;

/// One profile parameter: the dotted name reports and `[sources]` checks use, and its place in
/// the profile.
pub struct Field<T: 'static> {
    pub name: &'static str,
    pub get: fn(&mut GpuProfile) -> &mut Param<T>,
}

impl<T> Clone for Field<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Field<T> {}

/// A parameter a step writes, whatever its type.
#[derive(Clone, Copy)]
pub enum Writes {
    F64(Field<f64>),
    U32(Field<u32>),
    Bool(Field<bool>),
}

impl Writes {
    pub fn name(&self) -> &'static str {
        match self {
            Writes::F64(f) => f.name,
            Writes::U32(f) => f.name,
            Writes::Bool(f) => f.name,
        }
    }

    /// The parameter's source key in `p`.
    pub fn source<'p>(&self, p: &'p mut GpuProfile) -> &'p mut String {
        match self {
            Writes::F64(f) => &mut (f.get)(p).source,
            Writes::U32(f) => &mut (f.get)(p).source,
            Writes::Bool(f) => &mut (f.get)(p).source,
        }
    }
}

/// A calibration step: one row of [`crate::steps::TABLE`].
pub struct Step {
    /// What `--only` calls it, and its key in the report.
    pub name: &'static str,
    /// What runs on the GPU (one line; `simgpu calibrate --help` shows it).
    pub measures: &'static str,
    /// How the samples become parameters.
    pub fits: &'static str,
    /// Every parameter the step may write; it writes no other.
    pub writes: &'static [Writes],
    /// Runs only with `--mps` (it starts an MPS daemon).
    pub needs_mps: bool,
    /// Runs whatever `--only` says, and its failure stops the calibration (the first step: it
    /// checks that the GPU matches the profile).
    pub always: bool,
    /// Measures, fits and writes; returns a one-line summary, or why nothing was fitted.
    pub run: fn(&mut Session) -> Result<String, HarnessError>,
}

impl Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("writes", &self.writes.iter().map(Writes::name).collect::<Vec<_>>())
            .field("needs_mps", &self.needs_mps)
            .field("always", &self.always)
            .finish_non_exhaustive()
    }
}

/// What earlier steps of this run measured that later ones use, unrounded. Where a step did not
/// run, later ones use the profile's value instead (the calibrated one, for `--only`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Found {
    pub fp32_flops_per_clk: Option<f64>,
    pub warps_to_saturate_issue: Option<f64>,
    /// Launch round trip of a process that is not an MPS client, us.
    pub plain_launch_round_trip_us: Option<f64>,
    pub bf16_tensor_flops_per_clk: Option<f64>,
}

/// Everything a step's body works with.
pub struct Session<'a> {
    pub gpu: &'a Gpu,
    pub kernels: &'a Kernels,
    pub probes: &'a ProbeKernels,
    pub opts: &'a Options,
    pub found: Found,
    pub(crate) profile: GpuProfile,
    /// The `[sources]` key that written values name.
    pub(crate) source: String,
    pub(crate) changes: Vec<Change>,
    /// The report's `steps`: samples and fits by key.
    pub(crate) samples: serde_json::Map<String, serde_json::Value>,
    /// The step running now (for the check that it writes only what it declares).
    pub(crate) current: &'static Step,
}

impl Session<'_> {
    pub fn info(&self) -> &DeviceInfo {
        self.gpu.info()
    }

    /// The profile as calibrated so far.
    pub fn profile(&self) -> &GpuProfile {
        &self.profile
    }

    /// Writes a fitted value, with this calibration as its source, and notes the change.
    pub fn set<T: Debug>(&mut self, field: &Field<T>, v: T) {
        debug_assert!(
            self.current.writes.iter().any(|w| w.name() == field.name),
            "step `{}` writes {} but does not list it in `writes`",
            self.current.name,
            field.name
        );
        let param = (field.get)(&mut self.profile);
        self.changes.push(Change {
            parameter: field.name.into(),
            before: format!("{:?} ({})", param.value, param.source),
            after: format!("{v:?}"),
        });
        param.value = v;
        param.source = self.source.clone();
    }

    /// Keeps samples or a fit in the report under `key`.
    pub fn record(&mut self, key: &str, v: impl Serialize) {
        self.samples.insert(key.into(), to_json(&v));
    }

    /// FP32 FLOP per clock per SM: this run's `fma` step, else the profile's.
    pub fn fp32_flops_per_clk(&self) -> f64 {
        self.found.fp32_flops_per_clk.unwrap_or(self.profile.rates.fp32_flops_per_clk.value)
    }

    /// Warps that fill an SM's issue slots: this run's `issue` step, else the profile's.
    pub fn warps_to_saturate_issue(&self) -> f64 {
        self.found.warps_to_saturate_issue.unwrap_or(self.profile.sharing.warps_to_saturate_issue.value)
    }

    /// Dense bf16 tensor FLOP per clock per SM: this run's `gemm` step, else the profile's.
    pub fn bf16_tensor_flops_per_clk(&self) -> f64 {
        self.found.bf16_tensor_flops_per_clk.unwrap_or(self.profile.rates.bf16_tensor_flops_per_clk.value)
    }
}

pub fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// `x` rounded to `digits` decimals (profiles keep what the measurement supports).
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
