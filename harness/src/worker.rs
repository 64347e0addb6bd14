//! The worker side of multi-process measurements (the parent side is [`crate::children`]).
//!
//! A worker calls [`die_with_parent`] first, opens the GPU itself (so it is a separate CUDA
//! context, or a separate MPS client), loads and warms up its kernels, says [`READY`], waits for
//! [`GO`] on stdin so that all workers start together, measures, and prints one JSON line with
//! [`reply`], which the parent reads with [`crate::Worker::finish_json`].

use crate::error::HarnessError;
use serde::Serialize;
use std::io::{BufRead, Write};

/// Printed by a worker once it can start measuring at once.
pub const READY: &str = "ready";
/// Sent by the parent to start the measurement.
pub const GO: &str = "go";

/// Called first thing in a worker: die with the parent, whatever way the parent goes.
pub fn die_with_parent() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
}

/// One line to the parent, flushed at once (the parent may be waiting for it).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Waits for the parent to send `word` (one line on stdin).
pub fn wait_for(word: &str) -> Result<(), HarnessError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| HarnessError::Process(e.to_string()))?;
    if line.trim() == word {
        Ok(())
    } else {
        Err(HarnessError::Process(format!("expected `{word}`, got {line:?}")))
    }
}

/// The worker's result: one JSON line, the last thing it prints.
pub fn reply<T: Serialize>(v: &T) -> Result<(), HarnessError> {
    let s = serde_json::to_string(v).map_err(|e| HarnessError::Process(e.to_string()))?;
    say(&s);
    Ok(())
}
