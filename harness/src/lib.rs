//! simgpu's GPU harness: everything that runs on a real GPU and is not specific to one kind of
//! measurement. `simgpu-calibrate` (microbenchmarks that fit a GPU profile) builds on it, and so
//! can any other crate that measures a GPU.
//!
//! | module | what |
//! |---|---|
//! | [`device`] | library checks before any cudarc call, the CUDA context and stream, NVML, device facts |
//! | [`nvrtc`] | CUDA C compiled at run time with NVRTC for the device's compute capability |
//! | [`timing`] | GPU time between CUDA events; 1-D launch configurations |
//! | [`clock`] | the SM clock sampled with NVML while work runs |
//! | [`power_sampler`] | power, clock, throttle reasons and energy sampled on a thread of their own |
//! | [`children`] | worker processes of the same binary (parent side): lines on stdin/stdout, killed and reaped on drop |
//! | [`worker`] | the worker side: dies with its parent, `ready`/`go` handshake, one JSON line |
//! | [`command_clients`] | the user's own commands as clients, run together (MPS or not) under a line protocol |
//! | [`replay`] | the kernel replayer: a scenario client's kernels launched on the card with its grid, residency, work, gaps and syncs |
//! | [`replay_kernels`] | the replayer's CUDA C (FMA, IMAD and MMA loops walking DRAM) |
//! | [`mps_daemon`] | an MPS control daemon in directories of its own, always stopped (Ctrl-C included) |
//! | [`error`] | every CUDA, NVRTC, NVML, process and MPS failure as a [`HarnessError`] value |
//!
//! CUDA, NVRTC, cuBLAS and NVML are loaded at run time: this crate builds, and its tests run, on
//! machines without any GPU, where [`Gpu::open`] returns [`HarnessError::NoCudaDriver`]. cudarc
//! panics when libcuda is missing, so every entry point checks the library first.
//!
//! [`cudarc`] and [`nvml_wrapper`] are re-exported so that crates built on this one use the same
//! versions and features (see this crate's Cargo.toml).

pub use cudarc;
pub use nvml_wrapper;

pub mod children;
pub mod clock;
pub mod command_clients;
pub mod device;
pub mod error;
pub mod mps_daemon;
pub mod nvrtc;
pub mod power_sampler;
pub mod replay;
pub mod replay_kernels;
pub mod timing;
pub mod worker;

pub use children::Worker;
pub use clock::{with_sm_clock, ClockReading, ClockSource};
pub use device::{
    check_cublas, check_cublaslt, check_cuda_driver, check_nvrtc, nvml_identity, probe, DeviceInfo, Gpu,
    MaxClockSource, NvmlIdentity,
};
pub use error::HarnessError;
pub use mps_daemon::MpsDaemon;
