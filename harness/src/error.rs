//! The one error type of everything that measures a GPU (this crate and the crates built on it,
//! such as `simgpu-calibrate`). Every CUDA, NVRTC, cuBLAS, NVML, worker and MPS failure ends here
//! as a value: the `simgpu` binary runs on machines without any GPU, and a missing library must
//! read as a clear message, never as a panic inside cudarc.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarnessError {
    /// The CUDA driver library (libcuda.so.1) could not be loaded.
    NoCudaDriver,
    /// The NVRTC library (libnvrtc.so.13) could not be loaded; kernels cannot be compiled.
    NoNvrtc,
    /// The cuBLAS library (libcublas.so.13) could not be loaded; GEMMs cannot run.
    NoCublas,
    /// The cuBLASLt library (libcublasLt.so.13) could not be loaded; fp8 GEMMs cannot run.
    NoCublasLt,
    /// The NVML library (libnvidia-ml.so.1) could not be loaded; clocks cannot be read.
    NoNvml,
    /// The driver loaded but reports no usable GPU (or not the requested ordinal).
    NoGpu,
    /// A CUDA driver call failed.
    Cuda(String),
    /// Kernel compilation with NVRTC failed.
    Nvrtc(String),
    /// An NVML call failed.
    Nvml(String),
    /// A worker process failed or could not be started.
    Process(String),
    /// The MPS control daemon could not be started or used.
    Mps(String),
    /// A measurement gave nothing usable (too few samples, a fit that failed, a GPU that does not
    /// match the profile it is measured against).
    Measurement(String),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::NoCudaDriver => write!(
                f,
                "CUDA driver not found: libcuda.so.1 could not be loaded (is the NVIDIA driver installed, \
                 and is this a machine with a GPU?)"
            ),
            HarnessError::NoNvrtc => write!(
                f,
                "NVRTC not found: libnvrtc.so.13 could not be loaded (install the CUDA toolkit or put its \
                 lib directory on LD_LIBRARY_PATH)"
            ),
            HarnessError::NoCublasLt => write!(
                f,
                "cuBLASLt not found: libcublasLt.so.13 could not be loaded (install the CUDA toolkit or put its \
                 lib directory on LD_LIBRARY_PATH)"
            ),
            HarnessError::NoCublas => write!(
                f,
                "cuBLAS not found: libcublas.so.13 could not be loaded (install the CUDA toolkit or put its \
                 lib directory on LD_LIBRARY_PATH)"
            ),
            HarnessError::NoNvml => write!(f, "NVML not found: libnvidia-ml.so.1 could not be loaded"),
            HarnessError::NoGpu => write!(f, "no CUDA GPU found (the driver loaded but reports no usable device)"),
            HarnessError::Cuda(msg) => write!(f, "CUDA driver error: {msg}"),
            HarnessError::Nvrtc(msg) => write!(f, "NVRTC error: {msg}"),
            HarnessError::Nvml(msg) => write!(f, "NVML error: {msg}"),
            HarnessError::Process(msg) => write!(f, "worker process: {msg}"),
            HarnessError::Mps(msg) => write!(f, "MPS: {msg}"),
            HarnessError::Measurement(msg) => write!(f, "measurement: {msg}"),
        }
    }
}

impl std::error::Error for HarnessError {}

/// Driver errors: "no device" is its own variant so that callers can tell a machine without a
/// GPU from a failing one.
impl From<cudarc::driver::DriverError> for HarnessError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        use cudarc::driver::sys::CUresult;
        match e.0 {
            CUresult::CUDA_ERROR_NO_DEVICE | CUresult::CUDA_ERROR_INVALID_DEVICE => HarnessError::NoGpu,
            // Debug of DriverError asks the driver for the error string (libcuda is loaded here).
            _ => HarnessError::Cuda(format!("{e:?}")),
        }
    }
}

impl From<cudarc::nvrtc::CompileError> for HarnessError {
    fn from(e: cudarc::nvrtc::CompileError) -> Self {
        use cudarc::nvrtc::CompileError;
        match e {
            // The log is what a user needs to fix a kernel; the rest is noise.
            CompileError::CompileError { nvrtc, options, log } => {
                HarnessError::Nvrtc(format!("{nvrtc:?} with options {options:?}:\n{}", log.to_string_lossy()))
            }
            other => HarnessError::Nvrtc(format!("{other:?}")),
        }
    }
}

impl From<cudarc::cublaslt::result::CublasError> for HarnessError {
    fn from(e: cudarc::cublaslt::result::CublasError) -> Self {
        HarnessError::Cuda(format!("cuBLASLt: {e:?}"))
    }
}

impl From<cudarc::cublas::result::CublasError> for HarnessError {
    fn from(e: cudarc::cublas::result::CublasError) -> Self {
        HarnessError::Cuda(format!("cuBLAS: {e:?}"))
    }
}

impl From<nvml_wrapper::error::NvmlError> for HarnessError {
    fn from(e: nvml_wrapper::error::NvmlError) -> Self {
        use nvml_wrapper::error::NvmlError;
        match e {
            NvmlError::LibloadingError(_) => HarnessError::NoNvml,
            other => HarnessError::Nvml(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_library() {
        assert!(HarnessError::NoCudaDriver.to_string().contains("libcuda.so.1"));
        assert!(HarnessError::NoNvrtc.to_string().contains("libnvrtc"));
        assert!(HarnessError::NoCublas.to_string().contains("libcublas"));
        assert!(HarnessError::NoCublasLt.to_string().contains("libcublasLt"));
        assert!(HarnessError::NoNvml.to_string().contains("libnvidia-ml.so.1"));
        assert!(HarnessError::Cuda("x".into()).to_string().contains("x"));
    }
}
