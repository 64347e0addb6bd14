//! Writing an imported client as a scenario file (the format of docs/scenarios.md), with the
//! import's notes as comments so the file says where its numbers came from.

use crate::Imported;
use simgpu_sim::spec::{KernelSpec, OpKind};
use std::fmt::Write;

/// A TOML string, escaped by the `toml` crate.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A float as TOML reads one, in Rust's shortest form (`1e17`, not eighteen digits, which is
/// what `toml` itself would write).
fn float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

fn kernel(out: &mut String, table: &str, k: &KernelSpec, traced_us: f64, bytes_from: &str) {
    let _ = writeln!(out, "\n[[{table}]]");
    let _ = writeln!(out, "name = {}", quoted(&k.name));
    let _ = writeln!(out, "grid = {}", k.grid);
    let _ = writeln!(out, "block = {}", k.threads_per_block);
    let _ = writeln!(out, "regs_per_thread = {}", k.regs_per_thread);
    if k.smem_bytes > 0 {
        let _ = writeln!(out, "smem_bytes = {}", k.smem_bytes);
    }
    let g = k.grid as f64;
    let w = &k.per_block;
    if w.flops > 0.0 {
        let _ = writeln!(out, "flops = {}", float(w.flops * g));
    }
    if w.dram_bytes > 0.0 {
        let _ = writeln!(out, "dram_bytes = {}  # from {bytes_from}", float(w.dram_bytes * g));
    }
    if w.instructions > 0.0 {
        let _ = writeln!(out, "instructions = {}", float(w.instructions * g));
    }
    if k.op != OpKind::Fp32 {
        let _ = writeln!(out, "op = \"{}\"", k.op.as_str());
    }
    if let Some(h) = k.host_gap_us {
        let _ = writeln!(out, "host_gap_us = {}", float((h * 1000.0).round() / 1000.0));
    }
    if k.sync {
        let _ = writeln!(out, "sync = true");
    }
    let _ = writeln!(out, "# traced: {traced_us:.3} us");
}

/// The scenario text: one client on one GPU of the profile `gpu`.
pub fn scenario(im: &Imported, source: &str, gpu: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Imported by `simgpu import` from {source}");
    let _ = writeln!(
        out,
        "# ({} on {}: {} kernels).",
        im.step_label,
        im.gpu_name.as_deref().unwrap_or("an unnamed GPU"),
        im.kernels_in_step
    );
    for n in &im.notes {
        let _ = writeln!(out, "# - {n}");
    }
    let c = &im.client;
    let _ = writeln!(out, "name = {}", quoted(&c.name));
    let _ = writeln!(out, "gpu = {}", quoted(gpu));
    let _ = writeln!(out, "sharing = \"dedicated\"");
    let _ = writeln!(out, "duration_s = 60.0");
    let _ = writeln!(out, "\n[[clients]]");
    let _ = writeln!(out, "name = {}", quoted(&c.name));
    if let Some(r) = c.requests {
        let _ = writeln!(out, "requests = {r}");
    }
    if c.warmup_requests > 0 {
        let _ = writeln!(out, "warmup_requests = {}", c.warmup_requests);
    }
    let _ = writeln!(out, "unit = {}", quoted(&c.unit));
    let mut i = 0;
    while i < c.kernels.len() {
        match c.groups.iter().find(|g| g.first == i) {
            Some(g) => {
                let _ = writeln!(out, "\n[[clients.kernels]]");
                let _ = writeln!(out, "name = {}", quoted(&g.name));
                let _ = writeln!(out, "repeat = {}", g.repeat);
                for j in g.first..g.first + g.len {
                    kernel(&mut out, "clients.kernels.kernels", &c.kernels[j], im.traced_us[j], im.bytes_source[j]);
                }
                i = g.first + g.len;
            }
            None => {
                kernel(&mut out, "clients.kernels", &c.kernels[i], im.traced_us[i], im.bytes_source[i]);
                i += 1;
            }
        }
    }
    out
}
