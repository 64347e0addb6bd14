//! A mixture-of-experts block as transformers 4.51 runs it eagerly (`Qwen3MoeSparseMoeBlock`):
//! the router, an fp32 softmax, top-k and its renormalisation, a one-hot expert mask, then a
//! Python loop over the experts that any token chose, each a gather of its tokens, three GEMMs
//! and an `index_add_` back. The loop reads the device twice per expert (`int(expert_idx)` and
//! the `nonzero` inside `torch.where`), so the host waits for the GPU at every expert: this is
//! what makes an eager MoE step host-bound at any batch. Every kernel, grid and block here was
//! read off the Qwen3-30B-A3B decode steps traced on the H100 at batch 1 and 16
//! (`tests/data/import/h100/qwen3moe-decode-b*-eager.summary.json`; the model code is
//! `tools/capture/torch_traces.py`). This is not vLLM's fused MoE kernel.
//!
//! Which experts a step hits depends on the router's choices, which no config states. The
//! generator takes them as uniform: each token picks `k` distinct experts of `E`, so an expert
//! serves Binomial(t, k/E) of the step's `t` tokens. The traced steps (random weights) agree:
//! 82.1 experts hit per layer at batch 16 (expected 82.4), 59.1% of them with one token
//! (expected 59.0%). Trained routers are skewed; a skewed router hits fewer experts, with more
//! tokens each.

use crate::config::ModelConfig;
use crate::kernels::{div_ceil, elementwise, gemm, kernel, reduce, Elementwise, Gpu};
use simgpu_sim::spec::{KernelGroup, KernelSpec, OpKind};

/// How many hit experts serve how many tokens: `(tokens, experts)` for every count with at least
/// one expert, the experts summing to the expected number hit (largest remainders).
pub fn expert_loads(experts: u64, per_token: u64, tokens: u64) -> Vec<(u64, u64)> {
    let p = per_token as f64 / experts as f64;
    let e = experts as f64;
    if p >= 1.0 {
        return vec![(tokens, experts)];
    }
    let hit = (e * (1.0 - (1.0 - p).powf(tokens as f64))).round().max(1.0) as u64;
    // ln pmf(n) of Binomial(tokens, p) by its recurrence from n = 0 (no factorials, no underflow).
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut ln_pmf = tokens as f64 * lq;
    let mut want: Vec<(u64, f64)> = Vec::new();
    for n in 1..=tokens {
        ln_pmf += ((tokens - n + 1) as f64 / n as f64).ln() + lp - lq;
        let x = e * ln_pmf.exp();
        if x > 1e-9 {
            want.push((n, x));
        } else if !want.is_empty() && n as f64 > tokens as f64 * p {
            break;
        }
    }
    let mut out: Vec<(u64, u64)> = want.iter().map(|&(n, x)| (n, x.floor() as u64)).collect();
    let mut short = hit.saturating_sub(out.iter().map(|o| o.1).sum());
    let mut order: Vec<usize> = (0..want.len()).collect();
    // Largest remainder first; ties to the smaller count (a stable, deterministic order).
    order.sort_by(|&a, &b| {
        let (ra, rb) = (want[a].1.fract(), want[b].1.fract());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if short == 0 {
            break;
        }
        out[i].1 += 1;
        short -= 1;
    }
    out.retain(|o| o.1 > 0);
    out
}

/// `nonzero` as cub runs it: a count (`DeviceReduceSingleTileKernel`, after which the host reads
/// the count back: the kernel syncs), `DeviceCompactInitKernel`, `DeviceSelectSweepKernel`, and
/// for a 2-D input `write_indices`. One block each at the traced sizes (up to 2048 elements);
/// beyond them (prefill) one per 4096 elements, not traced.
fn nonzero(out: &mut Vec<KernelSpec>, what: &str, elements: u64, two_d: bool) {
    let n = elements as f64;
    let mut count = kernel(
        &format!("{what}: nonzero count"),
        div_ceil(elements, 4096),
        (256, 32, 0),
        OpKind::Fp32,
        n,
        (n * 8.0, 8.0),
    );
    count.sync = true;
    out.push(count);
    out.push(kernel(&format!("{what}: nonzero init"), 1, (128, 32, 0), OpKind::Fp32, 0.0, (0.0, 8.0)));
    out.push(kernel(
        &format!("{what}: nonzero select"),
        div_ceil(elements, 4096),
        (384, 32, 0),
        OpKind::Fp32,
        n,
        (n * 8.0, n * 8.0),
    ));
    if two_d {
        out.push(kernel(
            &format!("{what}: nonzero write indices"),
            div_ceil(elements, 4096),
            (256, 32, 0),
            OpKind::Fp32,
            0.0,
            (n * 8.0, n * 16.0),
        ));
    }
}

/// One expert's iteration of the loop for `n` of the step's `t` tokens (hidden `h`, expert width
/// `f`): the mask row, `torch.where`, the gather, SiLU(x·Wg) * (x·Wu) · Wd, the routing weight,
/// and `index_add_`. The last kernel syncs: the next iteration's `int(expert_idx)` reads the device.
fn expert(cfg: &ModelConfig, t: u64, n: u64, weight_bytes: f64, gpu: Gpu, sync_after: bool) -> Vec<KernelSpec> {
    let (h, f, k) = (cfg.hidden, cfg.expert_ffn, cfg.experts_per_token);
    let mask = k * t;
    let mut out = Vec::new();
    if t > 1 {
        // expert_mask[e] of the permuted one-hot is strided beyond one token: made contiguous.
        out.push(elementwise("expert mask row (contiguous)", Elementwise::Strided, mask, 8.0, 8, 0.0));
    }
    let m = mask as f64;
    // `index_elementwise_kernel`: 512 elements per 128-thread block (traced: 4 for 2048).
    let grid = div_ceil(mask, 512);
    out.push(kernel("expert mask row (index)", grid, (128, 32, 0), OpKind::Fp32, 0.0, (m * 8.0, m * 8.0)));
    nonzero(&mut out, "expert tokens", mask, true);
    let rows = (n * h) as f64 * 2.0;
    if n == 1 {
        // One row: `index_elementwise_kernel`, 512 elements per block (traced: 4 for 2048).
        out.push(kernel(
            "gather tokens (index)",
            div_ceil(h, 512),
            (128, 32, 0),
            OpKind::Fp32,
            0.0,
            (rows + 8.0, rows),
        ));
    } else {
        // `vectorized_gather_kernel`: one 256-thread block per 4 KB of a row (traced: n for 2048).
        out.push(kernel(
            "gather tokens (gather)",
            n * div_ceil(h * 2, 4096),
            (256, 32, 0),
            OpKind::Fp32,
            0.0,
            (rows + n as f64 * 8.0, rows),
        ));
    }
    out.extend(gemm("expert gate", n, f, h, weight_bytes, gpu));
    out.push(elementwise("expert silu", Elementwise::Vectorized, n * f, 2.0, 2, 8.0));
    out.extend(gemm("expert up", n, f, h, weight_bytes, gpu));
    out.push(elementwise("expert gate * up", Elementwise::Vectorized, n * f, 4.0, 2, 1.0));
    out.extend(gemm("expert down", n, h, f, weight_bytes, gpu));
    let w = (n as f64 * 10.0, n as f64 * 2.0);
    out.push(kernel("routing weight (index)", div_ceil(n, 512), (128, 32, 0), OpKind::Fp32, 0.0, w));
    out.push(elementwise("expert * routing weight", Elementwise::Strided, n * h, 2.0, 2, 1.0));
    // `indexFuncSmallIndex`: one 128-thread block per 128 columns (traced: 16 for 2048).
    let mut add = kernel("index_add", div_ceil(h, 128), (128, 32, 0), OpKind::Fp32, (n * h) as f64, (2.0 * rows, rows));
    add.sync = sync_after;
    out.push(add);
    out
}

/// The MoE block of one layer for `t` tokens: its kernels in stream order and its per-expert
/// loops as groups (positions relative to the first kernel returned), one group per token count.
pub fn hf_loop(cfg: &ModelConfig, t: u64, weight_bytes: f64, gpu: Gpu) -> (Vec<KernelSpec>, Vec<KernelGroup>) {
    let (h, e, k) = (cfg.hidden, cfg.experts, cfg.experts_per_token);
    let mut out = gemm("router", t, e, h, weight_bytes, gpu);
    let logits = t * e;
    out.push(elementwise("router logits to fp32", Elementwise::Cast, logits, 2.0, 4, 0.0));
    let l = logits as f64;
    // `softmax_warp_forward`: 4 warps of 2 rows each per block for rows of up to 128.
    out.push(kernel("router softmax", div_ceil(t, 8), (128, 32, 0), OpKind::Fp32, l * 4.0, (l * 4.0, l * 4.0)));
    let chosen = (t * k) as f64;
    out.push(kernel("top-k (gather)", t, (128, 32, 0), OpKind::Fp32, l, (l * 4.0, chosen * 12.0)));
    out.push(kernel("top-k (sort)", t, (16, 32, 0), OpKind::Fp32, chosen * 8.0, (chosen * 12.0, chosen * 12.0)));
    out.push(reduce("routing weight sum", t, k, 4.0));
    out.push(elementwise("routing weight normalise", Elementwise::Strided, t * k, 8.0, 4, 1.0));
    out.push(elementwise("routing weight to bf16", Elementwise::Vectorized, t * k, 4.0, 2, 0.0));
    out.push(elementwise("output zeros", Elementwise::Vectorized, t * h, 0.0, 2, 0.0));
    let mask = e * k * t;
    out.push(elementwise("one-hot zeros", Elementwise::Vectorized, mask, 0.0, 8, 0.0));
    out.push(elementwise("one-hot scatter", Elementwise::Strided, t * k, 8.0, 8, 0.0));
    // The mask summed over tokens and choices per expert: one block at the traced sizes.
    let mut hits = reduce("experts hit (sum)", e, k * t, 8.0);
    hits.grid = div_ceil(mask, 1 << 16);
    out.push(hits);
    out.push(elementwise("experts hit (> 0)", Elementwise::Vectorized, e, 8.0, 1, 1.0));
    // The hit list's nonzero syncs; then `int(expert_idx)` reads it before the first expert.
    nonzero(&mut out, "experts hit", e, false);
    if let Some(last) = out.last_mut() {
        last.sync = true;
    }
    let loads = expert_loads(e, k, t);
    let mut groups = Vec::new();
    for (i, &(n, count)) in loads.iter().enumerate() {
        let last = i + 1 == loads.len();
        // The step's very last expert is followed by no device read: it runs once outside the group.
        let looped = if last { count - 1 } else { count };
        if looped > 0 {
            let block = expert(cfg, t, n, weight_bytes, gpu, true);
            groups.push(KernelGroup {
                name: format!("experts of {n} token{}", if n == 1 { "" } else { "s" }),
                first: out.len(),
                len: block.len(),
                repeat: looped as u32,
            });
            out.extend(block);
        }
        if last {
            out.extend(expert(cfg, t, n, weight_bytes, gpu, false));
        }
    }
    (out, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_are_the_binomial() {
        // One token: exactly its k experts, one token each.
        assert_eq!(expert_loads(128, 8, 1), vec![(1, 8)]);
        // Batch 16: 82 experts hit (traced 82.1 per layer); expected 48.6 / 24.3 / 7.6 / 1.6 / 0.3
        // with 1-5 tokens, apportioned 49 / 24 / 7 / 2 (traced 49.1 / 23.5 / 8.1 / 1.7 / 0.2).
        let l = expert_loads(128, 8, 16);
        assert_eq!(l.iter().map(|x| x.1).sum::<u64>(), 82);
        assert_eq!(l, vec![(1, 49), (2, 24), (3, 7), (4, 2)]);
        // Many tokens: every expert hit, about t·k/E tokens each.
        let l = expert_loads(128, 8, 4096);
        assert_eq!(l.iter().map(|x| x.1).sum::<u64>(), 128);
        let tokens: u64 = l.iter().map(|x| x.0 * x.1).sum();
        assert!((tokens as f64 / (4096.0 * 8.0) - 1.0).abs() < 0.02, "{tokens}");
    }
}
