//! FLOPs from an op's input shapes, for the ops the profiler's `with_flops=True` leaves out.
//!
//! The profiler counts `mm`, `addmm`, `bmm` and a few others; it gives nothing for fused
//! matmuls (`_addmm_activation`, what `nn.Linear` + ReLU/GELU becomes on torch's fast paths) or
//! for attention. Without FLOPs such a kernel runs on its instruction count alone, which for
//! tensor-core kernels (one `wgmma` does thousands of FLOPs) says little. The shapes are in the
//! trace (`record_shapes=True`), so the work is counted here, as the profiler would have.

use crate::torch_trace::OpInfo;

/// FLOPs of the op from its shapes, or None when the op is not one this knows or a shape is
/// missing.
pub fn from_shapes(op: &OpInfo) -> Option<f64> {
    let d = |i: usize| op.dims.get(i).filter(|d| !d.is_empty());
    let flops = match op.name.as_str() {
        "aten::mm" | "aten::_scaled_mm" => matmul(d(0)?, d(1)?),
        "aten::addmm" | "aten::_addmm_activation" | "aten::baddbmm" => matmul(d(1)?, d(2)?),
        "aten::bmm" => matmul(d(0)?, d(1)?),
        _ => attention(op),
    }?;
    // A malformed trace (negative or absurd dimensions) gives no count rather than a bad one.
    (flops.is_finite() && flops > 0.0).then_some(flops)
}

/// 2·M·K·N for `a` = [.., M, K] and `b` = [.., K, N], times the batch of `a`.
fn matmul(a: &[f64], b: &[f64]) -> Option<f64> {
    let (&k, rest) = a.split_last()?;
    let (&m, batch) = rest.split_last()?;
    let (&n, brest) = b.split_last()?;
    let &kb = brest.last()?;
    if kb != k {
        return None;
    }
    Some(2.0 * batch.iter().product::<f64>() * m * k * n)
}

/// Layout of q/k/v and the index of `is_causal` among the inputs, per attention op.
/// `scaled_dot_product_*` and cuDNN take [batch, heads, seq, dim]; the flash and memory-efficient
/// kernels' own entry points take [batch, seq, heads, dim].
fn attention_layout(name: &str) -> Option<(bool, usize)> {
    Some(match name {
        "aten::scaled_dot_product_attention" => (false, 5),
        "aten::_scaled_dot_product_flash_attention" | "aten::_scaled_dot_product_efficient_attention" => (false, 4),
        "aten::_scaled_dot_product_cudnn_attention" => (false, 6),
        "aten::_cudnn_attention_forward" => (false, 8),
        "aten::_flash_attention_forward" => (true, 8),
        "aten::_efficient_attention_forward" => (true, 9),
        _ => return None,
    })
}

/// Attention: S = Q·Kᵀ and O = P·V, 2·Sq·Sk·(D + Dv) per head, over the score elements a causal
/// mask leaves (row i sees keys 0..=i, torch's top-left alignment).
fn attention(op: &OpInfo) -> Option<f64> {
    let (seq_major, causal_at) = attention_layout(&op.name)?;
    let (q, k, v) = (op.dims.first()?, op.dims.get(1)?, op.dims.get(2)?);
    if q.len() != 4 || k.len() != 4 || v.len() != 4 {
        return None;
    }
    let (b, heads, sq, dq) = if seq_major { (q[0], q[2], q[1], q[3]) } else { (q[0], q[1], q[2], q[3]) };
    let sk = if seq_major { k[1] } else { k[2] };
    let dv = v[3];
    let causal = op.concrete.get(causal_at).is_some_and(|c| c == "True");
    let scores = if causal {
        // Σ_{i<sq} min(i + 1, sk)
        let full = (sq - sk).max(0.0);
        let tri = sq.min(sk);
        tri * (tri + 1.0) / 2.0 + full * sk
    } else {
        sq * sk
    };
    Some(2.0 * b * heads * scores * (dq + dv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, dims: &[&[f64]], concrete: &[&str]) -> OpInfo {
        OpInfo {
            name: name.into(),
            external_id: 0,
            flops: None,
            input_bytes: None,
            dtype: None,
            dims: dims.iter().map(|d| d.to_vec()).collect(),
            concrete: concrete.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn fused_linear_counts_as_its_matmul() {
        // nn.Linear(1024, 4096) + ReLU over 32,768 tokens, as torch's encoder fast path records it.
        let o = op("aten::_addmm_activation", &[&[4096.0], &[32768.0, 1024.0], &[1024.0, 4096.0]], &[]);
        assert_eq!(from_shapes(&o), Some(2.0 * 32768.0 * 1024.0 * 4096.0));
        // The profiler's own count for the plain addmm of the same shape (from a trace).
        let o = op("aten::addmm", &[&[3072.0], &[32768.0, 1024.0], &[1024.0, 3072.0]], &[]);
        assert_eq!(from_shapes(&o), Some(206_158_430_208.0));
        let o = op("aten::bmm", &[&[8.0, 16.0, 32.0], &[8.0, 32.0, 64.0]], &[]);
        assert_eq!(from_shapes(&o), Some(2.0 * 8.0 * 16.0 * 32.0 * 64.0));
        assert_eq!(from_shapes(&op("aten::mm", &[&[16.0, 32.0], &[31.0, 64.0]], &[])), None);
        assert_eq!(from_shapes(&op("aten::mm", &[&[-16.0, 32.0], &[32.0, 64.0]], &[])), None);
        assert_eq!(from_shapes(&op("aten::mm", &[&[1e300, 1e300], &[1e300, 1e300]], &[])), None);
    }

    #[test]
    fn attention_from_qkv() {
        let q: &[f64] = &[64.0, 16.0, 512.0, 64.0];
        let bhsd: &[&[f64]] = &[q, q, q];
        let o = op("aten::_cudnn_attention_forward", bhsd, &["", "", "", "", "", "", "512", "512", "False"]);
        assert_eq!(from_shapes(&o), Some(4.0 * 64.0 * 16.0 * 512.0 * 512.0 * 64.0));
        // Causal over 4 queries and 4 keys: 1 + 2 + 3 + 4 score elements per head.
        let o = op(
            "aten::scaled_dot_product_attention",
            &[&[1.0, 2.0, 4.0, 8.0], &[1.0, 1.0, 4.0, 8.0], &[1.0, 1.0, 4.0, 8.0]],
            &["", "", "", "", "0.", "True"],
        );
        assert_eq!(from_shapes(&o), Some(2.0 * 2.0 * 10.0 * 16.0));
        // Decode: one query over 513 keys, grouped-query heads, [batch, seq, heads, dim].
        let o = op(
            "aten::_flash_attention_forward",
            &[&[1.0, 1.0, 28.0, 128.0], &[1.0, 513.0, 4.0, 128.0], &[1.0, 513.0, 4.0, 128.0]],
            &[],
        );
        assert_eq!(from_shapes(&o), Some(2.0 * 28.0 * 513.0 * 256.0));
    }
}
