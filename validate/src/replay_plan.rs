//! A scenario's client as the kernel replayer runs it on a card: the pure mapping from a
//! [`ClientSpec`] and the GPU profile its scenario resolves to, to the harness's
//! [`ReplayClient`]. Nothing here touches a GPU; `simgpu validate replay` runs the result.
//!
//! The mapping keeps what the simulator is told and nothing else:
//! - grid, block and declared shared memory as written;
//! - residency: the blocks per SM the simulator's occupancy calculator gives the kernel on an
//!   empty SM (its registers included), which the replayer holds by padding shared memory;
//! - arithmetic: the kernel's FLOPs per block on the unit its `op` names, in the replay kernels'
//!   units (for fp32 and int32 also its warp instructions, where those take longer to issue: the
//!   simulator times a block by whichever is longer);
//! - DRAM: its bytes per block, split into reads and writes by its write share (half and half
//!   where unknown, as the simulator costs it);
//! - host gaps (the profile's launch time where the scenario gives none), syncs, repeats and
//!   groups (unrolled), CUDA graphs, arrivals and timing.

use simgpu_harness::replay::{Arrivals, ReplayClient, ReplayKernel, Unit};
use simgpu_harness::replay_kernels::{
    FP32_OPS_PER_UNIT, INT32_OPS_PER_UNIT, TENSOR16_OPS_PER_UNIT_PER_WARP, TENSOR8_OPS_PER_UNIT_PER_WARP,
};
use simgpu_sim::spec::{self, ClientSpec, KernelSpec, OpKind, Timing};
use simgpu_sim::{blocks_per_empty_sm, BlockShape, GpuProfile};

/// Most blocks in a replayed grid: CUDA's limit on `gridDim.x`.
pub const MAX_REPLAY_GRID: u64 = (1 << 31) - 1;
/// Warp instructions one unit of the fp32 and int32 replay kernels issues (8 FMAs or IMADs).
const INSTRUCTIONS_PER_UNIT: f64 = 8.0;

/// Why a client cannot be replayed: the kernel (by index and name) and what stands in the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPlanError {
    pub client: String,
    pub message: String,
}

impl std::fmt::Display for ReplayPlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "client `{}` cannot be replayed: {}", self.client, self.message)
    }
}

impl std::error::Error for ReplayPlanError {}

/// The replayer's client for `c` of a workload with `seed`, on a GPU described by `gpu`.
/// `index` is the client's place in the scenario (it seeds its Poisson stream apart from the others').
pub fn replay_client(
    c: &ClientSpec,
    index: usize,
    seed: u64,
    gpu: &GpuProfile,
) -> Result<ReplayClient, ReplayPlanError> {
    let err = |i: usize, k: &KernelSpec, m: String| ReplayPlanError {
        client: c.name.clone(),
        message: format!("kernels[{i}] (`{}`): {m}", k.name),
    };
    let mut kernels = Vec::with_capacity(c.kernels.len());
    for (i, k) in c.kernels.iter().enumerate() {
        kernels.push(replay_kernel(k, gpu).map_err(|m| err(i, k, m))?);
    }
    let arrivals = match c.arrivals {
        spec::Arrivals::ClosedLoop { think_us } => Arrivals::ClosedLoop { think_us },
        spec::Arrivals::Poisson { rate_per_s } => Arrivals::Poisson { rate_per_s, seed: mix(seed, index as u64) },
    };
    Ok(ReplayClient {
        name: c.name.clone(),
        kernels,
        sequence: c.launch_sequence(),
        cuda_graph: c.cuda_graph,
        arrivals,
        gpu_timed: c.timing == Timing::CudaEvents,
        warmup_requests: c.warmup_requests,
        requests: c.requests,
    })
}

fn replay_kernel(k: &KernelSpec, gpu: &GpuProfile) -> Result<ReplayKernel, String> {
    let w = &k.per_block;
    if w.link_bytes > 0.0 {
        return Err("it moves bytes over the GPU link (a collective); the replayer runs one GPU".into());
    }
    if k.grid > MAX_REPLAY_GRID {
        return Err(format!(
            "a grid of {} blocks, more than CUDA launches in one dimension ({MAX_REPLAY_GRID})",
            k.grid
        ));
    }
    let threads = k.threads_per_block;
    let shape = BlockShape { threads, regs_per_thread: k.regs_per_thread, smem_bytes: k.smem_bytes };
    let blocks_per_sm = blocks_per_empty_sm(gpu, &shape);
    let (unit, units) = arithmetic(k)?;
    let share = w.dram_write_share.unwrap_or(0.5);
    let words = |bytes: f64| -> Result<u32, String> {
        let n = (bytes / 16.0).round();
        if n.is_finite() && (0.0..=u32::MAX as f64).contains(&n) {
            Ok(n as u32)
        } else {
            Err(format!("{} DRAM bytes per block, more than the replayer moves per block (64 GiB)", w.dram_bytes))
        }
    };
    Ok(ReplayKernel {
        name: k.name.clone(),
        grid: k.grid as u32,
        threads,
        smem_bytes: k.smem_bytes,
        blocks_per_sm,
        unit,
        units_per_thread: units,
        read_words: words(w.dram_bytes * (1.0 - share))?,
        write_words: words(w.dram_bytes * share)?,
        host_gap_us: k.host_gap_us.unwrap_or(gpu.launch.host_launch_us.value),
        sync: k.sync,
    })
}

/// The replay unit and units per thread that do a block's work.
fn arithmetic(k: &KernelSpec) -> Result<(Unit, u64), String> {
    let w = &k.per_block;
    let threads = k.threads_per_block as f64;
    let warps = k.threads_per_block.div_ceil(32) as f64;
    let by_instructions = w.instructions / (warps * INSTRUCTIONS_PER_UNIT);
    let (unit, units) = match k.op {
        OpKind::Fp32 => (Unit::Fp32, (w.flops / (threads * FP32_OPS_PER_UNIT)).max(by_instructions)),
        OpKind::Int32 => (Unit::Int32, (w.flops / (threads * INT32_OPS_PER_UNIT)).max(by_instructions)),
        OpKind::Fp16Tensor | OpKind::Bf16Tensor | OpKind::Fp8Tensor => {
            let full_warps = (k.threads_per_block / 32) as f64;
            let per_warp =
                if k.op == OpKind::Fp8Tensor { TENSOR8_OPS_PER_UNIT_PER_WARP } else { TENSOR16_OPS_PER_UNIT_PER_WARP };
            if full_warps == 0.0 && w.flops > 0.0 {
                return Err(format!(
                    "{} work in a block of {} threads: tensor instructions need a full warp of 32",
                    k.op.as_str(),
                    k.threads_per_block
                ));
            }
            let unit = match k.op {
                OpKind::Fp16Tensor => Unit::Fp16Tensor,
                OpKind::Bf16Tensor => Unit::Bf16Tensor,
                _ => Unit::Fp8Tensor,
            };
            (unit, if w.flops > 0.0 { w.flops / (full_warps * per_warp) } else { 0.0 })
        }
    };
    let units = units.round();
    if !(units.is_finite() && units >= 0.0 && units <= u64::MAX as f64) {
        return Err(format!("{} FLOPs per block cannot be replayed", w.flops));
    }
    Ok((unit, units as u64))
}

/// A client's Poisson seed from the workload's: splitmix64 of the two, so that clients differ.
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simgpu_sim::Scenario;

    fn client(toml: &str) -> (ClientSpec, GpuProfile) {
        let text = format!("name = \"t\"\ngpu = \"h100\"\nsharing = \"timeslice\"\n{toml}");
        let s = Scenario::parse("t.toml", &text).unwrap();
        let (w, _) = s.to_spec();
        let gpu = GpuProfile::from_toml("h100-sxm.toml", include_str!("../../models/gpus/h100-sxm.toml")).unwrap();
        (w.clients[0].clone(), gpu)
    }

    #[test]
    fn a_kernels_work_becomes_units_words_and_residency() {
        let (c, gpu) = client(
            r#"
[[clients]]
name = "a"
timing = "cuda_events"
[[clients.kernels]]
name = "fma"
grid = 264
block = 256
regs_per_thread = 32
flops_per_block = 4096000.0
dram_bytes_per_block = 32000.0
dram_write_share = 0.25
repeat = 3
[[clients.kernels]]
name = "mma"
grid = 132
block = 128
regs_per_thread = 128
op = "bf16_tensor"
flops_per_block = 65536000.0
host_gap_us = 7.5
sync = true
"#,
        );
        let r = replay_client(&c, 0, 1, &gpu).unwrap();
        let (fma, mma) = (&r.kernels[0], &r.kernels[1]);
        // 4.096e6 FLOPs / (256 threads x 16 per unit).
        assert_eq!((fma.unit, fma.units_per_thread), (Unit::Fp32, 1000));
        // 32000 bytes: 24000 read, 8000 written, in 16-byte words.
        assert_eq!((fma.read_words, fma.write_words), (1500, 500));
        // 256 threads x 32 registers: the thread limit (2048) allows 8 blocks per SM.
        assert_eq!(fma.blocks_per_sm, 8);
        assert_eq!(fma.host_gap_us, gpu.launch.host_launch_us.value);
        // 6.5536e7 FLOPs / (4 warps x 16384 per unit); 128 registers x 128 threads: 4 per SM.
        assert_eq!((mma.unit, mma.units_per_thread), (Unit::Bf16Tensor, 1000));
        assert_eq!(mma.blocks_per_sm, 4);
        assert_eq!((mma.host_gap_us, mma.sync), (7.5, true));
        assert_eq!(r.sequence, vec![(0, 3), (1, 1)]);
        assert!(r.gpu_timed);
        assert_eq!(r.arrivals, Arrivals::ClosedLoop { think_us: 0.0 });
    }

    #[test]
    fn warp_instructions_set_the_work_where_they_take_longer() {
        let (c, gpu) = client(
            r#"
[[clients]]
name = "a"
[[clients.kernels]]
name = "copy"
grid = 8
block = 128
regs_per_thread = 32
instructions_per_block = 3200.0
dram_bytes_per_block = 1.0
"#,
        );
        let k = &replay_client(&c, 0, 1, &gpu).unwrap().kernels[0];
        // 3200 warp instructions / (4 warps x 8 per unit); one byte rounds to no word.
        assert_eq!((k.units_per_thread, k.read_words, k.write_words), (100, 0, 0));
    }

    #[test]
    fn what_one_gpu_cannot_replay_is_refused_with_the_kernel() {
        let (c, gpu) = client(
            r#"
[[clients]]
name = "a"
[[clients.kernels]]
name = "tiny"
grid = 1
block = 16
regs_per_thread = 32
op = "fp16_tensor"
flops_per_block = 100.0
"#,
        );
        let e = replay_client(&c, 0, 1, &gpu).unwrap_err().to_string();
        assert!(e.contains("client `a`") && e.contains("kernels[0] (`tiny`)") && e.contains("full warp"), "{e}");
        let (c, gpu) = client(
            "[[clients]]\nname = \"a\"\n[[clients.kernels]]\nname = \"big\"\ngrid = 4294967296\nblock = 32\nregs_per_thread = 32\nflops_per_block = 1.0\n",
        );
        let e = replay_client(&c, 0, 1, &gpu).unwrap_err().to_string();
        assert!(e.contains("4294967296 blocks"), "{e}");
    }

    #[test]
    fn poisson_clients_get_streams_of_their_own() {
        let (c, gpu) = client(
            "[[clients]]\nname = \"a\"\narrival_rate_per_s = 100.0\n[[clients.kernels]]\nname = \"k\"\ngrid = 1\nblock = 32\nregs_per_thread = 32\nflops_per_block = 1.0\n",
        );
        let seed = |i| match replay_client(&c, i, 7, &gpu).unwrap().arrivals {
            Arrivals::Poisson { seed, rate_per_s } => {
                assert_eq!(rate_per_s, 100.0);
                seed
            }
            a => panic!("{a:?}"),
        };
        assert_ne!(seed(0), seed(1));
        assert_eq!(seed(1), seed(1));
    }

    proptest::proptest! {
        /// The replay does the kernel's work: units times the ops per unit are its FLOPs to
        /// within half a unit per thread, words its bytes to within half a word each way, and
        /// the residency is the simulator's.
        #[test]
        fn the_replay_does_the_kernels_work(
            threads in 1u32..=1024,
            regs in 16u32..=255,
            flops in 0.0f64..1e12,
            bytes in 0.0f64..1e9,
            share in 0.0f64..=1.0,
            tensor: bool,
        ) {
            let gpu = GpuProfile::from_toml("h100-sxm.toml", include_str!("../../models/gpus/h100-sxm.toml")).unwrap();
            let threads = if tensor { threads.max(32) } else { threads };
            let k = KernelSpec {
                name: "k".into(),
                grid: 1000,
                threads_per_block: threads,
                regs_per_thread: regs,
                smem_bytes: 0,
                per_block: spec::BlockWork { flops, dram_bytes: bytes, dram_write_share: Some(share), ..Default::default() },
                op: if tensor { OpKind::Bf16Tensor } else { OpKind::Fp32 },
                host_gap_us: None,
                sync: false,
                repeat: 1,
            };
            let r = replay_kernel(&k, &gpu).unwrap();
            let per_unit = if tensor {
                (threads / 32) as f64 * TENSOR16_OPS_PER_UNIT_PER_WARP
            } else {
                threads as f64 * FP32_OPS_PER_UNIT
            };
            proptest::prop_assert!((r.units_per_thread as f64 * per_unit - flops).abs() <= 0.5 * per_unit + flops * 1e-12);
            proptest::prop_assert!((r.read_words as f64 * 16.0 - bytes * (1.0 - share)).abs() <= 8.0 + 1e-6);
            proptest::prop_assert!((r.write_words as f64 * 16.0 - bytes * share).abs() <= 8.0 + 1e-6);
            let shape = BlockShape { threads, regs_per_thread: regs, smem_bytes: 0 };
            proptest::prop_assert_eq!(r.blocks_per_sm, blocks_per_empty_sm(&gpu, &shape));
            proptest::prop_assert!(r.blocks_per_sm <= gpu.sm.max_blocks.value);
        }
    }
}
