//! An MPS control daemon in directories of our own, always stopped: on success, on error (Drop)
//! and on Ctrl-C (a handler quits every daemon still registered, then exits).

use crate::error::HarnessError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pipe directories of running daemons, for the Ctrl-C handler.
static RUNNING: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

pub struct MpsDaemon {
    pipe: PathBuf,
    log: PathBuf,
    stopped: bool,
}

fn control(pipe: &Path, log: &Path) -> Command {
    let mut c = Command::new("nvidia-cuda-mps-control");
    c.env("CUDA_MPS_PIPE_DIRECTORY", pipe).env("CUDA_MPS_LOG_DIRECTORY", log);
    c
}

fn quit(pipe: &Path, log: &Path) {
    if let Ok(mut child) = control(pipe, log).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
    {
        if let Some(mut s) = child.stdin.take() {
            let _ = s.write_all(b"quit\n");
        }
        let _ = child.wait();
    }
    // The daemon removes its pipe when it has gone; give it a moment.
    let start = Instant::now();
    while pipe.join("control").exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(pipe);
    let _ = std::fs::remove_dir_all(log);
}

/// What the caller also undoes on Ctrl-C (e.g. removing its outputs' temporaries).
static CLEANUP: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Installs the Ctrl-C handler once: quit every registered daemon, run the caller's cleanup (see
/// [`on_interrupt`]), then exit 130. Child processes die with this one (PR_SET_PDEATHSIG).
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let daemons = RUNNING.lock().map(|v| v.clone()).unwrap_or_default();
            let n = daemons.len();
            for (pipe, log) in daemons {
                quit(&pipe, &log);
            }
            if let Some(f) = CLEANUP.get() {
                f();
            }
            eprintln!("interrupted{}", if n > 0 { ": MPS daemon stopped" } else { "" });
            std::process::exit(130);
        });
    });
}

/// Installs the Ctrl-C handler with `cleanup` to run in it (the first cleanup given stays).
pub fn on_interrupt(cleanup: fn()) {
    let _ = CLEANUP.set(cleanup);
    install_interrupt_handler();
}

impl MpsDaemon {
    /// Starts `nvidia-cuda-mps-control -d` with its own pipe and log directories.
    pub fn start() -> Result<MpsDaemon, HarnessError> {
        install_interrupt_handler();
        let base = std::env::temp_dir().join(format!("simgpu-mps-{}", std::process::id()));
        let (pipe, log) = (base.join("pipe"), base.join("log"));
        for d in [&pipe, &log] {
            std::fs::create_dir_all(d).map_err(|e| HarnessError::Mps(format!("cannot create {}: {e}", d.display())))?;
        }
        let status =
            control(&pipe, &log).arg("-d").stdout(Stdio::null()).stderr(Stdio::piped()).status().map_err(|e| {
                let _ = std::fs::remove_dir_all(&base);
                HarnessError::Mps(format!("cannot run nvidia-cuda-mps-control (is it on the PATH?): {e}"))
            })?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(&base);
            return Err(HarnessError::Mps(format!("nvidia-cuda-mps-control -d failed: {status}")));
        }
        if let Ok(mut v) = RUNNING.lock() {
            v.push((pipe.clone(), log.clone()));
        }
        let d = MpsDaemon { pipe, log, stopped: false };
        // The control pipe appears once the daemon listens.
        let start = Instant::now();
        while !d.pipe.join("control").exists() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(HarnessError::Mps("the MPS control daemon did not come up within 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    /// Environment a client needs to join this daemon.
    pub fn client_env(&self) -> Vec<(String, String)> {
        vec![
            ("CUDA_MPS_PIPE_DIRECTORY".into(), self.pipe.display().to_string()),
            ("CUDA_MPS_LOG_DIRECTORY".into(), self.log.display().to_string()),
        ]
    }

    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        quit(&self.pipe, &self.log);
        if let Ok(mut v) = RUNNING.lock() {
            v.retain(|(p, _)| p != &self.pipe);
        }
        if let Some(base) = self.pipe.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

impl Drop for MpsDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}
