//! simgpu's simulator core: a pure, deterministic discrete-event model of an NVIDIA GPU shared
//! between workloads. No I/O: callers hand in typed specs (or scenario and profile text) and get
//! reports back.
//!
//! The interface (everything else is private to the crate):
//! - [`spec`]: the front door. [`WorkloadSpec`] (what runs) and [`Layout`] (where: GPUs,
//!   partitions, sharing modes), built by any front end.
//! - [`Scenario`]: the TOML front end; [`Scenario::bind`] gives a [`Workload`] with located errors.
//! - [`GpuProfile`] ([`profile`]): parameters with their sources; [`power`] for the calibration fits.
//! - [`Workload::build`] binds a spec and a layout to a profile; [`run`] / [`run_with`] simulate it into
//!   a [`Report`], telling a [`trace::Recorder`] what happens if asked. [`Engine`] steps one GPU (for tests).
//!
//! Inside: [`engine`] runs the events of one GPU; `placement` (SM groups, block scheduler) with
//! `occupancy` decides where blocks go; `progress` with `fair_share` sets their speed;
//! [`sharing`] holds one file per sharing mode; [`partition`] resolves MIG instances and fixed SM
//! partitions to SMs and DRAM pools; `power` the power model and clock controller;
//! `stats` and [`report`] what comes out.

mod engine;
mod event_queue;
mod fair_share;
pub mod fast_power_limit;
mod gpu_params;
mod input_error;
mod occupancy;
pub mod partition;
mod placement;
pub mod power;
pub mod profile;
mod progress;
pub mod report;
mod rng;
mod run;
mod samples;
mod scenario;
pub mod scenario_writer;
pub mod sharing;
mod slab;
pub mod slowdown;
mod sm_set;
pub mod spec;
mod stats;
pub mod trace;
mod workload;

pub use engine::{Engine, RunError, MAX_QUEUED_REQUESTS};
pub use event_queue::Ns;
pub use input_error::InputError;
pub use occupancy::{blocks_per_empty_sm, BlockShape};
pub use profile::GpuProfile;
pub use report::Report;
pub use run::{alone_us, estimate_events, run, run_with, Progress, RunOptions, Stopped, Windows};
pub use scenario::{Scenario, DEFAULT_DURATION_S};
pub use sharing::mps;
pub use spec::{Layout, SpecError, WorkloadSpec};
pub use workload::{GpuWorkload, Workload};
