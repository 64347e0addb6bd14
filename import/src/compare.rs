//! An imported client run alone on a profile, set beside the trace it came from: per kernel name,
//! launches, traced and predicted microseconds per step; and the kernels by class.

use crate::Imported;

/// One kernel name's share of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRow {
    pub name: String,
    pub class: &'static str,
    /// Launches per step.
    pub per_step: u64,
    pub traced_us: f64,
    pub predicted_us: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Most traced time first.
    pub rows: Vec<KernelRow>,
    /// simgpu's mean step time (host and GPU), if any step completed.
    pub step_us: Option<f64>,
    /// The profile the run used.
    pub profile: simgpu_sim::report::ProfileUsed,
}

impl Comparison {
    pub fn traced_us(&self) -> f64 {
        self.rows.iter().map(|r| r.traced_us).sum()
    }

    pub fn predicted_us(&self) -> f64 {
        self.rows.iter().map(|r| r.predicted_us).sum()
    }

    /// Per class: (class, traced us, predicted us, median over its kernel names of
    /// |predicted / traced - 1|), most traced time first.
    pub fn by_class(&self) -> Vec<(&'static str, f64, f64, f64)> {
        let mut out: Vec<(&'static str, f64, f64, Vec<f64>)> = Vec::new();
        for r in &self.rows {
            let i = match out.iter().position(|c| c.0 == r.class) {
                Some(i) => i,
                None => {
                    out.push((r.class, 0.0, 0.0, Vec::new()));
                    out.len() - 1
                }
            };
            out[i].1 += r.traced_us;
            out[i].2 += r.predicted_us;
            if r.traced_us > 0.0 {
                out[i].3.push((r.predicted_us / r.traced_us - 1.0).abs());
            }
        }
        let mut v: Vec<_> = out.into_iter().map(|(c, t, p, e)| (c, t, p, median(e))).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The class of a kernel, from its name (cuBLAS, cuDNN, CUTLASS and PyTorch's own kernels).
pub fn class_of(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    let has = |ps: &[&str]| ps.iter().any(|p| n.contains(p));
    if has(&["sdpa", "flash", "fmha", "attention"]) {
        "attention"
    } else if has(&["splitkreduce"]) {
        "split-K reduce"
    } else if has(&["gemm", "gemv", "nvjet", "xmma", "cutlass", "wgmma"]) {
        "GEMM"
    } else if has(&["norm"]) {
        "norm"
    } else if has(&["reduce", "reduction", "softmax", "topk", "argmax"]) {
        "reduction"
    } else if has(&["cat", "copy", "gather", "index", "scatter"]) {
        "copy/gather"
    } else if has(&["elementwise"]) {
        "elementwise"
    } else {
        "other"
    }
}

/// Runs the imported client alone (three steps) on the workload `w` bound from its scenario, and
/// sets its kernels beside the trace's.
pub fn compare(im: &Imported, w: &simgpu_sim::Workload) -> Result<Comparison, String> {
    let r = simgpu_sim::run(w);
    let c = r.clients.first().ok_or("the imported scenario has no client")?;
    let entries = c.kernel_entries.as_ref().ok_or("no kernel entries in the report")?;
    let client = &im.client;
    let mut per_step = vec![0u64; client.kernels.len()];
    for (k, n) in client.launch_sequence() {
        per_step[k] += n as u64;
    }
    let mut rows: Vec<KernelRow> = Vec::new();
    for (i, k) in client.kernels.iter().enumerate() {
        let predicted = entries.get(i).and_then(|e| e.duration_us.as_ref()).map_or(0.0, |d| d.mean);
        let n = per_step[i];
        let row = match rows.iter().position(|r| r.name == k.name) {
            Some(j) => &mut rows[j],
            None => {
                let class = class_of(&k.name);
                rows.push(KernelRow { name: k.name.clone(), class, per_step: 0, traced_us: 0.0, predicted_us: 0.0 });
                rows.last_mut().ok_or("no row")?
            }
        };
        row.per_step += n;
        row.traced_us += im.traced_us.get(i).copied().unwrap_or(0.0) * n as f64;
        row.predicted_us += predicted * n as f64;
    }
    rows.sort_by(|a, b| b.traced_us.total_cmp(&a.traced_us));
    Ok(Comparison { rows, step_us: c.latency_us.as_ref().map(|l| l.mean), profile: r.profile.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_from_names() {
        assert_eq!(class_of("nvjet_sm90_tst_256x128_64x4_1x2_h_bz_coopA_bias_TNT"), "GEMM");
        assert_eq!(class_of("splitKreduce_kernel"), "split-K reduce");
        assert_eq!(class_of("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_"), "attention");
        assert_eq!(class_of("vectorized_layer_norm_kernel"), "norm");
        assert_eq!(class_of("reduce_kernel"), "reduction");
        assert_eq!(class_of("CatArrayBatchedCopy"), "copy/gather");
        assert_eq!(class_of("vectorized_elementwise_kernel"), "elementwise");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
