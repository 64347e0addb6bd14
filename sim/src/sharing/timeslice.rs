//! Time-slicing: one context per client; the partition runs one context at a time.
//!
//! Mode rules: each member is a process with a context of its own that sees all of the
//! partition's SMs; contexts take turns ([`TimeSlicer`]) with the profile's slice length and
//! switch cost (`sharing.timeslice_us`, `sharing.context_switch_us`; calibrated by
//! `simgpu calibrate`'s time-slice step).
//!
//! The scheduler: while another context waits, the
//! running one keeps the GPU to the end of its current slice (slices tick from when it got the
//! GPU); then the GPU switches, paying the switch cost, to the next waiting context in
//! round-robin order. A context with nothing to run is skipped, and one that runs dry gives the
//! GPU up at once. Blocks of a context that is switched out are preempted and resume later.

use super::{Arrangement, MemberPlan, Mode, SliceParams};
use crate::event_queue::Ns;
use crate::profile::GpuProfile;
use crate::spec::{Partition, SpecError};

pub(crate) struct Timeslice;

impl Mode for Timeslice {
    fn check(&self, p: &Partition) -> Result<(), SpecError> {
        super::no_mps_percentages(p)
    }

    fn arrange(&self, p: &Partition, partition_sms: u32, gpu: &GpuProfile) -> Arrangement {
        let members = (0..p.members.len())
            .map(|i| MemberPlan {
                context: i,
                process: i,
                sm_cap: partition_sms,
                launch_latency_us: gpu.launch.launch_latency_us.value,
                host_launch_extra_us: 0.0,
            })
            .collect();
        let slice = SliceParams {
            // Truncated, not rounded: the values reports were committed with.
            slice_ns: (gpu.sharing.timeslice_us.value * 1e3) as Ns,
            switch_ns: (gpu.sharing.context_switch_us.value * 1e3) as Ns,
        };
        Arrangement { members, contexts: p.members.len(), time_slice: Some(slice) }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TimeSlicer {
    pub active: usize,
    /// Some(t): a switch to `active` is under way and completes at t.
    pub switching_until: Option<Ns>,
    slice_start: Ns,
    slice_ns: Ns,
    switch_ns: Ns,
    n: usize,
    /// Bumped whenever a pending slice-end timer becomes stale.
    pub generation: u64,
    timer_armed: bool,
    pub switches: u64,
}

/// What the engine should do after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    None,
    /// Arm a slice-end timer at this time with this generation.
    ArmTimer(Ns, u64),
    /// A switch began; it completes at this time.
    Switching(Ns),
}

impl TimeSlicer {
    pub fn new(n: usize, slice_ns: Ns, switch_ns: Ns) -> TimeSlicer {
        TimeSlicer {
            active: 0,
            switching_until: None,
            slice_start: 0,
            slice_ns: slice_ns.max(1),
            switch_ns,
            n,
            generation: 0,
            timer_armed: false,
            switches: 0,
        }
    }

    pub fn running(&self, space: usize) -> bool {
        self.switching_until.is_none() && space == self.active
    }

    fn next_waiting(&self, has_work: &dyn Fn(usize) -> bool) -> Option<usize> {
        (1..self.n).map(|i| (self.active + i) % self.n).find(|&s| has_work(s))
    }

    fn begin_switch(&mut self, to: usize, now: Ns) -> Action {
        self.active = to;
        self.generation += 1;
        self.timer_armed = false;
        self.switches += 1;
        let done = now.saturating_add(self.switch_ns);
        self.switching_until = Some(done);
        Action::Switching(done)
    }

    /// Re-evaluates after work arrived or ran out anywhere.
    pub fn on_change(&mut self, now: Ns, has_work: &dyn Fn(usize) -> bool) -> Action {
        if self.switching_until.is_some() {
            return Action::None;
        }
        let Some(next) = self.next_waiting(has_work) else { return Action::None };
        if !has_work(self.active) {
            return self.begin_switch(next, now);
        }
        if self.timer_armed {
            return Action::None;
        }
        // Contention: switch at the end of the running context's current slice.
        let elapsed = now.saturating_sub(self.slice_start);
        let slices = elapsed.div_ceil(self.slice_ns).max(1);
        let end = self.slice_start.saturating_add(slices.saturating_mul(self.slice_ns));
        self.timer_armed = true;
        Action::ArmTimer(end, self.generation)
    }

    pub fn on_timer(&mut self, now: Ns, generation: u64, has_work: &dyn Fn(usize) -> bool) -> Action {
        if generation != self.generation || self.switching_until.is_some() {
            return Action::None;
        }
        self.timer_armed = false;
        match self.next_waiting(has_work) {
            Some(next) => self.begin_switch(next, now),
            None => Action::None,
        }
    }

    pub fn on_switch_done(&mut self, now: Ns, has_work: &dyn Fn(usize) -> bool) -> Action {
        self.switching_until = None;
        self.slice_start = now;
        self.on_change(now, has_work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_slice_end_then_switches_and_returns() {
        let mut t = TimeSlicer::new(2, 1000, 30);
        let both = |_: usize| true;
        // Context 0 runs since 0; context 1 gets work at 2500: switch at the slice end, 3000.
        assert_eq!(t.on_change(2500, &both), Action::ArmTimer(3000, 0));
        assert_eq!(t.on_change(2600, &both), Action::None);
        assert_eq!(t.on_timer(3000, 0, &both), Action::Switching(3030));
        assert!(!t.running(0) && !t.running(1));
        // Context 1 runs; 0 still has work, so 1 gets one slice.
        assert_eq!(t.on_switch_done(3030, &both), Action::ArmTimer(4030, 1));
        assert!(t.running(1));
        // Context 1 runs dry at 3100: back to 0 at once.
        let only0 = |s: usize| s == 0;
        assert_eq!(t.on_change(3100, &only0), Action::Switching(3130));
        assert_eq!(t.on_timer(4030, 1, &only0), Action::None); // stale timer
        assert_eq!(t.on_switch_done(3130, &only0), Action::None);
        assert!(t.running(0));
        assert_eq!(t.switches, 2);
    }

    #[test]
    fn idle_contexts_are_skipped() {
        let mut t = TimeSlicer::new(3, 1000, 30);
        let only2 = |s: usize| s == 2;
        assert_eq!(t.on_change(10, &only2), Action::Switching(40));
        assert_eq!(t.active, 2);
    }
}
