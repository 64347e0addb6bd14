//! `simgpu import`: real workloads in. Reads a PyTorch profiler trace (and, optionally, an
//! Nsight Compute CSV of the same step) and builds a typed client ([`simgpu_sim::spec::ClientSpec`])
//! with one kernel entry per traced kernel, repeated layers folded into a group, and notes that
//! say where every figure came from and what was assumed. Callers pass text, apart from
//! Nsight Systems exports, which are SQLite files read through `rusqlite`.

pub mod compare;
pub mod ncu_csv;
pub mod nsys_sqlite;
pub mod op_flops;
pub mod render;
pub mod repeat;
pub mod torch_trace;

use simgpu_sim::spec::{BlockWork, ClientSpec, KernelGroup, KernelSpec, OpKind, Timing};
use torch_trace::{short_name, TracedKernel};

/// Which profiler step to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepChoice {
    /// The last complete `ProfilerStep#N` (the whole trace when there is none).
    Auto,
    Number(u64),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub step: StepChoice,
    /// The step's host time measured without the profiler, microseconds: host gaps are scaled
    /// to it (a profiler inflates them).
    pub host_step_us: Option<f64>,
    /// The client's name.
    pub name: String,
}

/// A client imported from a trace, with the traced durations to compare against.
#[derive(Debug, Clone)]
pub struct Imported {
    pub client: ClientSpec,
    /// The GPU the trace was taken on, as the trace names it.
    pub gpu_name: Option<String>,
    /// Per kernel entry: the traced duration in microseconds, averaged over the entry's repeats.
    pub traced_us: Vec<f64>,
    /// The step imported and the kernels in it.
    pub step_label: String,
    pub kernels_in_step: usize,
    /// What was read, assumed or left out, for the user (also written into the scenario).
    pub notes: Vec<String>,
    /// Per kernel entry, where its DRAM bytes came from ("ncu", "shapes" or "none").
    pub bytes_source: Vec<&'static str>,
}

/// Matrix-multiply-like ops and kernels run on tensor cores (in their input's precision).
fn is_matmul(op: Option<&str>, kernel: &str) -> bool {
    let op_mm = op.is_some_and(|o| {
        [
            "aten::mm",
            "aten::addmm",
            "aten::_addmm_activation",
            "aten::bmm",
            "aten::baddbmm",
            "aten::matmul",
            "aten::linear",
            "aten::_scaled_mm",
        ]
        .contains(&o)
            || o.contains("scaled_dot_product")
            || o.contains("flash")
    });
    let k = kernel.to_ascii_lowercase();
    // cuBLASLt's split-K reduction runs inside the matmul op but sums fp32 partials on the
    // FP32 units (no tensor-core pipeline, so no tensor block latency).
    if k.contains("splitkreduce") {
        return false;
    }
    op_mm || ["gemm", "xmma", "cutlass", "nvjet", "flash", "fmha", "wgmma", "gemv"].iter().any(|p| k.contains(p))
}

fn op_kind(k: &TracedKernel) -> OpKind {
    let op = k.op.as_ref();
    if !is_matmul(op.map(|o| o.name.as_str()), &k.full_name) {
        return OpKind::Fp32;
    }
    match (op, op.and_then(|o| o.dtype.as_deref())) {
        (_, Some("c10::BFloat16")) => OpKind::Bf16Tensor,
        (_, Some("c10::Half")) => OpKind::Fp16Tensor,
        (_, Some(t)) if t.contains("Float8") => OpKind::Fp8Tensor,
        // No op around it (a CUDA graph's replay): the kernel's name says it multiplies; cuBLASLt
        // names its fp8 kernels `qq...` (e4m3 inputs), and bf16 is the serving default.
        (None, _) if k.full_name.contains("_qqtst_") || k.full_name.contains("e4m3") => OpKind::Fp8Tensor,
        (None, _) => OpKind::Bf16Tensor,
        // An op of another dtype, or one recorded without shapes: not known to be tensor work.
        (Some(_), _) => OpKind::Fp32,
    }
}

/// Kernels of a step, its label, and its host span (start, duration in microseconds) when
/// a marker gave one.
type Selected<'a> = (Vec<&'a TracedKernel>, String, Option<(f64, f64)>);

/// Kernels of the chosen step, and its label and host span (microseconds).
fn select_step<'a>(
    t: &'a torch_trace::Trace,
    choice: StepChoice,
    notes: &mut Vec<String>,
) -> Result<Selected<'a>, String> {
    let step = match choice {
        StepChoice::Number(n) => Some(
            t.steps
                .iter()
                .find(|s| s.number == n)
                .ok_or_else(|| format!("no ProfilerStep#{n} in the trace (it has {})", list_steps(t)))?,
        ),
        // The last step may be cut short by the profiler's end; take the last one that has kernels.
        StepChoice::Auto => t.steps.iter().rev().find(|s| t.kernels.iter().any(|k| in_span(k.launch_ts, s.ts, s.dur))),
    };
    match step {
        Some(s) => {
            let ks: Vec<&TracedKernel> = t.kernels.iter().filter(|k| in_span(k.launch_ts, s.ts, s.dur)).collect();
            Ok((ks, format!("ProfilerStep#{}", s.number), Some((s.ts, s.dur))))
        }
        None => {
            notes.push(
                "no ProfilerStep# markers: the whole trace is one request (take the trace with a \
                 torch.profiler schedule to mark steps)"
                    .into(),
            );
            Ok((t.kernels.iter().collect(), "the whole trace".into(), None))
        }
    }
}

fn in_span(x: f64, ts: f64, dur: f64) -> bool {
    x >= ts && x <= ts + dur
}

fn list_steps(t: &torch_trace::Trace) -> String {
    if t.steps.is_empty() {
        return "no ProfilerStep# markers".into();
    }
    t.steps.iter().map(|s| format!("#{}", s.number)).collect::<Vec<_>>().join(", ")
}

/// Imports one step of a PyTorch profiler trace, with Nsight Compute figures when given.
pub fn import(trace_text: &str, ncu_text: Option<&str>, opts: &Options) -> Result<Imported, String> {
    import_trace(torch_trace::parse(trace_text)?, ncu_text, opts)
}

/// Imports one step of a trace read by any reader (PyTorch profiler, Nsight Systems).
pub fn import_trace(t: torch_trace::Trace, ncu_text: Option<&str>, opts: &Options) -> Result<Imported, String> {
    let mut notes = Vec::new();
    if t.kernels.is_empty() {
        return Err(format!(
            "the trace has no GPU kernels linked to launch calls ({} kernel events without one): take it \
             with activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]",
            t.unlinked
        ));
    }
    let (ks, step_label, span) = select_step(&t, opts.step, &mut notes)?;
    if ks.is_empty() {
        return Err(format!("{step_label} launched no kernels"));
    }
    let streams: std::collections::BTreeSet<i64> = ks.iter().map(|k| k.stream).collect();
    if streams.len() > 1 {
        notes.push(format!("kernels on {} streams ({streams:?}) are imported as one in-order stream", streams.len()));
    }

    // Host gaps: start to start of launch calls, from the step's start. Kernels of one call
    // (a CUDA graph replay) follow each other with no host time between them.
    let step_start = span.map_or(ks[0].launch_ts, |s| s.0);
    let mut gaps = Vec::with_capacity(ks.len());
    let mut prev: Option<(f64, i64)> = None;
    for k in &ks {
        let gap = match prev {
            Some((_, corr)) if corr == k.correlation => 0.0,
            Some((ts, _)) => k.launch_ts - ts,
            None => k.launch_ts - step_start,
        };
        gaps.push(gap.max(0.0));
        prev = Some((k.launch_ts, k.correlation));
    }
    let graph = ks.windows(2).filter(|w| w[0].correlation == w[1].correlation).count();
    // Most of the step from graph launches: the client replays a CUDA graph.
    let cuda_graph = 2 * (graph + 1) > ks.len();
    if graph > 0 {
        notes.push(format!("{} kernels came from CUDA graph launches: no host time between them", graph + 1));
    }
    let traced_host: f64 = gaps.iter().sum();
    // The host's time in a step is taken to be its launches: start of the step to the last
    // launch call. The profiler's own work at the step's end is left out.
    let scale = match opts.host_step_us {
        // A step longer than its launches waited for the GPU: the launches stay as traced.
        Some(h) if traced_host > h => {
            let s = h / traced_host;
            notes.push(format!(
                "host gaps scaled by {s:.3}: the step took {h:.0} us without the profiler, its launches \
                 {traced_host:.0} us under it (the profiler inflates host time)"
            ));
            s
        }
        Some(h) => {
            notes.push(format!(
                "host gaps as traced: the step took {h:.0} us without the profiler, longer than its launches \
                 ({traced_host:.0} us), so it waited for the GPU"
            ));
            1.0
        }
        None => {
            notes.push(format!(
                "WARNING: host gaps as traced ({traced_host:.0} us of launches in the step), which the profiler \
                 inflates; give the step time measured without it (--host-step-us)"
            ));
            1.0
        }
    };

    // Work figures.
    let ncu = match ncu_text {
        Some(text) => Some(ncu_csv::parse(text)?),
        None => None,
    };
    // Kernels per op, and matmul-like kernels per op (FLOPs from shapes go to those alone).
    let mut per_op: std::collections::HashMap<i64, (usize, usize)> = std::collections::HashMap::new();
    let matmul: Vec<bool> =
        ks.iter().map(|k| is_matmul(k.op.as_ref().map(|o| o.name.as_str()), &k.full_name)).collect();
    for (k, &mm) in ks.iter().zip(&matmul) {
        if let Some(o) = &k.op {
            let e = per_op.entry(o.external_id).or_default();
            e.0 += 1;
            e.1 += mm as usize;
        }
    }
    let (mut n_flops, mut n_shape_flops, mut n_ncu, mut n_shapes, mut n_none) = (0, 0, 0, 0, 0);
    let mut joined = 0usize;
    let mut ncu_at = 0usize;
    let mut join_stopped: Option<String> = None;
    let mut entries = Vec::with_capacity(ks.len());
    let mut sources = Vec::with_capacity(ks.len());
    for (i, k) in ks.iter().enumerate() {
        let name = short_name(&k.full_name);
        let (share, mm_share) = k.op.as_ref().map_or((1.0, 1.0), |o| {
            let (n, mm) = per_op.get(&o.external_id).copied().unwrap_or((1, 1));
            (n.max(1) as f64, mm.max(1) as f64)
        });
        // An op's FLOPs go to its matmul-like kernels where it has any (a split-K reduction
        // beside the GEMM adds partials; the multiply is the GEMM's), else to all its kernels.
        let has_mm = k.op.as_ref().is_some_and(|o| per_op.get(&o.external_id).is_some_and(|e| e.1 > 0));
        let profiled = match (k.op.as_ref().and_then(|o| o.flops), has_mm) {
            (Some(f), true) if matmul[i] => Some(f / mm_share),
            (Some(_), true) => None,
            (f, _) => f.map(|f| f / share),
        };
        let shaped = match (&k.op, profiled) {
            (Some(o), None) if matmul[i] => op_flops::from_shapes(o).map(|f| f / mm_share),
            _ => None,
        };
        n_flops += profiled.is_some() as usize;
        n_shape_flops += shaped.is_some() as usize;
        let flops = profiled.or(shaped);
        // Nsight Compute rows join in launch order while names agree.
        let mut from_ncu = None;
        if let (Some(rows), None) = (&ncu, &join_stopped) {
            match rows.get(ncu_at) {
                Some(r) if short_name(&r.name) == name => {
                    from_ncu = Some(r.clone());
                    ncu_at += 1;
                    joined += 1;
                }
                Some(r) => {
                    join_stopped = Some(format!(
                        "Nsight Compute rows stop matching at kernel {i} of the step (`{name}` against `{}`)",
                        r.name
                    ))
                }
                None => join_stopped = Some(format!("the Nsight Compute CSV ends after {ncu_at} kernels")),
            }
        }
        let write_share = from_ncu.as_ref().and_then(|r| r.dram_write_share);
        let (dram, source) =
            match (from_ncu.as_ref().and_then(|r| r.dram_bytes), k.op.as_ref().and_then(|o| o.input_bytes)) {
                (Some(b), _) => {
                    n_ncu += 1;
                    (b, "ncu")
                }
                // Inputs read once and an output as large as the biggest input: a guess, said so.
                (None, Some(b)) if b > 0.0 => {
                    n_shapes += 1;
                    (2.0 * b / share, "shapes")
                }
                _ => {
                    n_none += 1;
                    (0.0, "none")
                }
            };
        let grid = k.grid.max(1);
        let instructions = from_ncu.as_ref().and_then(|r| r.instructions).unwrap_or(0.0);
        entries.push(KernelSpec {
            name,
            grid,
            threads_per_block: k.block.clamp(1, u32::MAX as u64) as u32,
            regs_per_thread: k.regs_per_thread,
            smem_bytes: k.smem_bytes.min(u32::MAX as u64) as u32,
            per_block: BlockWork {
                flops: flops.unwrap_or(0.0) / grid as f64,
                dram_bytes: dram / grid as f64,
                // Profiled directions; the shapes' guess (inputs read once, an output as large as
                // the biggest input) says half written.
                dram_write_share: if source == "ncu" {
                    write_share
                } else if source == "shapes" {
                    Some(0.5)
                } else {
                    None
                },
                instructions: instructions / grid as f64,
                link_bytes: 0.0,
            },
            op: op_kind(k),
            host_gap_us: Some(gaps[i] * scale),
            sync: false,
            repeat: 1,
        });
        sources.push(source);
    }
    // A kernel followed by a synchronisation before the next launch makes the host wait.
    let step_end = span.map_or(f64::INFINITY, |(ts, dur)| ts + dur);
    for (i, e) in entries.iter_mut().enumerate() {
        // The last launch's window ends with its step (a later step's synchronisation is not its).
        let next = ks.get(i + 1).map_or(step_end, |k| k.launch_ts);
        e.sync = t.syncs.iter().any(|&s| s > ks[i].launch_ts && s < next);
    }
    let n = ks.len();
    notes.push(format!(
        "work: FLOPs from the profiler for {n_flops} of {n} kernels, from the input shapes for {n_shape_flops} \
         (fused matmuls and attention, which with_flops=True leaves out); the rest run on their bytes and \
         instructions only"
    ));
    notes.push(format!(
        "DRAM bytes: Nsight Compute for {n_ncu}, estimated from input shapes for {n_shapes} (inputs read \
         once plus an output as large as them), none for {n_none}"
    ));
    if ncu.is_some() {
        notes.push(format!("Nsight Compute rows joined to {joined} of {n} kernels"));
        if let Some(why) = join_stopped {
            notes.push(why);
        }
    }
    notes.push("grids, blocks, registers and shared memory are as traced; on another GPU they stay so".into());

    let traced: Vec<f64> = ks.iter().map(|k| k.dur_us).collect();
    let (kernels, groups, traced_us, bytes_source) = fold_layers(entries, traced, sources, &mut notes);
    let client = ClientSpec {
        name: opts.name.clone(),
        requests: Some(100),
        warmup_requests: 1,
        arrivals: simgpu_sim::spec::Arrivals::ClosedLoop { think_us: 0.0 },
        timing: Timing::Host,
        unit: "steps".into(),
        units_per_request: 1.0,
        cuda_graph,
        kernels,
        groups,
    };
    Ok(Imported {
        client,
        gpu_name: t.gpu_name.clone(),
        traced_us,
        step_label,
        kernels_in_step: n,
        notes,
        bytes_source,
    })
}

type Folded = (Vec<KernelSpec>, Vec<KernelGroup>, Vec<f64>, Vec<&'static str>);

/// Folds the longest run of a repeated block of kernels into one group (its entries take the
/// mean host gap, work and traced duration over the repeats).
fn fold_layers(
    entries: Vec<KernelSpec>,
    traced: Vec<f64>,
    sources: Vec<&'static str>,
    notes: &mut Vec<String>,
) -> Folded {
    // What identifies a kernel launch across layers (its host gap and work may differ), as a
    // small integer: the search compares many pairs.
    let mut ids = std::collections::HashMap::new();
    let seq: Vec<u32> = entries
        .iter()
        .map(|e| {
            let key = (e.name.as_str(), e.grid, e.threads_per_block, e.regs_per_thread, e.smem_bytes, e.op as u8);
            let next = ids.len() as u32;
            *ids.entry(key).or_insert(next)
        })
        .collect();
    if seq.len() > repeat::MAX_KERNELS {
        notes.push(format!(
            "{} kernels: more than the {} searched for repeated layers; every kernel is its own entry",
            seq.len(),
            repeat::MAX_KERNELS
        ));
        return (entries, Vec::new(), traced, sources);
    }
    let Some(r) = repeat::find(&seq) else {
        notes.push("no repeated block of kernels found: every kernel is its own entry".into());
        return (entries, Vec::new(), traced, sources);
    };
    let (start, period, times) = (r.start, r.period, r.times);
    let mut kernels = entries[..start].to_vec();
    let mut traced_out = traced[..start].to_vec();
    let mut src_out = sources[..start].to_vec();
    for j in 0..period {
        let reps: Vec<usize> = (0..times).map(|t| start + t * period + j).collect();
        let mean = |f: &dyn Fn(&KernelSpec) -> f64| reps.iter().map(|&i| f(&entries[i])).sum::<f64>() / times as f64;
        let mut e = entries[start + j].clone();
        e.host_gap_us = Some(mean(&|k| k.host_gap_us.unwrap_or(0.0)));
        e.per_block = BlockWork {
            flops: mean(&|k| k.per_block.flops),
            dram_bytes: mean(&|k| k.per_block.dram_bytes),
            // Written bytes over all bytes of the repeats (each layer's own share, weighted).
            dram_write_share: e.per_block.dram_write_share.map(|_| {
                let all = mean(&|k| k.per_block.dram_bytes);
                let written = mean(&|k| k.per_block.dram_bytes * k.per_block.dram_write_share.unwrap_or(0.5));
                if all > 0.0 {
                    written / all
                } else {
                    0.5
                }
            }),
            instructions: mean(&|k| k.per_block.instructions),
            link_bytes: mean(&|k| k.per_block.link_bytes),
        };
        e.sync = reps.iter().any(|&i| entries[i].sync);
        kernels.push(e);
        traced_out.push(reps.iter().map(|&i| traced[i]).sum::<f64>() / times as f64);
        let first = sources[start + j];
        src_out.push(if reps.iter().all(|&i| sources[i] == first) {
            first
        } else {
            "ncu for some layers, shapes for others (mean)"
        });
    }
    let end = start + period * times;
    kernels.extend_from_slice(&entries[end..]);
    traced_out.extend_from_slice(&traced[end..]);
    src_out.extend_from_slice(&sources[end..]);
    notes.push(format!(
        "kernels {start}..{end} are one block of {period} kernels repeated {times} times: written as the group `layer`"
    ));
    let groups = vec![KernelGroup { name: "layer".into(), first: start, len: period, repeat: times as u32 }];
    (kernels, groups, traced_out, src_out)
}

/// The built-in profile name for a GPU name as a trace gives it.
pub fn profile_for(gpu_name: &str) -> Option<&'static str> {
    let g = gpu_name.to_ascii_lowercase();
    if g.contains("h200") {
        Some("h200")
    } else if g.contains("h100") {
        Some("h100-sxm")
    } else if g.contains("a100") {
        Some("a100-sxm")
    } else if g.contains("l40s") {
        Some("l40s")
    } else if g.contains("4090") {
        Some("rtx-4090")
    } else if g.contains(" l4") || g.ends_with("l4") {
        Some("l4")
    } else {
        None
    }
}
