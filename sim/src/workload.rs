//! A workload spec and a layout bound to a GPU profile: the engine's input, with every derived
//! quantity (footprints, per-block work, contexts, caps, latencies in ns, bandwidth pools)
//! computed once. One [`GpuWorkload`] per GPU of the layout; GPUs do not interact yet, so each
//! is simulated on its own.

use crate::event_queue::{us_to_ns, Ns};
use crate::gpu_params::GpuParams;
use crate::occupancy::{BlockShape, Footprint};
use crate::profile::GpuProfile;
use crate::report::{ClientReport, GpuStats, ProfileUsed, Report, SimStats};
use crate::sharing::{self, SliceParams};
use crate::sm_set::SmSet;
use crate::spec::{Arrivals, Layout, OpKind, Slice, SpecError, Timing, WorkloadSpec};

/// A kernel bound to the profile.
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    pub name: String,
    pub footprint: Footprint,
    pub grid: u64,
    pub flops_per_block: f64,
    pub bytes_per_block: f64,
    /// What one of its DRAM bytes costs of the GPU-wide pool, in read bytes (its write share).
    pub bw_weight: f64,
    /// Warp instructions per block (0 when the scenario does not say).
    pub instructions_per_block: f64,
    pub op: OpKind,
    /// Time each block spends beside its work (pipeline fill and epilogue of tensor-core
    /// kernels, `launch.tensor_block_latency_us`); 0 for other kernels.
    pub block_latency_ns: f64,
    pub host_gap_ns: Ns,
    pub sync: bool,
    /// Bytes each block sends over the link (a collective's); 0 for other kernels.
    pub link_bytes_per_block: f64,
}

/// A run of identical launches in a request (a kernel with `repeat`), kept as one entry so that
/// memory does not grow with the repeat count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    pub kernel: u32,
    pub repeat: u32,
}

/// A client bound to its place in the layout.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub name: String,
    /// Index in the workload spec (seeds its arrival stream).
    pub global: usize,
    /// Blocks of different processes follow the cross-client rules.
    pub process: usize,
    /// SM space (context) it runs in.
    pub space: usize,
    /// Where the layout put it, for reports (None: one whole GPU).
    pub placement: Option<String>,
    /// GPUs it spans: 1, or its tensor-parallel degree (its collectives wait for every rank).
    pub ranks: u32,
    /// Launches of one request, in stream order.
    pub ops: Vec<Op>,
    /// Distinct kernels of this client, for reporting.
    pub kernel_ids: Vec<u32>,
    pub requests: Option<u64>,
    pub warmup: u64,
    pub think_ns: Ns,
    pub arrival_rate_per_s: Option<f64>,
    pub timing: Timing,
    pub unit: String,
    pub units_per_request: f64,
    pub sm_cap: u32,
    pub launch_latency_ns: Ns,
    /// From a kernel's end to the start of the next one already queued in its stream.
    pub queued_gap_ns: Ns,
    /// Added to every host gap before a launch (signed: an MPS client's call may be cheaper).
    pub host_launch_extra_ns: i64,
}

/// The SMs one context sees, and the bandwidth pool its blocks draw on.
#[derive(Debug, Clone)]
pub(crate) struct SpaceDef {
    pub sms: SmSet,
    pub pool: usize,
}

/// Spaces that take turns on the same SMs.
#[derive(Debug, Clone)]
pub(crate) struct SliceGroup {
    pub spaces: Vec<usize>,
    pub params: SliceParams,
}

/// What a report repeats of its run: the same for every GPU of a workload.
#[derive(Debug, Clone)]
pub(crate) struct RunMeta {
    pub name: String,
    /// The layout's label (the scenario's `sharing`).
    pub label: String,
    pub gpu_name: String,
    pub profile: ProfileUsed,
    pub seed: u64,
}

impl RunMeta {
    pub fn report(&self, simulated_s: f64, clients: Vec<ClientReport>, gpu_stats: GpuStats, sim: SimStats) -> Report {
        Report {
            scenario: self.name.clone(),
            gpu: self.gpu_name.clone(),
            profile: self.profile.clone(),
            sharing: self.label.clone(),
            seed: self.seed,
            simulated_s,
            clients,
            gpu_stats,
            per_gpu: Vec::new(),
            sim,
        }
    }
}

/// Everything the engine needs for one GPU.
#[derive(Debug, Clone)]
pub struct GpuWorkload {
    pub(crate) meta: RunMeta,
    pub(crate) params: GpuParams,
    pub(crate) clients: Vec<Client>,
    pub(crate) kernels: Vec<Kernel>,
    pub(crate) spaces: Vec<SpaceDef>,
    /// DRAM bandwidth of each pool, bytes per ns.
    pub(crate) pools: Vec<f64>,
    /// What the GPU sends to its peers, bytes per ns (0: the profile states no link).
    pub(crate) link_bw: f64,
    /// Some kernel moves bytes over the link (the progress model shares it then).
    pub(crate) has_collectives: bool,
    pub(crate) slice_groups: Vec<SliceGroup>,
    pub(crate) horizon_ns: Ns,
}

/// A workload bound to a layout and a GPU profile.
#[derive(Debug, Clone)]
pub struct Workload {
    pub(crate) meta: RunMeta,
    pub(crate) horizon_ns: Ns,
    pub(crate) gpus: Vec<GpuWorkload>,
}

impl Workload {
    /// Binds `spec` and `layout` to `gpu`. Every value is checked; errors name the field.
    pub fn build(spec: &WorkloadSpec, layout: &Layout, gpu: &GpuProfile) -> Result<Workload, SpecError> {
        spec.check()?;
        layout.check(spec)?;
        let placed = crate::partition::resolve(layout, gpu)?;
        let params = GpuParams::from_profile(gpu);
        // Kernels are checked against the profile once, wherever they run.
        for (ci, c) in spec.clients.iter().enumerate() {
            for (ki, k) in c.kernels.iter().enumerate() {
                check_kernel(gpu, k, &format!("clients[{ci}].kernels[{ki}]"))?;
            }
        }
        let ranks = ranks_of(spec, layout, gpu)?;
        let horizon_ns = (spec.duration_s * 1e9) as Ns;
        let calibration = gpu.calibration();
        let profile = ProfileUsed {
            name: gpu.name.clone(),
            origin: "in memory".into(),
            calibrated: calibration.is_some(),
            calibration_date: calibration.flatten(),
        };
        let meta = RunMeta {
            name: spec.name.clone(),
            label: layout.label.clone(),
            gpu_name: gpu.name.clone(),
            profile,
            seed: spec.seed,
        };
        let mut gpus = Vec::new();
        for (gi, (g, placed)) in layout.gpus.iter().zip(&placed).enumerate() {
            let mut w = GpuWorkload {
                meta: meta.clone(),
                params: params.clone(),
                clients: Vec::new(),
                kernels: Vec::new(),
                spaces: Vec::new(),
                pools: Vec::new(),
                link_bw: gpu.link.as_ref().map_or(0.0, |l| l.bw_gbs.value),
                has_collectives: false,
                slice_groups: Vec::new(),
                horizon_ns,
            };
            let mut processes = 0;
            // The GPU's shared DRAM pool, made when a partition first draws on it.
            let mut shared_pool = None;
            for (p, at) in g.partitions.iter().zip(placed) {
                let sms = SmSet::range(at.first as usize, at.count as usize);
                let plan = sharing::mode(p.sharing).arrange(p, sms.len(), gpu);
                // In read bytes per ns (a kernel's bytes weighted by its write share).
                let pool = match at.own_bandwidth_share {
                    Some(share) => {
                        w.pools.push(params.read_bw * share);
                        w.pools.len() - 1
                    }
                    None => *shared_pool.get_or_insert_with(|| {
                        w.pools.push(params.read_bw);
                        w.pools.len() - 1
                    }),
                };
                let first_space = w.spaces.len();
                w.spaces.extend((0..plan.contexts).map(|_| SpaceDef { sms, pool }));
                if let Some(params) = plan.time_slice {
                    w.slice_groups.push(SliceGroup { spaces: (first_space..w.spaces.len()).collect(), params });
                }
                let placement = (layout.gpus.len() > 1 || p.slice != Slice::Whole)
                    .then(|| format!("gpu {gi}: {} {}", p.slice.label(), p.sharing.as_str()));
                for (m, mp) in p.members.iter().zip(&plan.members) {
                    bind_client(&mut w, gpu, spec, m.client, processes + mp.process, first_space + mp.context, mp);
                    if let Some(c) = w.clients.last_mut() {
                        c.placement = placement.clone();
                        c.ranks = ranks[m.client];
                        if c.ranks > 1 {
                            // Reports show rank 0's partition (each rank's is alike or named in the layout).
                            c.placement = Some(format!(
                                "{} (tensor-parallel x{}, {}): {} {}",
                                gpus_label(layout, m.client),
                                c.ranks,
                                gpu.link.as_ref().map_or("no link", |l| l.kind.as_str()),
                                p.slice.label(),
                                p.sharing.as_str()
                            ));
                        }
                    }
                }
                processes += plan.members.iter().map(|m| m.process + 1).max().unwrap_or(0);
            }
            w.has_collectives = w.kernels.iter().any(|k| k.link_bytes_per_block > 0.0);
            gpus.push(w);
        }
        Ok(Workload { meta, horizon_ns, gpus })
    }

    /// Replaces the seed (e.g. `simgpu run --seed`).
    pub fn set_seed(&mut self, seed: u64) {
        self.metas().for_each(|m| m.seed = seed);
    }

    /// Where the profile came from ("built-in" or its file), for the report.
    pub fn set_profile_origin(&mut self, origin: &str) {
        self.metas().for_each(|m| m.profile.origin = origin.to_string());
    }

    /// The workload's own and each GPU's copy.
    fn metas(&mut self) -> impl Iterator<Item = &mut RunMeta> {
        std::iter::once(&mut self.meta).chain(self.gpus.iter_mut().map(|g| &mut g.meta))
    }

    pub fn gpu_count(&self) -> usize {
        self.gpus.len()
    }

    /// The part of the workload that runs on GPU `i` of the layout.
    pub fn gpu(&self, i: usize) -> &GpuWorkload {
        &self.gpus[i]
    }

    pub fn horizon_ns(&self) -> Ns {
        self.horizon_ns
    }
}

fn bind_client(
    w: &mut GpuWorkload,
    gpu: &GpuProfile,
    spec: &WorkloadSpec,
    ci: usize,
    process: usize,
    space: usize,
    plan: &sharing::MemberPlan,
) {
    let c = &spec.clients[ci];
    let mut ops = Vec::new();
    let mut kernel_ids = Vec::new();
    for k in &c.kernels {
        let shape =
            BlockShape { threads: k.threads_per_block, regs_per_thread: k.regs_per_thread, smem_bytes: k.smem_bytes };
        let id = w.kernels.len() as u32;
        w.kernels.push(Kernel {
            name: k.name.clone(),
            footprint: Footprint::new(gpu, &w.params.limits, &shape),
            grid: k.grid,
            flops_per_block: k.per_block.flops,
            bytes_per_block: k.per_block.dram_bytes,
            bw_weight: w.params.bandwidth_weight(k.per_block.dram_write_share),
            instructions_per_block: k.per_block.instructions,
            op: k.op,
            // A collective's fixed cost (its handshake across ranks) stands beside its bytes.
            block_latency_ns: if k.per_block.link_bytes > 0.0 {
                gpu.link.as_ref().map_or(0.0, |l| l.latency_us.value * 1000.0)
            } else if k.op.is_tensor() {
                gpu.launch.tensor_block_latency_us.value * 1000.0
            } else {
                0.0
            },
            host_gap_ns: us_to_ns(k.host_gap_us.unwrap_or(gpu.launch.host_launch_us.value)),
            sync: k.sync,
            link_bytes_per_block: k.per_block.link_bytes,
        });
        kernel_ids.push(id);
    }
    // Entry ids are consecutive from the client's first: groups unroll into run-length ops.
    let base = kernel_ids.first().copied().unwrap_or(0);
    for (entry, repeat) in c.launch_sequence() {
        ops.push(Op { kernel: base + entry as u32, repeat });
    }
    let (think_ns, arrival_rate_per_s) = match c.arrivals {
        Arrivals::ClosedLoop { think_us } => (us_to_ns(think_us), None),
        Arrivals::Poisson { rate_per_s } => (0, Some(rate_per_s)),
    };
    w.clients.push(Client {
        name: c.name.clone(),
        global: ci,
        process,
        space,
        placement: None,
        ranks: 1,
        ops,
        kernel_ids,
        requests: c.requests,
        warmup: c.warmup_requests,
        think_ns,
        arrival_rate_per_s,
        timing: c.timing,
        unit: c.unit.clone(),
        units_per_request: c.units_per_request,
        sm_cap: plan.sm_cap,
        launch_latency_ns: us_to_ns(plan.launch_latency_us),
        queued_gap_ns: us_to_ns(if c.cuda_graph {
            gpu.launch.graph_gap_us.value
        } else {
            gpu.launch.stream_gap_us.value
        }),
        host_launch_extra_ns: (plan.host_launch_extra_us * 1e3).round() as i64,
    });
}

/// Per client, the GPUs it spans. A client on several runs tensor-parallel: it needs
/// collectives (kernels with link bytes) and a GPU with a link; collectives need peers.
fn ranks_of(spec: &WorkloadSpec, layout: &Layout, gpu: &GpuProfile) -> Result<Vec<u32>, SpecError> {
    let ranks: Vec<u32> = (0..spec.clients.len()).map(|c| layout.gpus_of(c).len() as u32).collect();
    for (ci, c) in spec.clients.iter().enumerate() {
        let collective = c.kernels.iter().position(|k| k.per_block.link_bytes > 0.0);
        match (ranks[ci] > 1, collective) {
            (true, None) => {
                return Err(SpecError::new(
                    format!("clients[{ci}]"),
                    format!(
                        "`{}` spans {} GPUs: a tensor-parallel client needs its collectives (kernels with \
                         link_bytes, e.g. an all-reduce after attention and after the MLP)",
                        c.name, ranks[ci]
                    ),
                ))
            }
            (false, Some(k)) => {
                return Err(SpecError::new(
                    format!("clients[{ci}].kernels[{k}].link_bytes"),
                    "a collective needs peers: place the client on two or more GPUs (one partition on each)",
                ))
            }
            (true, Some(_)) if gpu.link.is_none() => {
                return Err(SpecError::new(
                    format!("clients[{ci}]"),
                    format!("GPU profile `{}` states no [link] for collectives between GPUs", gpu.name),
                ))
            }
            _ => {}
        }
    }
    Ok(ranks)
}

/// "gpus 0+1": the GPUs a client spans.
fn gpus_label(layout: &Layout, client: usize) -> String {
    let on: Vec<String> = layout.gpus_of(client).iter().map(usize::to_string).collect();
    format!("gpus {}", on.join("+"))
}

/// A kernel the GPU cannot run at all is an error, not a kernel that never starts.
fn check_kernel(gpu: &GpuProfile, k: &crate::spec::KernelSpec, at: &str) -> Result<(), SpecError> {
    let sm = &gpu.sm;
    let g = |x: &str| format!("{at}.{x}");
    let threads = k.threads_per_block;
    if threads > sm.max_threads_per_block.value {
        return Err(SpecError::new(
            g("block"),
            format!("{threads} threads per block; {} allows at most {}", gpu.name, sm.max_threads_per_block.value),
        ));
    }
    let regs = k.regs_per_thread;
    if regs == 0 || regs > sm.max_regs_per_thread.value {
        return Err(SpecError::new(
            g("regs_per_thread"),
            format!("must be 1 to {} on {}", sm.max_regs_per_thread.value, gpu.name),
        ));
    }
    let shape = BlockShape { threads, regs_per_thread: regs, smem_bytes: k.smem_bytes };
    let need = crate::occupancy::regs_per_block(gpu, &shape);
    if need > sm.registers.value {
        return Err(SpecError::new(
            g("regs_per_thread"),
            format!("a block needs {need} registers; an SM of {} has {}", gpu.name, sm.registers.value),
        ));
    }
    if k.smem_bytes as u64 > sm.smem_per_block_max_kb.value as u64 * 1024 {
        return Err(SpecError::new(
            g("smem_bytes"),
            format!("at most {} KB of shared memory per block on {}", sm.smem_per_block_max_kb.value, gpu.name),
        ));
    }
    let r = &gpu.rates;
    let (rate, what) = match k.op {
        OpKind::Fp32 => (r.fp32_flops_per_clk.value, "FP32 units"),
        OpKind::Fp16Tensor => (r.fp16_tensor_flops_per_clk.value, "FP16 tensor cores"),
        OpKind::Bf16Tensor => (r.bf16_tensor_flops_per_clk.value, "BF16 tensor cores"),
        OpKind::Fp8Tensor => (r.fp8_tensor_flops_per_clk.value, "FP8 tensor cores"),
        OpKind::Int32 => (r.int32_ops_per_clk.value, "INT32 units"),
    };
    if rate <= 0.0 && k.per_block.flops > 0.0 {
        return Err(SpecError::new(g("op"), format!("{} has no {what} (its rate is 0)", gpu.name)));
    }
    Ok(())
}
