//! A scenario bound to a GPU profile: the engine's input, with every derived quantity
//! (footprints, per-block work, caps, latencies in ns) computed once.

use crate::event_queue::{us_to_ns, Ns};
use crate::input_error::InputError;
use crate::occupancy::{BlockShape, Footprint, SmLimits};
use crate::profile::GpuProfile;
use crate::scenario::{OpKind, Scenario, Sharing, Timing};

#[derive(Debug, Clone)]
pub struct KernelSpec {
    pub name: String,
    pub client: usize,
    pub footprint: Footprint,
    pub grid: u64,
    pub flops_per_block: f64,
    pub bytes_per_block: f64,
    /// Warp instructions per block (0 when the scenario does not say).
    pub instructions_per_block: f64,
    pub op: OpKind,
    pub host_gap_ns: Ns,
    pub sync: bool,
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: String,
    /// Processes decide issue classes and carve-out rules (streams mode: one process).
    pub process: usize,
    /// SM space: one per context (timeslice: one per client; else one shared).
    pub space: usize,
    /// Kernel indices (into Workload::kernels) launched by one request, in stream order.
    pub ops: Vec<u32>,
    /// Distinct kernel indices of this client, for reporting.
    pub kernel_ids: Vec<u32>,
    pub requests: Option<u64>,
    pub warmup: u64,
    pub think_ns: Ns,
    pub arrival_rate_per_s: Option<f64>,
    pub timing: Timing,
    pub unit: String,
    pub units_per_request: f64,
    pub sm_cap: u32,
    pub mps_percentage: Option<f64>,
    pub launch_latency_ns: Ns,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub gpu: GpuProfile,
    pub limits: SmLimits,
    pub sharing: Sharing,
    pub seed: u64,
    pub horizon_ns: Ns,
    pub clients: Vec<ClientSpec>,
    pub kernels: Vec<KernelSpec>,
}

/// Simulated horizon when a scenario gives none.
pub const DEFAULT_DURATION_S: f64 = 60.0;

impl Workload {
    pub fn build(scn: &Scenario, gpu: &GpuProfile) -> Result<Workload, InputError> {
        scn.check_against(gpu)?;
        let spec = &scn.spec;
        let limits = SmLimits::from_profile(gpu);
        let n_sms = gpu.sm_count();
        let mut clients = Vec::new();
        let mut kernels: Vec<KernelSpec> = Vec::new();
        for (ci, c) in spec.clients.get_ref().iter().enumerate() {
            let mut ops = Vec::new();
            let mut kernel_ids = Vec::new();
            for k in c.kernels.get_ref() {
                let grid = k.grid.get_ref().total().unwrap_or(1);
                let threads = k.block.get_ref().total().unwrap_or(1) as u32;
                let shape = BlockShape {
                    threads,
                    regs_per_thread: *k.regs_per_thread.get_ref(),
                    smem_bytes: *k.smem_bytes.get_ref(),
                };
                let per_block =
                    |total: &Option<toml::Spanned<f64>>, per: &Option<toml::Spanned<f64>>| match (total, per) {
                        (Some(t), _) => *t.get_ref() / grid as f64,
                        (_, Some(p)) => *p.get_ref(),
                        _ => 0.0,
                    };
                let id = kernels.len() as u32;
                kernels.push(KernelSpec {
                    name: k.name.clone(),
                    client: ci,
                    footprint: Footprint::new(gpu, &limits, &shape),
                    grid,
                    flops_per_block: per_block(&k.flops, &k.flops_per_block),
                    bytes_per_block: per_block(&k.dram_bytes, &k.dram_bytes_per_block),
                    instructions_per_block: per_block(&k.instructions, &k.instructions_per_block),
                    op: k.op,
                    host_gap_ns: us_to_ns(
                        k.host_gap_us.as_ref().map(|h| *h.get_ref()).unwrap_or(gpu.launch.host_launch_us.value),
                    ),
                    sync: k.sync,
                });
                kernel_ids.push(id);
                ops.extend(std::iter::repeat_n(id, *k.repeat.get_ref() as usize));
            }
            let pct = c.mps_thread_percentage.as_ref().map(|p| *p.get_ref());
            let sm_cap = match (spec.sharing, pct) {
                (Sharing::Mps, Some(p)) => {
                    crate::mps::sm_cap(p, n_sms, gpu.sharing.mps_sm_granularity.value, gpu.sharing.mps_min_sms.value)
                }
                _ => n_sms,
            };
            let mut latency = gpu.launch.launch_latency_us.value;
            if spec.sharing == Sharing::Mps {
                latency += gpu.launch.mps_extra_latency_us.value;
            }
            clients.push(ClientSpec {
                name: c.name.get_ref().clone(),
                process: if spec.sharing == Sharing::Streams { 0 } else { ci },
                space: if spec.sharing == Sharing::Timeslice { ci } else { 0 },
                ops,
                kernel_ids,
                requests: c.requests.as_ref().map(|r| *r.get_ref()),
                warmup: c.warmup_requests,
                think_ns: us_to_ns(*c.think_us.get_ref()),
                arrival_rate_per_s: c.arrival_rate_per_s.as_ref().map(|r| *r.get_ref()),
                timing: c.timing,
                unit: c.unit.clone(),
                units_per_request: *c.units_per_request.get_ref(),
                sm_cap,
                mps_percentage: pct,
                launch_latency_ns: us_to_ns(latency),
            });
        }
        let duration = spec.duration_s.as_ref().map(|d| *d.get_ref()).unwrap_or(DEFAULT_DURATION_S);
        Ok(Workload {
            name: scn.name(),
            gpu: gpu.clone(),
            limits,
            sharing: spec.sharing,
            seed: spec.seed,
            horizon_ns: (duration * 1e9) as Ns,
            clients,
            kernels,
        })
    }

    /// Number of SM spaces (contexts that each see the whole GPU).
    pub fn spaces(&self) -> usize {
        self.clients.iter().map(|c| c.space + 1).max().unwrap_or(1)
    }

    /// The workload of one client alone (dedicated mode runs one of these per client).
    pub fn only_client(&self, ci: usize) -> Workload {
        let mut w = self.clone();
        let keep: Vec<u32> = self.clients[ci].kernel_ids.clone();
        let remap = |id: u32| keep.iter().position(|&k| k == id).unwrap_or(0) as u32;
        let mut c = self.clients[ci].clone();
        c.ops = c.ops.iter().map(|&id| remap(id)).collect();
        c.kernel_ids = (0..keep.len() as u32).collect();
        c.process = 0;
        c.space = 0;
        w.kernels = keep.iter().map(|&id| KernelSpec { client: 0, ..self.kernels[id as usize].clone() }).collect();
        w.clients = vec![c];
        w
    }
}
