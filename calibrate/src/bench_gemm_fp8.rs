//! The fp8 tensor-core rate (`gemm_fp8` step): square e4m3 x e4m3 GEMMs with bf16 output and
//! fp32 accumulation through cuBLASLt (the TN layout fp8 requires, as torch's `_scaled_mm` runs
//! it), sustained like the bf16 `gemm` step.

use crate::bench_gemm::SquareGemm;
use simgpu_harness::cudarc::cublaslt::{result, sys};
use simgpu_harness::cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};
use simgpu_harness::{check_cublaslt, Gpu, HarnessError};
use std::ffi::c_void;
use std::sync::Arc;

/// cuBLASLt's recommended workspace on Hopper.
const WORKSPACE_BYTES: usize = 32 << 20;

/// cuBLASLt objects, each destroyed once when dropped (also when `new` fails half way).
struct Handle(sys::cublasLtHandle_t);
struct Desc(sys::cublasLtMatmulDesc_t);
struct Layout(sys::cublasLtMatrixLayout_t);
struct Pref(sys::cublasLtMatmulPreference_t);

// SAFETY (all four): each wraps one object created by its `result::create_*` and destroys it
// once; errors on the way out leave nothing to recover.
impl Drop for Handle {
    fn drop(&mut self) {
        let _ = unsafe { result::destroy_handle(self.0) };
    }
}
impl Drop for Desc {
    fn drop(&mut self) {
        let _ = unsafe { result::destroy_matmul_desc(self.0) };
    }
}
impl Drop for Layout {
    fn drop(&mut self) {
        let _ = unsafe { result::destroy_matrix_layout(self.0) };
    }
}
impl Drop for Pref {
    fn drop(&mut self) {
        let _ = unsafe { result::destroy_matmul_pref(self.0) };
    }
}

/// One n x n x n fp8 GEMM, its descriptors and the algorithm cuBLASLt's heuristic picked.
pub struct Fp8GemmLoad {
    stream: Arc<simgpu_harness::cudarc::driver::CudaStream>,
    // Declared before the handle: dropped first.
    /// A (k x m, transposed), B (k x n), C and D (m x n, bf16).
    layouts: [Layout; 3],
    desc: Desc,
    handle: Handle,
    algo: sys::cublasLtMatmulAlgo_t,
    a: CudaSlice<u8>,
    b: CudaSlice<u8>,
    d: CudaSlice<u16>,
    workspace: CudaSlice<u8>,
    n: usize,
}

impl Fp8GemmLoad {
    pub fn new(gpu: &Gpu, n: usize) -> Result<Fp8GemmLoad, HarnessError> {
        check_cublaslt()?;
        let s = gpu.stream().clone();
        // Noise, as real weights are: sign, exponent 2^-4 .. 2^-1 and mantissa at random (never
        // the NaN pattern, which needs the top exponent).
        let bytes = |seed: u64| {
            crate::bench_gemm::random_words(n * n, seed)
                .map(|r| {
                    let r = r >> 56;
                    ((r & 0x80) | ((3 + (r >> 3 & 3)) << 3) | (r & 7)) as u8
                })
                .collect::<Vec<u8>>()
        };
        let a = s.clone_htod(&bytes(1))?;
        let b = s.clone_htod(&bytes(2))?;
        let d = s.alloc_zeros::<u16>(n * n)?;
        let workspace = s.alloc_zeros::<u8>(WORKSPACE_BYTES)?;
        let handle = Handle(result::create_handle()?);
        let desc = Desc(result::create_matmul_desc(
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            sys::cudaDataType_t::CUDA_R_32F,
        )?);
        let transpose: i32 = 1;
        // SAFETY: desc is live; TRANSA takes an int32 operation (1 = transposed).
        unsafe {
            result::set_matmul_desc_attribute(
                desc.0,
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                (&transpose) as *const i32 as *const c_void,
                std::mem::size_of::<i32>(),
            )?;
        }
        let (n64, ld) = (n as u64, n as i64);
        let fp8 = sys::cudaDataType_t::CUDA_R_8F_E4M3;
        let layouts = [
            Layout(result::create_matrix_layout(fp8, n64, n64, ld)?),
            Layout(result::create_matrix_layout(fp8, n64, n64, ld)?),
            Layout(result::create_matrix_layout(sys::cudaDataType_t::CUDA_R_16BF, n64, n64, ld)?),
        ];
        let pref = Pref(result::create_matmul_pref()?);
        let ws = WORKSPACE_BYTES as u64;
        // SAFETY: every descriptor above is live; the preference takes a u64 byte count.
        let heuristic = unsafe {
            result::set_matmul_pref_attribute(
                pref.0,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                (&ws) as *const u64 as *const c_void,
                std::mem::size_of::<u64>(),
            )?;
            let [a, b, c] = [&layouts[0].0, &layouts[1].0, &layouts[2].0];
            result::get_matmul_algo_heuristic(handle.0, desc.0, *a, *b, *c, *c, pref.0)?
        };
        Ok(Fp8GemmLoad { stream: s, handle, desc, layouts, algo: heuristic.algo, a, b, d, workspace, n })
    }
}

impl SquareGemm for Fp8GemmLoad {
    fn n(&self) -> usize {
        self.n
    }

    fn launch(&mut self) -> Result<(), HarnessError> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        let s = &self.stream;
        let (a, _ra) = self.a.device_ptr(s);
        let (b, _rb) = self.b.device_ptr(s);
        let (d, _rd) = self.d.device_ptr_mut(s);
        let (w, _rw) = self.workspace.device_ptr_mut(s);
        // SAFETY: the descriptors and layouts describe these buffers (n x n each, a and b one byte
        // per element, d two); beta = 0, so C (aliased to D) is not read.
        unsafe {
            result::matmul(
                self.handle.0,
                self.desc.0,
                (&alpha) as *const f32 as *const c_void,
                (&beta) as *const f32 as *const c_void,
                a as *const c_void,
                self.layouts[0].0,
                b as *const c_void,
                self.layouts[1].0,
                d as *const c_void,
                self.layouts[2].0,
                d as *mut c_void,
                self.layouts[2].0,
                &self.algo,
                w as *mut c_void,
                WORKSPACE_BYTES,
                s.cu_stream() as *mut _,
            )?;
        }
        Ok(())
    }
}
