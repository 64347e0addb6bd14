//! CUDA C compiled at run time with NVRTC for the device's own compute capability: no nvcc at
//! build time, one binary for every GPU.

use crate::device::{check_nvrtc, Gpu};
use crate::error::HarnessError;
use cudarc::driver::CudaModule;
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use std::sync::Arc;

/// The NVRTC virtual architecture for a compute capability, e.g. (9, 0) -> "compute_90".
pub fn arch_for(cc: (i32, i32)) -> String {
    format!("compute_{}{}", cc.0, cc.1)
}

/// Compiles CUDA C for `gpu`'s compute capability and loads it as one module. `name` is the
/// file name NVRTC shows in its messages.
///
/// Load every module before any timed launch: loading waits for running kernels, which would
/// otherwise show up inside a measurement.
pub fn compile_module(gpu: &Gpu, name: &str, src: &str) -> Result<Arc<CudaModule>, HarnessError> {
    compile_module_with(gpu, name, src, &[])
}

/// [`compile_module`] with more NVRTC options (e.g. `--maxrregcount=32`).
pub fn compile_module_with(gpu: &Gpu, name: &str, src: &str, extra: &[&str]) -> Result<Arc<CudaModule>, HarnessError> {
    check_nvrtc()?;
    let mut options = vec![format!("--gpu-architecture={}", arch_for(gpu.info().compute_capability))];
    options.extend(extra.iter().map(|o| o.to_string()));
    let opts = CompileOptions {
        // `CompileOptions::arch` wants a `&'static str`; the flag itself takes any string.
        options,
        name: Some(name.into()),
        ..Default::default()
    };
    let ptx = compile_ptx_with_opts(src, opts)?;
    Ok(gpu.ctx().load_module(ptx)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_string() {
        assert_eq!(arch_for((9, 0)), "compute_90");
        assert_eq!(arch_for((8, 9)), "compute_89");
    }
}
