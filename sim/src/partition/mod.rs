//! Hard partitions: which SMs and which DRAM pool each partition of a layout gets on its GPU.
//! One file per kind of slice, each owning its rules: [`sm_split`] (fixed SM partitions) and
//! [`mig`] (MIG GPU instances from the profile's table). A whole GPU needs no rules.
//!
//! A partition either draws on the GPU's one DRAM pool (whole GPU, SM partitions) or on a pool
//! of its own (a MIG instance's memory slices). Power and clock stay GPU-wide either way: the
//! engine runs one controller per GPU.

mod mig;
mod sm_split;

use crate::profile::GpuProfile;
use crate::spec::{GpuLayout, Layout, Slice, SpecError};

/// Where one partition lies on its GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// SMs `first .. first + count`. Which physical SMs a slice gets does not matter to the
    /// model, only how many and that slices do not share them.
    pub first: u32,
    pub count: u32,
    /// Some(share): a DRAM pool of its own with this share of the GPU's bandwidth (MIG memory
    /// slices); None: the GPU's shared pool.
    pub own_bandwidth_share: Option<f64>,
    /// Memory capacity the partition may use, GiB (the GPU's whole capacity when shared).
    pub capacity_gib: f64,
}

/// Resolves every partition of every GPU of `layout` on `gpu`, or says which rule it breaks.
/// The result is indexed like the layout: `[gpu][partition]`.
pub fn resolve(layout: &Layout, gpu: &GpuProfile) -> Result<Vec<Vec<Placed>>, SpecError> {
    layout.gpus.iter().enumerate().map(|(gi, g)| resolve_gpu(gi, g, gpu)).collect()
}

fn resolve_gpu(gi: usize, g: &GpuLayout, gpu: &GpuProfile) -> Result<Vec<Placed>, SpecError> {
    let at = |pi: usize, field: &str| format!("gpus[{gi}].partitions[{pi}].{field}");
    let kinds = |f: fn(&Slice) -> bool| g.partitions.iter().filter(|p| f(&p.slice)).count();
    let whole = kinds(|s| matches!(s, Slice::Whole));
    let migs = kinds(|s| matches!(s, Slice::Mig { .. }));
    let split = kinds(|s| matches!(s, Slice::Sms { .. }));
    if whole > 0 {
        if g.partitions.len() > 1 {
            let pi = g.partitions.iter().position(|p| p.slice == Slice::Whole).unwrap_or(0);
            return Err(SpecError::new(
                at(pi, "sms"),
                "a partition without `sms` or `mig` takes the whole GPU and shares it with no other partition",
            ));
        }
        let capacity_gib = gpu.memory.capacity_gb.value * 1e9 / GIB;
        return Ok(vec![Placed { first: 0, count: gpu.sm_count(), own_bandwidth_share: None, capacity_gib }]);
    }
    if migs > 0 && split > 0 {
        let pi = g.partitions.iter().position(|p| matches!(p.slice, Slice::Sms { .. })).unwrap_or(0);
        return Err(SpecError::new(
            at(pi, "sms"),
            "a GPU in MIG mode holds only MIG instances (SM partitions inside an instance are not modelled)",
        ));
    }
    if migs > 0 {
        mig::place(gi, g, gpu)
    } else {
        sm_split::place(gi, g, gpu)
    }
}

/// Bytes in a GiB (MIG tables state GiB; datasheets GB).
pub(crate) const GIB: f64 = (1u64 << 30) as f64;
