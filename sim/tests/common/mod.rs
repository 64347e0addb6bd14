//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use simgpu_sim::spec::{Arrivals, BlockWork, ClientSpec, KernelSpec, Layout, OpKind, Timing, WorkloadSpec};
use simgpu_sim::{Engine, GpuProfile, Report, Workload};

pub fn h100() -> GpuProfile {
    GpuProfile::from_toml("h100-sxm.toml", include_str!("../../../models/gpus/h100-sxm.toml")).expect("profile parses")
}

/// A client launching `requests` times one kernel of `grid` 1024-thread blocks, each block
/// doing `flops` of FP32 work and moving `dram_bytes` (of an unstated read/write mix).
pub fn client(name: &str, grid: u64, flops: f64, dram_bytes: f64, requests: u64) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        requests: Some(requests),
        warmup_requests: 0,
        arrivals: Arrivals::ClosedLoop { think_us: 0.0 },
        timing: Timing::Host,
        unit: "requests".into(),
        units_per_request: 1.0,
        cuda_graph: false,
        kernels: vec![KernelSpec {
            name: "k".into(),
            grid,
            threads_per_block: 1024,
            regs_per_thread: 32,
            smem_bytes: 0,
            per_block: BlockWork { flops, dram_bytes, dram_write_share: None, instructions: 0.0, link_bytes: 0.0 },
            op: OpKind::Fp32,
            host_gap_us: None,
            sync: false,
            repeat: 1,
        }],
        groups: Vec::new(),
    }
}

pub fn workload(clients: Vec<ClientSpec>) -> WorkloadSpec {
    WorkloadSpec { name: "test".into(), seed: 1, duration_s: 1000.0, clients }
}

/// Runs GPU 0 with the engine's invariants (the SM limits of every space among them) checked
/// after every event, and every block launched also completed.
pub fn run_checked(w: &Workload) -> Report {
    let mut e = Engine::new(w.gpu(0), None);
    while e.step() {
        e.check_invariants().expect("invariants hold after every event");
    }
    let (launched, completed) = e.block_counts();
    assert_eq!(launched, completed);
    e.finish()
}

/// Builds `spec` on `layout` (which must be valid) and runs it checked.
pub fn run_on(gpu: &GpuProfile, spec: &WorkloadSpec, layout: &Layout) -> Report {
    run_checked(&Workload::build(spec, layout, gpu).expect("a valid layout"))
}

/// A recorder that keeps nothing (recording must not change a report).
pub struct Nothing;

impl simgpu_sim::trace::Recorder for Nothing {
    fn gpu(&mut self, _: &simgpu_sim::trace::GpuInfo) {}
    fn span(&mut self, _: u32, _: &simgpu_sim::trace::Span<'_>) {}
    fn sample(&mut self, _: u32, _: simgpu_sim::trace::Sample, _: simgpu_sim::Ns, _: f64) {}
    fn end(&mut self, _: u32, _: simgpu_sim::Ns) {}
}
