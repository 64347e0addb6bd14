//! Sharing modes: how the clients of one partition share its SMs. One file per mode, each owning
//! its rules and the profile parameters it reads; the engine sees only the [`Arrangement`] a mode
//! makes (contexts, processes, SM caps, launch latency, time-slicing), never the mode itself.
//!
//! To add a mode: a file here with a unit struct implementing [`Mode`], a variant of
//! [`crate::spec::Sharing`], and its line in [`mode`].

mod dedicated;
pub mod mps;
mod streams;
pub(crate) mod timeslice;

use crate::event_queue::Ns;
use crate::profile::GpuProfile;
use crate::spec::{Partition, Sharing, SpecError};

/// What a mode decides for one member of a partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MemberPlan {
    /// Context (SM space) of the partition it runs in.
    pub context: usize,
    /// Process within the partition: blocks of different processes follow the cross-client rules.
    pub process: usize,
    /// Distinct SMs its blocks may hold at once.
    pub sm_cap: u32,
    /// From the launch call until the kernel can start on an idle GPU.
    pub launch_latency_us: f64,
    /// Host time each launch call costs beyond a plain context's (MPS clients).
    pub host_launch_extra_us: f64,
}

/// Contexts that take turns on the same SMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SliceParams {
    pub slice_ns: Ns,
    pub switch_ns: Ns,
}

/// A mode's arrangement of one partition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arrangement {
    /// One per member, in the partition's order.
    pub members: Vec<MemberPlan>,
    /// Contexts, each seeing all of the partition's SMs.
    pub contexts: usize,
    /// Some: the contexts are time-sliced; None: they run at once (a single context).
    pub time_slice: Option<SliceParams>,
}

pub(crate) trait Mode {
    /// Rules on the members (how many, which per-client settings apply).
    fn check(&self, p: &Partition) -> Result<(), SpecError>;
    /// Contexts, processes, caps and latencies of the members.
    fn arrange(&self, p: &Partition, partition_sms: u32, gpu: &GpuProfile) -> Arrangement;
}

pub(crate) fn mode(s: Sharing) -> &'static dyn Mode {
    match s {
        Sharing::Dedicated => &dedicated::Dedicated,
        Sharing::Streams => &streams::Streams,
        Sharing::Timeslice => &timeslice::Timeslice,
        Sharing::Mps => &mps::Mps,
    }
}

pub(crate) fn check_partition(p: &Partition) -> Result<(), SpecError> {
    mode(p.sharing).check(p)
}

/// Per-client MPS settings are an error outside MPS.
fn no_mps_percentages(p: &Partition) -> Result<(), SpecError> {
    match p.members.iter().find(|m| m.mps_thread_percentage.is_some()) {
        Some(m) => Err(SpecError::new(
            format!("clients[{}].mps_thread_percentage", m.client),
            "only applies with sharing = \"mps\"",
        )),
        None => Ok(()),
    }
}

/// All members in one process and one context, uncapped.
fn one_context(p: &Partition, partition_sms: u32, gpu: &GpuProfile) -> Arrangement {
    let plan = MemberPlan {
        context: 0,
        process: 0,
        sm_cap: partition_sms,
        launch_latency_us: gpu.launch.launch_latency_us.value,
        host_launch_extra_us: 0.0,
    };
    Arrangement { members: vec![plan; p.members.len()], contexts: 1, time_slice: None }
}
