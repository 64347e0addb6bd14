//! Worker child processes, parent side (time-slicing and MPS measurements need several processes,
//! each its own CUDA context or MPS client). A worker is the same binary run with a hidden
//! subcommand (`simgpu calibrate-worker ROLE ...`); it talks in lines on stdin/stdout (see
//! [`crate::worker`] for its side), dies with its parent (PR_SET_PDEATHSIG), and the parent's
//! handle kills and reaps it when dropped, so no child outlives the command.

use crate::error::HarnessError;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A running worker; killed and reaped on drop.
pub struct Worker {
    child: Option<std::process::Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    what: String,
}

impl Worker {
    /// Starts `current_exe <subcommand> <args>` with extra environment variables.
    pub fn spawn(subcommand: &str, args: &[String], env: &[(String, String)]) -> Result<Worker, HarnessError> {
        let exe =
            std::env::current_exe().map_err(|e| HarnessError::Process(format!("cannot find own executable: {e}")))?;
        let mut cmd = Command::new(exe);
        cmd.arg(subcommand).args(args);
        let what = std::iter::once(subcommand).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
        Self::start(cmd, env, what)
    }

    /// Starts any program (`argv[0]`, found on the PATH or relative to `cwd`) in `cwd`. It is
    /// killed with this process however this one ends (PR_SET_PDEATHSIG, set before exec), as
    /// well as on drop.
    pub fn spawn_program(argv: &[String], env: &[(String, String)], cwd: &Path) -> Result<Worker, HarnessError> {
        let (program, args) = argv.split_first().ok_or_else(|| HarnessError::Process("empty command".into()))?;
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(cwd);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and only sets a flag on the child.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                    Ok(())
                });
            }
        }
        Self::start(cmd, env, argv.join(" "))
    }

    fn start(mut cmd: Command, env: &[(String, String)], what: String) -> Result<Worker, HarnessError> {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| HarnessError::Process(format!("cannot start `{what}`: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| HarnessError::Process("worker has no stdout".into()))?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                s
            })
        });
        Ok(Worker { stdin: child.stdin.take(), child: Some(child), lines, stderr, what })
    }

    /// The next line the worker prints, or an error if it exits or `timeout` passes first.
    pub fn read_line(&mut self, timeout: Duration) -> Result<String, HarnessError> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) => Ok(l),
            Err(RecvTimeoutError::Timeout) => {
                Err(HarnessError::Process(format!("worker `{}` said nothing for {timeout:?}", self.what)))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.failure()),
        }
    }

    /// Reads lines until one equals `word`.
    pub fn expect(&mut self, word: &str, timeout: Duration) -> Result<(), HarnessError> {
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            if self.read_line(left)?.trim() == word {
                return Ok(());
            }
        }
    }

    pub fn send_line(&mut self, line: &str) -> Result<(), HarnessError> {
        let s = self.stdin.as_mut().ok_or_else(|| HarnessError::Process("worker stdin closed".into()))?;
        writeln!(s, "{line}")
            .and_then(|_| s.flush())
            .map_err(|e| HarnessError::Process(format!("worker `{}`: {e}", self.what)))
    }

    fn failure(&mut self) -> HarnessError {
        let status = self.child.as_mut().and_then(|c| c.wait().ok());
        let err = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        HarnessError::Process(format!(
            "worker `{}` exited ({}): {}",
            self.what,
            status.map(|s| s.to_string()).unwrap_or_default(),
            err.trim()
        ))
    }

    /// Waits for the worker to exit (killing it after `timeout`) and returns its last line.
    pub fn finish(mut self, timeout: Duration) -> Result<String, HarnessError> {
        let start = Instant::now();
        let mut last = None;
        loop {
            match self.lines.recv_timeout(timeout.saturating_sub(start.elapsed())) {
                Ok(l) => last = Some(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(HarnessError::Process(format!("worker `{}` timed out after {timeout:?}", self.what)));
                }
            }
        }
        let mut child = self.child.take().ok_or_else(|| HarnessError::Process("worker already finished".into()))?;
        let status = child.wait().map_err(|e| HarnessError::Process(e.to_string()))?;
        if !status.success() {
            let err = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
            return Err(HarnessError::Process(format!("worker `{}` failed ({status}): {}", self.what, err.trim())));
        }
        last.ok_or_else(|| HarnessError::Process(format!("worker `{}` printed nothing", self.what)))
    }

    /// [`Worker::finish`], then the last line read as JSON (what [`crate::worker::reply`] printed).
    pub fn finish_json<T: serde::de::DeserializeOwned>(self, timeout: Duration) -> Result<T, HarnessError> {
        let what = self.what.clone();
        let line = self.finish(timeout)?;
        serde_json::from_str(&line)
            .map_err(|e| HarnessError::Process(format!("worker `{what}` printed {line:?}, not what was expected: {e}")))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_speaks_in_lines_and_a_missing_one_is_an_error() {
        let argv: Vec<String> = ["sh", "-c", "echo hello; read x; echo got $x"].map(String::from).to_vec();
        let mut w = Worker::spawn_program(&argv, &[], Path::new(".")).unwrap();
        w.expect("hello", Duration::from_secs(30)).unwrap();
        w.send_line("go").unwrap();
        assert_eq!(w.finish(Duration::from_secs(30)).unwrap(), "got go");
        let e = Worker::spawn_program(&["/definitely/not/here".to_string()], &[], Path::new(".")).err().unwrap();
        assert!(e.to_string().contains("cannot start `/definitely/not/here`"), "{e}");
    }

    #[test]
    fn a_worker_that_cannot_run_is_an_error_not_a_panic() {
        // The test binary does not know this subcommand: it exits non-zero.
        let w = Worker::spawn("--definitely-not-a-flag", &[], &[]).unwrap();
        assert!(w.finish(Duration::from_secs(30)).is_err());
        let w = Worker::spawn("--definitely-not-a-flag", &["x".into()], &[]).unwrap();
        let e = w.finish_json::<u32>(Duration::from_secs(30)).unwrap_err();
        assert!(e.to_string().contains("--definitely-not-a-flag x"), "{e}");
    }
}
