//! Errors of calibration. Every CUDA, NVRTC and NVML failure ends here as a value: the `simgpu`
//! binary runs on machines without any GPU, and a missing library must read as a clear message,
//! never as a panic inside cudarc.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalibrateError {
    /// The CUDA driver library (libcuda.so.1) could not be loaded.
    NoCudaDriver,
    /// The NVRTC library (libnvrtc.so.13) could not be loaded; kernels cannot be compiled.
    NoNvrtc,
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
    /// A measurement gave nothing usable to fit.
    Measurement(String),
}

impl fmt::Display for CalibrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrateError::NoCudaDriver => write!(
                f,
                "CUDA driver not found: libcuda.so.1 could not be loaded (is the NVIDIA driver installed, \
                 and is this a machine with a GPU?)"
            ),
            CalibrateError::NoNvrtc => write!(
                f,
                "NVRTC not found: libnvrtc.so.13 could not be loaded (install the CUDA toolkit or put its \
                 lib directory on LD_LIBRARY_PATH)"
            ),
            CalibrateError::NoNvml => write!(f, "NVML not found: libnvidia-ml.so.1 could not be loaded"),
            CalibrateError::NoGpu => write!(f, "no CUDA GPU found (the driver loaded but reports no usable device)"),
            CalibrateError::Cuda(msg) => write!(f, "CUDA driver error: {msg}"),
            CalibrateError::Nvrtc(msg) => write!(f, "NVRTC error: {msg}"),
            CalibrateError::Nvml(msg) => write!(f, "NVML error: {msg}"),
            CalibrateError::Process(msg) => write!(f, "worker process: {msg}"),
            CalibrateError::Mps(msg) => write!(f, "MPS: {msg}"),
            CalibrateError::Measurement(msg) => write!(f, "measurement: {msg}"),
        }
    }
}

impl std::error::Error for CalibrateError {}

/// Driver errors: "no device" is its own variant so that callers can tell a machine without a
/// GPU from a failing one.
impl From<cudarc::driver::DriverError> for CalibrateError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        use cudarc::driver::sys::CUresult;
        match e.0 {
            CUresult::CUDA_ERROR_NO_DEVICE | CUresult::CUDA_ERROR_INVALID_DEVICE => CalibrateError::NoGpu,
            // Debug of DriverError asks the driver for the error string (libcuda is loaded here).
            _ => CalibrateError::Cuda(format!("{e:?}")),
        }
    }
}

impl From<cudarc::nvrtc::CompileError> for CalibrateError {
    fn from(e: cudarc::nvrtc::CompileError) -> Self {
        use cudarc::nvrtc::CompileError;
        match e {
            // The log is what a user needs to fix a kernel; the rest is noise.
            CompileError::CompileError { nvrtc, options, log } => {
                CalibrateError::Nvrtc(format!("{nvrtc:?} with options {options:?}:\n{}", log.to_string_lossy()))
            }
            other => CalibrateError::Nvrtc(format!("{other:?}")),
        }
    }
}

impl From<nvml_wrapper::error::NvmlError> for CalibrateError {
    fn from(e: nvml_wrapper::error::NvmlError) -> Self {
        use nvml_wrapper::error::NvmlError;
        match e {
            NvmlError::LibloadingError(_) => CalibrateError::NoNvml,
            other => CalibrateError::Nvml(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_library() {
        assert!(CalibrateError::NoCudaDriver.to_string().contains("libcuda.so.1"));
        assert!(CalibrateError::NoNvrtc.to_string().contains("libnvrtc"));
        assert!(CalibrateError::NoNvml.to_string().contains("libnvidia-ml.so.1"));
        assert!(CalibrateError::Cuda("x".into()).to_string().contains("x"));
    }
}
