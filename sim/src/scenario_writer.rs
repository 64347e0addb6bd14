//! Writing a client as scenario text (the format of docs/scenarios.md): what `simgpu import`
//! and `simgpu generate` print, so that a user can read, keep and edit the kernels.

use crate::spec::{ClientSpec, KernelSpec, OpKind};
use std::fmt::Write;

/// A TOML string, escaped by the `toml` crate.
pub fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A float as TOML reads one, in Rust's shortest form (`1e17`, not eighteen digits, which is
/// what `toml` itself would write).
pub fn float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// Per kernel entry: a comment after `dram_bytes` (where the bytes came from) and a closing
/// comment line; either may be empty.
pub type Comments<'a> = &'a dyn Fn(usize) -> (String, String);

fn kernel(out: &mut String, table: &str, k: &KernelSpec, bytes_note: &str, tail: &str) {
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
        let note = if bytes_note.is_empty() { String::new() } else { format!("  # {bytes_note}") };
        let _ = writeln!(out, "dram_bytes = {}{note}", float(w.dram_bytes * g));
        if let Some(s) = w.dram_write_share {
            let _ = writeln!(out, "dram_write_share = {}", float((s * 1e4).round() / 1e4));
        }
    }
    if w.instructions > 0.0 {
        let _ = writeln!(out, "instructions = {}", float(w.instructions * g));
    }
    if w.link_bytes > 0.0 {
        let _ = writeln!(out, "link_bytes = {}", float(w.link_bytes * g));
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
    if k.repeat > 1 {
        let _ = writeln!(out, "repeat = {}", k.repeat);
    }
    if !tail.is_empty() {
        let _ = writeln!(out, "# {tail}");
    }
}

/// Appends `[[clients]]` for `c`: its name, requests, warm-up, unit and kernels, groups as
/// nested entries. (Arrivals and timing are written only where they differ from the defaults.)
pub fn client(out: &mut String, c: &ClientSpec, comments: Comments<'_>) {
    let _ = writeln!(out, "\n[[clients]]");
    let _ = writeln!(out, "name = {}", quoted(&c.name));
    if let Some(r) = c.requests {
        let _ = writeln!(out, "requests = {r}");
    }
    if c.warmup_requests > 0 {
        let _ = writeln!(out, "warmup_requests = {}", c.warmup_requests);
    }
    match c.arrivals {
        crate::spec::Arrivals::ClosedLoop { think_us } if think_us > 0.0 => {
            let _ = writeln!(out, "think_us = {}", float(think_us));
        }
        crate::spec::Arrivals::Poisson { rate_per_s } => {
            let _ = writeln!(out, "arrival_rate_per_s = {}", float(rate_per_s));
        }
        _ => {}
    }
    let _ = writeln!(out, "unit = {}", quoted(&c.unit));
    if c.units_per_request != 1.0 {
        let _ = writeln!(out, "units_per_request = {}", float(c.units_per_request));
    }
    if c.cuda_graph {
        let _ = writeln!(out, "cuda_graph = true");
    }
    entries(out, c, 0, c.kernels.len(), None, "clients.kernels", &comments);
}

/// Writes the entries of `[lo, hi)` as `table` entries: a group (`ClientSpec::group_at`, the
/// walk's own rule) as an entry of its own with its members nested under it.
fn entries(
    out: &mut String,
    c: &ClientSpec,
    lo: usize,
    hi: usize,
    inside: Option<usize>,
    table: &str,
    comments: &Comments<'_>,
) {
    let mut i = lo;
    while i < hi {
        match c.group_at(i, hi, inside) {
            Some(gi) => {
                let g = &c.groups[gi];
                let _ = writeln!(out, "\n[[{table}]]");
                let _ = writeln!(out, "name = {}", quoted(&g.name));
                let _ = writeln!(out, "repeat = {}", g.repeat);
                entries(out, c, g.first, g.first + g.len, Some(gi), &format!("{table}.kernels"), comments);
                i = g.first + g.len;
            }
            None => {
                let (b, t) = comments(i);
                kernel(out, table, &c.kernels[i], &b, &t);
                i += 1;
            }
        }
    }
}
