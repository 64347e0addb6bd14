//! What happened, as it happens: the engine hands spans and samples to a [`Recorder`] the
//! caller supplies (a trace file writer that streams, a plot that keeps a bounded summary).
//! Nothing is kept here, so a recorded run needs no more memory than an unrecorded one, and a
//! run without a recorder pays nothing.

use crate::event_queue::Ns;

/// SMs per trace track: one track per slice of the GPU (about a GPC).
pub const SMS_PER_TRACK: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// A client's kernels, by the client's index in the workload.
    Client(u32),
    /// A slice of `SMS_PER_TRACK` SMs.
    Sms(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Span<'a> {
    pub track: Track,
    /// The kernel's name.
    pub kernel: &'a str,
    pub start: Ns,
    pub end: Ns,
    /// SMs (SM-track spans), or 0 (client-track spans).
    pub sms: u32,
    /// Blocks per SM (SM-track spans), or blocks of the launch (client-track spans).
    pub blocks: u64,
    /// False for work still running when the run ended (the span ends there).
    pub done: bool,
}

/// A step function's new value from time `t` on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// SMs holding a block of this client (by its index in the workload) while its context runs.
    ClientSms(u32),
    /// Average power over the power controller's period that starts at `t` (what NVML shows;
    /// the last period may be partial).
    PowerW,
    /// SM clock set by the controller.
    ClockMhz,
}

/// One GPU of a run, as a recorder first hears of it.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuInfo {
    pub index: u32,
    pub n_sms: u32,
    /// (index in the workload, name) of the clients on this GPU.
    pub clients: Vec<(u32, String)>,
}

/// Receives what a run does. Times are simulated nanoseconds; every GPU starts at 0.
pub trait Recorder {
    fn gpu(&mut self, info: &GpuInfo);
    fn span(&mut self, gpu: u32, span: &Span<'_>);
    fn sample(&mut self, gpu: u32, what: Sample, t: Ns, value: f64);
    /// The GPU's run ended at `t`.
    fn end(&mut self, gpu: u32, t: Ns);
}
