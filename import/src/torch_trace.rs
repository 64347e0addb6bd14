//! Reading a PyTorch profiler Chrome trace (`torch.profiler` `export_chrome_trace`): the kernels
//! of one step with their launch calls, the ops that launched them, and the step markers.
//!
//! Only the fields used are deserialised (serde skips the rest), so memory is linear in the
//! number of events and a 100 MB trace reads in one pass.

use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct TraceFile {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<Event>,
    #[serde(rename = "deviceProperties", default)]
    device_properties: Vec<DeviceProps>,
}

#[derive(Deserialize)]
struct DeviceProps {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    cat: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ph: Option<String>,
    #[serde(default)]
    ts: Option<f64>,
    #[serde(default)]
    dur: Option<f64>,
    #[serde(default)]
    args: Option<Args>,
}

#[derive(Deserialize, Default)]
struct Args {
    #[serde(rename = "External id", default)]
    external_id: Option<i64>,
    #[serde(default)]
    correlation: Option<i64>,
    #[serde(default)]
    grid: Option<Vec<u64>>,
    #[serde(default)]
    block: Option<Vec<u64>>,
    #[serde(rename = "registers per thread", default)]
    registers: Option<u32>,
    #[serde(rename = "shared memory", default)]
    shared_memory: Option<u64>,
    #[serde(default)]
    stream: Option<i64>,
    #[serde(default)]
    flops: Option<f64>,
    #[serde(rename = "Input Dims", default)]
    input_dims: Option<Vec<serde_json::Value>>,
    #[serde(rename = "Input type", default)]
    input_type: Option<Vec<serde_json::Value>>,
    #[serde(rename = "Concrete Inputs", default)]
    concrete_inputs: Option<Vec<serde_json::Value>>,
}

/// One kernel of the trace, with what launched it.
#[derive(Debug, Clone)]
pub struct TracedKernel {
    /// The kernel's full (demangled) name.
    pub full_name: String,
    pub grid: u64,
    pub block: u64,
    pub regs_per_thread: u32,
    pub smem_bytes: u64,
    pub stream: i64,
    /// Start on the GPU and duration, microseconds.
    pub gpu_ts: f64,
    pub dur_us: f64,
    /// When its launch call started on the host (microseconds), and the call's name.
    pub launch_ts: f64,
    pub launch_call: String,
    pub correlation: i64,
    /// The op that launched it (`External id`), if the trace links one.
    pub op: Option<OpInfo>,
}

/// The CPU op a kernel was launched from.
#[derive(Debug, Clone)]
pub struct OpInfo {
    pub name: String,
    pub external_id: i64,
    /// FLOPs the profiler counted for the op (`with_flops=True`).
    pub flops: Option<f64>,
    /// Bytes of the op's tensor inputs, from `Input Dims` and `Input type` (`record_shapes=True`).
    pub input_bytes: Option<f64>,
    /// The first tensor input's element type (`c10::BFloat16`, `float`, ...).
    pub dtype: Option<String>,
    /// Each input's dimensions (empty for a scalar or where the trace has no shapes).
    pub dims: Vec<Vec<f64>>,
    /// Each input's value where the profiler recorded it (`Concrete Inputs`: scalars, flags).
    pub concrete: Vec<String>,
}

/// A `ProfilerStep#N` span on the host.
#[derive(Debug, Clone)]
pub struct Step {
    pub number: u64,
    pub ts: f64,
    pub dur: f64,
}

/// What the importer needs from a trace.
#[derive(Debug)]
pub struct Trace {
    pub gpu_name: Option<String>,
    pub kernels: Vec<TracedKernel>,
    pub steps: Vec<Step>,
    /// Host times (microseconds) of calls that wait for the GPU (synchronisations).
    pub syncs: Vec<f64>,
    /// Kernels without a launch call in the trace (left out).
    pub unlinked: usize,
}

/// Calls after which the host waits for the GPU.
pub(crate) fn is_sync(name: &str) -> bool {
    matches!(
        name,
        "cudaDeviceSynchronize" | "cudaStreamSynchronize" | "cudaEventSynchronize" | "cudaMemcpy" | "cuCtxSynchronize"
    )
}

fn bytes_of(dtype: &str) -> Option<f64> {
    Some(match dtype {
        "c10::BFloat16" | "c10::Half" | "short int" => 2.0,
        "float" | "int" | "unsigned int" => 4.0,
        "double" | "long int" | "long" | "c10::complex<float>" => 8.0,
        "c10::Float8_e4m3fn" | "c10::Float8_e5m2" | "signed char" | "unsigned char" | "bool" => 1.0,
        _ => return None,
    })
}

/// Bytes of an op's tensor inputs; None when the trace has no shapes.
fn input_bytes(a: &Args) -> Option<f64> {
    let (dims, types) = (a.input_dims.as_ref()?, a.input_type.as_ref()?);
    let mut total = 0.0;
    for (d, t) in dims.iter().zip(types) {
        let (Some(d), Some(t)) = (d.as_array(), t.as_str()) else { continue };
        if d.is_empty() {
            continue; // a scalar
        }
        let Some(size) = bytes_of(t) else { continue };
        let n: f64 = d.iter().map(|x| x.as_f64().unwrap_or(0.0)).product();
        total += n * size;
    }
    Some(total)
}

/// Parses the trace text. Errors say what is wrong in the file's terms.
pub fn parse(text: &str) -> Result<Trace, String> {
    let file: TraceFile = serde_json::from_str(text)
        .map_err(|e| format!("not a PyTorch profiler trace (Chrome trace JSON with traceEvents): {e}"))?;
    let gpu_name = file.device_properties.iter().find_map(|d| d.name.clone());
    let mut launches: HashMap<i64, (f64, String)> = HashMap::new();
    let mut ops: HashMap<i64, OpInfo> = HashMap::new();
    let mut steps = Vec::new();
    let mut syncs = Vec::new();
    let mut raw_kernels = Vec::new();
    for e in file.trace_events {
        if e.ph.as_deref() != Some("X") {
            continue;
        }
        let (Some(cat), Some(name), Some(ts)) = (e.cat.as_deref(), e.name, e.ts) else { continue };
        let args = e.args.unwrap_or_default();
        match cat {
            "kernel" => raw_kernels.push((name, ts, e.dur.unwrap_or(0.0), args)),
            "cuda_runtime" | "cuda_driver" => {
                if is_sync(&name) {
                    syncs.push(ts);
                }
                if let Some(c) = args.correlation {
                    launches.insert(c, (ts, name));
                }
            }
            "cpu_op" => {
                if let Some(id) = args.external_id {
                    let dtype =
                        args.input_type.as_ref().and_then(|t| t.first()).and_then(|t| t.as_str()).map(String::from);
                    let dims = args
                        .input_dims
                        .iter()
                        .flatten()
                        .map(|d| {
                            d.as_array().map_or(Vec::new(), |d| d.iter().map(|x| x.as_f64().unwrap_or(0.0)).collect())
                        })
                        .collect();
                    let concrete = args
                        .concrete_inputs
                        .iter()
                        .flatten()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
                        .collect();
                    let info = OpInfo {
                        name,
                        external_id: id,
                        flops: args.flops,
                        input_bytes: input_bytes(&args),
                        dtype,
                        dims,
                        concrete,
                    };
                    ops.insert(id, info);
                }
            }
            "user_annotation" => {
                if let Some(n) = name.strip_prefix("ProfilerStep#").and_then(|n| n.parse().ok()) {
                    steps.push(Step { number: n, ts, dur: e.dur.unwrap_or(0.0) });
                }
            }
            _ => {}
        }
    }
    let mut kernels = Vec::with_capacity(raw_kernels.len());
    let mut unlinked = 0;
    for (full_name, gpu_ts, dur_us, a) in raw_kernels {
        let Some((launch_ts, launch_call)) = a.correlation.and_then(|c| launches.get(&c)).cloned() else {
            unlinked += 1;
            continue;
        };
        let prod = |d: &Option<Vec<u64>>| d.as_ref().map_or(1, |d| d.iter().product::<u64>().max(1));
        kernels.push(TracedKernel {
            full_name,
            grid: prod(&a.grid),
            block: prod(&a.block),
            regs_per_thread: a.registers.unwrap_or(0),
            smem_bytes: a.shared_memory.unwrap_or(0),
            stream: a.stream.unwrap_or(0),
            gpu_ts,
            dur_us,
            launch_ts,
            launch_call,
            correlation: a.correlation.unwrap_or(0),
            op: a.external_id.and_then(|id| ops.get(&id).cloned()),
        });
    }
    // Launch order; kernels of one call (a CUDA graph) in GPU order.
    kernels.sort_by(|a, b| a.launch_ts.total_cmp(&b.launch_ts).then(a.gpu_ts.total_cmp(&b.gpu_ts)));
    steps.sort_by_key(|s| s.number);
    syncs.sort_by(f64::total_cmp);
    Ok(Trace { gpu_name, kernels, steps, syncs, unlinked })
}

/// The kernel's name as a short identifier: `void at::native::foo<T>(args)` gives `foo`.
pub fn short_name(full: &str) -> String {
    let cleaned = full.replace("<unnamed>", "").replace("(anonymous namespace)", "");
    let s = cleaned.strip_prefix("void ").unwrap_or(&cleaned);
    // Cut the argument list and template arguments, at depth 0.
    let mut depth = 0i32;
    let mut end = s.len();
    for (i, ch) in s.char_indices() {
        match ch {
            '<' | '(' if depth == 0 && i > 0 => {
                end = i;
                break;
            }
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            _ => {}
        }
    }
    let head = &s[..end];
    let last = head.rsplit("::").next().unwrap_or(head).trim();
    let name: String = last.chars().filter(|c| !c.is_control()).take(120).collect();
    if name.is_empty() {
        "kernel".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(
            short_name(
                "void at::native::(anonymous namespace)::indexSelectSmallIndex<c10::BFloat16, long>(at::Info, int)"
            ),
            "indexSelectSmallIndex"
        );
        assert_eq!(
            short_name("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize64x64x64"),
            "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize64x64x64"
        );
        assert_eq!(short_name("void cutlass::Kernel2<cutlass_80_wmma>(Params)"), "Kernel2");
        assert_eq!(short_name(""), "kernel");
        assert_eq!(
            short_name(
                "void at::<unnamed>::indexSelectSmallIndex<c10::BFloat16, long>(cuda::TensorInfo<T1, T3>, long)"
            ),
            "indexSelectSmallIndex"
        );
    }

    #[test]
    fn malformed_traces_are_errors_not_panics() {
        for t in ["", "{", "[]", "{\"traceEvents\": 3}", "{\"traceEvents\": [{\"ph\": \"X\", \"ts\": \"x\"}]}"] {
            assert!(parse(t).is_err(), "{t}");
        }
        let ok =
            parse("{\"traceEvents\": [{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\", \"ts\": 1}]}").unwrap();
        assert_eq!((ok.kernels.len(), ok.unlinked), (0, 1));
    }
}
