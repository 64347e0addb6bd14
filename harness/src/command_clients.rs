//! Clients that are the user's own commands (a serving benchmark, a torch loop), run side by side
//! under one sharing mode: the real-command half of `simgpu validate run`.
//!
//! The line protocol (docs/validate.md): simgpu starts each command in the experiment's
//! directory with `SIMGPU_CLIENT` (its client name) and `SIMGPU_SECONDS` (the measured window)
//! set, under MPS also the daemon's directories and the client's
//! `CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`. A command prints [`READY`] once warmed up, waits for
//! [`GO`] on stdin (sent to every client at once), measures for the window and prints, as its last
//! line, [`RESULT`] followed by a JSON object of metric values (`p50_us`, `throughput_per_s`, ...)
//! and `samples`. Everything else it prints is ignored. Commands die with simgpu (however it
//! ends) and the daemon is always stopped.

use crate::children::Worker;
use crate::error::HarnessError;
use crate::mps_daemon::MpsDaemon;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const READY: &str = "simgpu ready";
pub const GO: &str = "go";
pub const RESULT: &str = "simgpu result ";

/// One client's command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandClient {
    pub name: String,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// MPS only: `CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`.
    pub mps_thread_percentage: Option<f64>,
}

/// What a client's command reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientResult {
    pub name: String,
    pub values: BTreeMap<String, f64>,
    pub samples: u64,
}

/// How long a command may take to say it is ready (model loads), and past its window to finish.
pub const READY_TIMEOUT: Duration = Duration::from_secs(300);
pub const FINISH_SLACK: Duration = Duration::from_secs(120);

/// Runs `clients` together: under an MPS daemon of their own when `mps`, else as plain processes
/// (time-sliced when there are several). Returns each client's result, in order.
pub fn run_together(clients: &[CommandClient], mps: bool, seconds: f64) -> Result<Vec<ClientResult>, HarnessError> {
    let daemon = if mps { Some(MpsDaemon::start()?) } else { None };
    let mut workers = Vec::new();
    for c in clients {
        let mut env = daemon.as_ref().map(|d| d.client_env()).unwrap_or_default();
        env.push(("SIMGPU_CLIENT".into(), c.name.clone()));
        env.push(("SIMGPU_SECONDS".into(), seconds.to_string()));
        if let (true, Some(p)) = (mps, c.mps_thread_percentage) {
            env.push(("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE".into(), p.to_string()));
        }
        let mut w = Worker::spawn_program(&c.argv, &env, &c.cwd)?;
        // One at a time: a client's module loads would otherwise run beside another's warm-up.
        w.expect(READY, READY_TIMEOUT).map_err(|e| named(&c.name, e))?;
        workers.push(w);
    }
    for (w, c) in workers.iter_mut().zip(clients) {
        w.send_line(GO).map_err(|e| named(&c.name, e))?;
    }
    let window = Duration::from_secs_f64(seconds) + FINISH_SLACK;
    let mut out = Vec::new();
    for (w, c) in workers.into_iter().zip(clients) {
        let line = w.finish(window).map_err(|e| named(&c.name, e))?;
        out.push(parse_result(&c.name, &line)?);
    }
    drop(daemon);
    Ok(out)
}

fn named(client: &str, e: HarnessError) -> HarnessError {
    HarnessError::Process(format!("client `{client}`: {e}"))
}

/// The result line of a client: `simgpu result {"samples": N, "<metric>": value, ...}`.
pub fn parse_result(client: &str, line: &str) -> Result<ClientResult, HarnessError> {
    let bad = |why: String| HarnessError::Process(format!("client `{client}`: last line {line:?}: {why}"));
    let json =
        line.trim().strip_prefix(RESULT.trim_end()).ok_or_else(|| bad(format!("does not start with `{RESULT}`")))?;
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(json.trim()).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let mut values = BTreeMap::new();
    let mut samples = None;
    for (k, v) in map {
        let x = v.as_f64().ok_or_else(|| bad(format!("`{k}` is not a number")))?;
        if k == "samples" {
            samples = Some(x as u64);
        } else {
            values.insert(k, x);
        }
    }
    let samples = samples.ok_or_else(|| bad("no `samples`".into()))?;
    Ok(ClientResult { name: client.to_string(), values, samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_parse_and_bad_ones_say_why() {
        let r = parse_result("a", r#"simgpu result {"samples": 12, "p50_us": 3.5}"#).unwrap();
        assert_eq!((r.samples, r.values["p50_us"]), (12, 3.5));
        assert!(parse_result("a", "done").unwrap_err().to_string().contains("does not start with"));
        assert!(parse_result("a", r#"simgpu result {"p50_us": 3.5}"#).unwrap_err().to_string().contains("samples"));
        assert!(parse_result("a", r#"simgpu result {"samples": 1, "x": "y"}"#).is_err());
    }

    #[test]
    fn commands_run_together_without_mps() {
        let sh = |name: &str, value: &str| {
            CommandClient {
            name: name.into(),
            argv: [
                "sh",
                "-c",
                &format!("echo loading; echo 'simgpu ready'; read go; echo \"simgpu result {{\\\"samples\\\": 3, \\\"p50_us\\\": {value}, \\\"seconds\\\": $SIMGPU_SECONDS}}\""),
            ]
            .map(String::from)
            .to_vec(),
            cwd: PathBuf::from("."),
            mps_thread_percentage: None,
        }
        };
        let r = run_together(&[sh("a", "1.5"), sh("b", "2.5")], false, 0.5).unwrap();
        assert_eq!(r[0].values["p50_us"], 1.5);
        assert_eq!(r[1].values["p50_us"], 2.5);
        assert_eq!(r[1].values["seconds"], 0.5);
        // A command that never says ready is an error naming it.
        let mut quiet = sh("c", "1");
        quiet.argv = ["sh", "-c", "exit 3"].map(String::from).to_vec();
        let e = run_together(&[quiet], false, 0.1).unwrap_err();
        assert!(e.to_string().contains("client `c`"), "{e}");
    }
}
