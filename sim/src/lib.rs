//! simgpu's simulator core: a pure, deterministic discrete-event model of an NVIDIA GPU shared
//! between workloads. No I/O: callers hand in scenario and profile text and get reports back.
//!
//! Map: [`scenario`] and [`profile`] parse input; [`workload`] binds them; [`engine`] runs the
//! events; [`placement`] (SM groups, block scheduler) with [`occupancy`] decides where blocks go;
//! [`progress`] with [`fair_share`] sets their speed; [`timeslice`], [`mps`] and [`power`] are the
//! sharing and power mechanisms; [`report`] and [`trace`] are what comes out.

pub mod engine;
pub mod event_queue;
pub mod fair_share;
pub mod input_error;
pub mod mps;
pub mod occupancy;
pub mod placement;
pub mod power;
pub mod profile;
pub mod progress;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod slab;
pub mod sm_set;
pub mod timeslice;
pub mod trace;
pub mod workload;

pub use engine::{run, Engine};
pub use input_error::InputError;
pub use profile::GpuProfile;
pub use report::Report;
pub use scenario::Scenario;
pub use workload::Workload;
