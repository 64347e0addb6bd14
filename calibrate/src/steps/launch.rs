//! `launch`: what a kernel launch costs on the host and on the GPU.

use crate::bench_launch::{run_launch, LaunchBenchConfig};
use crate::step::{round, Field, Session, Step, Writes};
use simgpu_harness::HarnessError;

const HOST: Field<f64> = Field { name: "launch.host_launch_us", get: |p| &mut p.launch.host_launch_us };
const LATENCY: Field<f64> = Field { name: "launch.launch_latency_us", get: |p| &mut p.launch.launch_latency_us };
const BLOCK_MIN: Field<f64> = Field { name: "launch.block_min_us", get: |p| &mut p.launch.block_min_us };
const DISPATCH: Field<f64> = Field { name: "launch.block_dispatch_ns", get: |p| &mut p.launch.block_dispatch_ns };

pub const STEP: Step = Step {
    name: "launch",
    measures: "empty kernels: launch calls, round trips, back-to-back kernels, wide grids",
    fits:
        "CPU time per call; round trip minus the shortest kernel; back-to-back kernel time; time per block dispatched",
    writes: &[Writes::F64(HOST), Writes::F64(LATENCY), Writes::F64(BLOCK_MIN), Writes::F64(DISPATCH)],
    needs_mps: false,
    always: false,
    run,
};

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let r = run_launch(s.gpu, s.kernels, &LaunchBenchConfig::default())?;
    s.record("launch", &r);
    let latency = (r.host_round_trip_us.median - r.back_to_back_kernel_us).max(0.0);
    s.found.plain_launch_round_trip_us = Some(r.host_round_trip_us.median);
    s.set(&HOST, round(r.host_launch_us.median, 2));
    s.set(&LATENCY, round(latency, 2));
    s.set(&BLOCK_MIN, round(r.back_to_back_kernel_us, 2));
    s.set(&DISPATCH, round(r.block_dispatch_ns, 2));
    Ok(format!(
        "launch call {:.2} us, launch to start {:.2} us, shortest kernel {:.2} us, {:.2} ns per block dispatched",
        r.host_launch_us.median, latency, r.back_to_back_kernel_us, r.block_dispatch_ns
    ))
}
