//! Named hosts: what a host machine and its engine spend launching a step. A host is an input of
//! its own (two machines with the same GPU differed by 25% in eager cost per kernel), never a
//! knob of a scenario. Each figure says where it was measured.

/// A host and engine's launch costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Host {
    pub name: &'static str,
    /// Eager PyTorch: host time per kernel launched.
    pub eager_per_kernel_us: f64,
    pub source: &'static str,
    /// Eager PyTorch: host time of one read of a device value on an idle GPU (`x.item()`:
    /// the copy, the stream sync, the return), paid after each kernel whose result the host
    /// reads inside a step. `None` where not measured.
    pub sync_us: Option<f64>,
    pub sync_source: &'static str,
}

/// The hosts measured so far.
pub const HOSTS: &[Host] = &[
    Host {
        name: "h100-lease-torch-eager",
        eager_per_kernel_us: 15.56,
        source: "the H100 machine's host (NVIDIA H100 80GB HBM3, driver 580.159.04, torch 2.11.0+cu130), \
                 2026-11-22: the Qwen2.5-7B decode step at batch 1 (host-bound) took 19445.2 us without the \
                 profiler for its 1250 kernels (tests/data/import/h100/qwen7b-decode-b1-eager.unprofiled.json)",
        sync_us: Some(14.66),
        sync_source: "the same host, 2026-12-05: median of 2000 `x.item()` on an idle GPU \
                      (interquartile 11.63-15.00 us; launching one small kernel: 10.41 us), \
                      tools/capture/sync_probe.py",
    },
    Host {
        name: "h200-lease-torch-eager",
        eager_per_kernel_us: 10.41,
        source: "the H200 machine's host (NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130), 2026-11-22: \
                 the Qwen2.5-7B decode step at batch 1 took 13590.4 us without the profiler for its 1306 kernels \
                 (tests/data/import/h200/qwen7b-decode-b1-eager.unprofiled.json)",
        sync_us: None,
        sync_source: "not measured",
    },
];

/// Device memory one torch process holds before any tensor of its own: the CUDA context, the
/// kernels loaded and cuBLAS's workspace after its first GEMM, outside torch's allocator.
pub const TORCH_CONTEXT_BYTES: f64 = 718_077_952.0;

/// Where [`TORCH_CONTEXT_BYTES`] was measured.
pub const TORCH_CONTEXT_SOURCE: &str = "torch 2.11.0+cu130 on an H200 (driver 580.159.04), 2026-12-03: device memory \
     in use less torch's reserved memory after one bf16 GEMM (tools/capture/gemm_sweep.py, \
     tests/data/gemm/h200-gemm-sweep.jsonl.gz meta.context_bytes)";

pub fn host(name: &str) -> Option<&'static Host> {
    HOSTS.iter().find(|h| h.name == name)
}
