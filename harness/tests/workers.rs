//! The parent/worker line protocol end to end, without a GPU: this test binary is its own worker
//! (libtest runs one test of it when asked with `--exact`).

use simgpu_harness::worker::{self, GO, READY};
use simgpu_harness::Worker;
use std::time::Duration;

const AS_WORKER: &str = "SIMGPU_HARNESS_TEST_WORKER";

/// A worker when started by `the_protocol_round_trips`; otherwise nothing to do.
#[test]
fn echo_worker() {
    if std::env::var_os(AS_WORKER).is_none() {
        return;
    }
    worker::die_with_parent();
    worker::say(READY);
    let result = worker::wait_for(GO).map(|()| vec![1u32, 2, 3]);
    match result {
        Ok(v) => {
            worker::reply(&v).unwrap();
            // Exit before libtest prints its summary, so the reply is the last line.
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(3)
        }
    }
}

fn spawn_echo() -> Worker {
    // Quiet: libtest then prints nothing on the line where the worker speaks.
    let args = ["echo_worker".to_string(), "--nocapture".into(), "--test-threads=1".into(), "--quiet".into()];
    Worker::spawn("--exact", &args, &[(AS_WORKER.into(), "1".into())]).expect("the test binary starts")
}

#[test]
fn the_protocol_round_trips() {
    let mut w = spawn_echo();
    w.expect(READY, Duration::from_secs(60)).unwrap();
    w.send_line(GO).unwrap();
    let v: Vec<u32> = w.finish_json(Duration::from_secs(60)).unwrap();
    assert_eq!(v, [1, 2, 3]);
}

#[test]
fn a_wrong_word_fails_the_worker_and_says_why() {
    let mut w = spawn_echo();
    w.expect(READY, Duration::from_secs(60)).unwrap();
    w.send_line("stop").unwrap();
    let e = w.finish(Duration::from_secs(60)).unwrap_err().to_string();
    assert!(e.contains("expected `go`"), "{e}");
}

#[test]
fn a_dropped_worker_is_killed() {
    let mut w = spawn_echo();
    w.expect(READY, Duration::from_secs(60)).unwrap();
    // Dropping without `go` kills and reaps it; nothing hangs.
    drop(w);
}
