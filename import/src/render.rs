//! Writing an imported client as a scenario file (the format of docs/scenarios.md), with the
//! import's notes as comments so the file says where its numbers came from.

use crate::Imported;
use simgpu_sim::scenario_writer::{self, quoted};
use std::fmt::Write;

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
    let comments = |j: usize| (format!("from {}", im.bytes_source[j]), format!("traced: {:.3} us", im.traced_us[j]));
    scenario_writer::client(&mut out, c, &comments);
    out
}
