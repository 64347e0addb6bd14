//! simgpu calibration: CUDA microbenchmarks run on a real GPU, and the fits that turn their
//! samples into GPU-profile parameters. What touches the GPU without being specific to
//! calibration (library checks, context, NVRTC, worker processes, MPS daemon, NVML sampling,
//! timing) is [`simgpu_harness`], re-exported as [`harness`].
//!
//! A calibration is the table of steps in [`steps::TABLE`]: each [`step::Step`] names what it
//! measures, what it fits and the profile parameters it writes; [`calibrate::run`] runs them in
//! turn and writes the fitted values, with their provenance, into a profile.
//!
//! | microbenchmark | kernel | fits (profile field) |
//! |---|---|---|
//! | [`bench_fma`] | `fma_loop` (seed 000's kernel), 1 .. 2x SMs blocks of 1024 threads | FP32 FLOP/clk/SM (`rates.fp32_flops_per_clk`) via [`fit::fit_fma_rate`] |
//! | [`bench_dram`] | `stream_copy`, 1 .. 4x SMs blocks, 1 GiB moved | per-SM and GPU-wide DRAM bandwidth (`memory.per_sm_bw_gbs`, `memory.achievable_bw_gbs`) via [`fit::fit_bandwidth`] |
//! | [`bench_launch`] | `empty` (and `spin` to queue launches) | host launch cost (`launch.host_launch_us`), launch-to-start latency (`launch.launch_latency_us`), shortest kernel (`launch.block_min_us`) |
//! | [`bench_sharing`] | `probe` alone with 1..32 warps; beside `seed_fma` on another stream | issue saturation (`sharing.warps_to_saturate_issue`), carve-out in one context (`sharing.carveout_locked_in_context`) |
//! | [`bench_gemm`] | cuBLAS bf16 GEMM | tensor rate (`rates.bf16_tensor_flops_per_clk`, `rates.fp16_tensor_flops_per_clk`) |
//! | [`bench_gemm_fp8`] | cuBLASLt e4m3 GEMM, bf16 out | fp8 tensor rate (`rates.fp8_tensor_flops_per_clk`) |
//! | [`bench_gemm_latency`] | cuBLAS bf16 `x·Wᵀ`, 1-256 rows, L2 flushed | tensor-core block latency (`launch.tensor_block_latency_us`) against the simulated GEMM |
//! | [`bench_timeslice`] | `slice_spin` in two processes | time slice and switch cost (`sharing.timeslice_us`, `sharing.context_switch_us`) |
//! | [`bench_mps`] (`--mps`) | worker clients of an MPS daemon of our own | cap granularity, MPS launch cost, carve-out and issue share across clients |
//! | [`bench_power`] | `nap`, `long_fma` on k SMs, copies, GEMMs under NVML | the power model (`power.*`), the clock controller (`clock.step_mhz`, `clock.period_ms`, `clock.gain`) |
//!
//! Rates per clock use the SM clock sampled by NVML during each run
//! ([`simgpu_harness::clock`]); without NVML the maximum clock is assumed and every sample says so.
//!
//! Every failure is a [`HarnessError`]. CUDA, NVRTC and NVML are loaded at run time: this crate
//! builds, and its fitting tests run, on machines without any GPU, where [`calibrate::run`]
//! returns [`HarnessError::NoCudaDriver`] (never a panic).

pub use simgpu_harness as harness;
pub use simgpu_harness::HarnessError;

pub mod bench_dram;
pub mod bench_fma;
pub mod bench_gemm;
pub mod bench_gemm_fp8;
pub mod bench_gemm_latency;
pub mod bench_launch;
pub mod bench_mps;
pub mod bench_power;
pub mod bench_sharing;
pub mod bench_timeslice;
pub mod calibrate;
pub mod fit;
pub mod fit_power;
pub mod kernels;
pub mod probe_kernels;
pub mod roles;
pub mod step;
pub mod steps;

pub use bench_dram::{run_dram, DramConfig, DramSample};
pub use bench_fma::{run_fma, FmaConfig, FmaSample};
pub use bench_launch::{run_launch, LaunchBenchConfig, LaunchResult};
pub use fit::{fit_bandwidth, fit_fma_rate, fit_linear, summarize, BandwidthFit, FmaRateFit, LinearFit, Summary};
pub use kernels::Kernels;
pub use roles::{run_worker, Role};
pub use step::{Field, Session, Step, Writes};
pub use steps::{select, TABLE};
