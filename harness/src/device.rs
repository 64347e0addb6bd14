//! Opening a GPU: library checks, CUDA context and stream, NVML handle, device facts.
//!
//! cudarc loads libcuda lazily and *panics* when it is missing, so every entry point here first
//! asks whether the libraries can be loaded at all and returns a [`HarnessError`] otherwise.

use crate::error::HarnessError;
use cudarc::driver::{sys, CudaContext, CudaStream};
use nvml_wrapper::enum_wrappers::device::Clock;
use nvml_wrapper::Nvml;
use serde::Serialize;
use std::sync::Arc;

/// Facts about one GPU, recorded with every measurement as provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    /// NVML-style UUID, `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub uuid: String,
    pub sm_count: u32,
    pub compute_capability: (i32, i32),
    pub max_threads_per_sm: u32,
    /// `cuDriverGetVersion`, e.g. 13000 for CUDA 13.0.
    pub cuda_driver_version: i32,
    /// NVIDIA driver version from NVML, e.g. "580.159.04"; `None` without NVML.
    pub nvidia_driver_version: Option<String>,
    pub max_sm_clock_mhz: f64,
    /// Where `max_sm_clock_mhz` came from.
    pub max_sm_clock_source: MaxClockSource,
    pub total_mem_bytes: u64,
    pub l2_bytes: u64,
    /// Why NVML is unusable, if it is (clocks then fall back to the CUDA attribute).
    pub nvml_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MaxClockSource {
    /// `nvmlDeviceGetMaxClockInfo(SM)`.
    Nvml,
    /// `CU_DEVICE_ATTRIBUTE_CLOCK_RATE` (deprecated by NVIDIA, but always there).
    CudaAttribute,
}

/// An open GPU: a primary context, one stream, and NVML if it loaded.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    nvml: Result<Nvml, HarnessError>,
    info: DeviceInfo,
}

/// Fails with `NoCudaDriver` unless libcuda can be loaded. Must precede any cudarc driver call.
pub fn check_cuda_driver() -> Result<(), HarnessError> {
    // SAFETY: only tries to dlopen the library names and drops the handle.
    present(unsafe { sys::is_culib_present() }, HarnessError::NoCudaDriver)
}

/// Fails with `NoNvrtc` unless libnvrtc can be loaded. Must precede any cudarc NVRTC call.
pub fn check_nvrtc() -> Result<(), HarnessError> {
    // SAFETY: as above.
    present(unsafe { cudarc::nvrtc::sys::is_culib_present() }, HarnessError::NoNvrtc)
}

/// Fails with `NoCublas` unless libcublas can be loaded. Must precede any cudarc cuBLAS call.
pub fn check_cublas() -> Result<(), HarnessError> {
    // SAFETY: as above.
    present(unsafe { cudarc::cublas::sys::is_culib_present() }, HarnessError::NoCublas)
}

/// Whether cuBLASLt can be loaded (fp8 GEMMs).
pub fn check_cublaslt() -> Result<(), HarnessError> {
    // SAFETY: as above.
    present(unsafe { cudarc::cublaslt::sys::is_culib_present() }, HarnessError::NoCublasLt)
}

fn present(loaded: bool, missing: HarnessError) -> Result<(), HarnessError> {
    if loaded {
        Ok(())
    } else {
        Err(missing)
    }
}

/// What NVML alone says of a GPU, for provenance where no CUDA context should be opened (an MPS
/// daemon started later must find the GPU free of other contexts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NvmlIdentity {
    pub name: String,
    pub uuid: String,
    pub driver: String,
    /// e.g. "13.0".
    pub cuda: String,
}

/// The identity of GPU `ordinal` through NVML.
pub fn nvml_identity(ordinal: u32) -> Result<NvmlIdentity, HarnessError> {
    let nvml = Nvml::init()?;
    let d = nvml.device_by_index(ordinal)?;
    let v = nvml.sys_cuda_driver_version()?;
    Ok(NvmlIdentity {
        name: d.name()?,
        uuid: d.uuid()?,
        driver: nvml.sys_driver_version()?,
        cuda: format!("{}.{}", v / 1000, (v % 1000) / 10),
    })
}

/// Opens GPU 0 and returns its facts; on a machine without CUDA this is the clear error to show.
pub fn probe() -> Result<DeviceInfo, HarnessError> {
    Gpu::open(0).map(|g| g.info)
}

impl Gpu {
    /// Checks the libraries, then creates the context and a stream on GPU `ordinal`.
    pub fn open(ordinal: usize) -> Result<Gpu, HarnessError> {
        check_cuda_driver()?;
        check_nvrtc()?;
        // cuInit and the device count before the context: "no device" is then NoGpu, not a
        // context-creation failure.
        cudarc::driver::result::init()?;
        let count = CudaContext::device_count()?;
        if count <= 0 || ordinal >= count as usize {
            return Err(HarnessError::NoGpu);
        }
        let ctx = CudaContext::new(ordinal)?;
        // One stream does all the work, so cudarc's per-buffer events (which it records around
        // every launch once a second stream exists) are pure overhead in the timings.
        // SAFETY: every buffer of a measurement is allocated, used and freed on `stream` only
        // (a caller that makes more streams must keep each buffer on one of them).
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream()?;

        let attr = |a: sys::CUdevice_attribute| ctx.attribute(a);
        use sys::CUdevice_attribute as A;
        let sm_count = attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?.max(0) as u32;
        let max_threads_per_sm = attr(A::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR)?.max(0) as u32;
        let l2_bytes = attr(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)?.max(0) as u64;
        let attr_clock_khz = attr(A::CU_DEVICE_ATTRIBUTE_CLOCK_RATE)?;
        let uuid = format_uuid(&ctx.uuid()?);

        let mut cuda_driver_version = 0;
        // SAFETY: writes one int; libcuda is loaded (checked above).
        unsafe { sys::cuDriverGetVersion(&mut cuda_driver_version) }.result()?;

        let nvml = Nvml::init().map_err(HarnessError::from);
        let info = DeviceInfo {
            ordinal,
            name: ctx.name()?,
            uuid,
            sm_count,
            compute_capability: ctx.compute_capability()?,
            max_threads_per_sm,
            cuda_driver_version,
            nvidia_driver_version: None,
            max_sm_clock_mhz: attr_clock_khz as f64 / 1000.0,
            max_sm_clock_source: MaxClockSource::CudaAttribute,
            total_mem_bytes: ctx.total_mem()? as u64,
            l2_bytes,
            nvml_error: None,
        };
        let mut gpu = Gpu { ctx, stream, nvml, info };
        match gpu.nvml_facts() {
            Ok((driver, max_mhz)) => {
                gpu.info.nvidia_driver_version = Some(driver);
                gpu.info.max_sm_clock_mhz = max_mhz;
                gpu.info.max_sm_clock_source = MaxClockSource::Nvml;
            }
            Err(e) => gpu.info.nvml_error = Some(e.to_string()),
        }
        Ok(gpu)
    }

    fn nvml_facts(&self) -> Result<(String, f64), HarnessError> {
        let driver = self.nvml()?.sys_driver_version()?;
        let max_mhz = self.nvml_device()?.max_clock_info(Clock::SM)?;
        Ok((driver, max_mhz as f64))
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    pub fn ctx(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The NVML library handle, or why it is unavailable.
    pub fn nvml(&self) -> Result<&Nvml, HarnessError> {
        self.nvml.as_ref().map_err(Clone::clone)
    }

    /// This GPU's NVML handle, found by UUID: NVML indices need not match CUDA ordinals
    /// (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER).
    pub fn nvml_device(&self) -> Result<nvml_wrapper::Device<'_>, HarnessError> {
        Ok(self.nvml()?.device_by_uuid(self.info.uuid.as_str())?)
    }

    /// The SM clock right now, in MHz (NVML).
    pub fn current_sm_clock_mhz(&self) -> Result<f64, HarnessError> {
        Ok(self.nvml_device()?.clock_info(Clock::SM)? as f64)
    }
}

/// Formats a CUDA UUID the way NVML prints it.
fn format_uuid(u: &sys::CUuuid) -> String {
    let b: Vec<u8> = u.bytes.iter().map(|&c| c as u8).collect();
    let hex = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("GPU-{}-{}-{}-{}-{}", hex(0..4), hex(4..6), hex(6..8), hex(8..10), hex(10..16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_formatted_like_nvml() {
        let mut u = sys::CUuuid { bytes: [0; 16] };
        for (i, b) in u.bytes.iter_mut().enumerate() {
            *b = (i as u8 * 17) as std::ffi::c_char;
        }
        assert_eq!(format_uuid(&u), "GPU-00112233-4455-6677-8899-aabbccddeeff");
    }
}
