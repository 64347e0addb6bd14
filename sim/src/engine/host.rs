//! The host side of a client: one thread with one in-order stream. It starts requests (closed
//! loop after a think time, or open loop on Poisson arrivals), pays the host gap before each
//! launch, waits where a kernel syncs and at the end of a request, and tells the statistics when
//! a request completes.
//!
//! Times are sums of bounded inputs (see `spec::MAX_HOST_US`) and the clock, which stays below
//! the horizon; the sums saturate rather than wrap, so an event can only move past the horizon.

use super::{Engine, Ev, Launch};
use crate::event_queue::Ns;
use crate::rng::Rng;
use std::collections::VecDeque;

#[derive(Debug, Default, Clone)]
pub(super) struct Host {
    in_request: bool,
    /// Position in the request: the run of launches and how many of it were issued.
    op: usize,
    rep: u32,
    pub(super) waiting_sync: bool,
    req_issue: Ns,
    pub(super) gpu_start: Option<Ns>,
    started: u64,
    done: u64,
    finished: bool,
    arrivals: VecDeque<Ns>,
    pub(super) stream: VecDeque<u32>,
    rng: Option<Rng>,
}

impl Engine<'_> {
    fn at(&self, dt: Ns) -> Ns {
        self.now.saturating_add(dt)
    }

    /// Schedules a client's first request or arrival.
    pub(super) fn start_client(&mut self, ci: usize) {
        let c = &self.w.clients[ci];
        match c.arrival_rate_per_s {
            Some(rate) => {
                let mut rng = Rng::new(self.w.meta.seed.wrapping_mul(1_000_003).wrapping_add(c.global as u64));
                let first = (rng.exponential(1e9 / rate)) as Ns;
                self.hosts[ci].rng = Some(rng);
                self.q.push(first, Ev::Arrival(ci as u32));
            }
            None => self.q.push(0, Ev::Host(ci as u32)),
        }
    }

    pub(super) fn arrival(&mut self, ci: usize) {
        let c = &self.w.clients[ci];
        let rate = c.arrival_rate_per_s.unwrap_or(1.0);
        let now = self.now;
        let h = &mut self.hosts[ci];
        // Arrivals stop once the requests still to come are all queued.
        let more = c.requests.is_none_or(|n| h.started + (h.arrivals.len() as u64) < n);
        if more {
            if h.arrivals.len() >= super::MAX_QUEUED_REQUESTS {
                let queued = h.arrivals.len();
                self.stop(super::RunError::Overloaded { client: c.name.clone(), queued });
                return;
            }
            h.arrivals.push_back(now);
            if let Some(rng) = h.rng.as_mut() {
                let gap = rng.exponential(1e9 / rate) as Ns;
                self.q.push(now.saturating_add(gap.max(1)), Ev::Arrival(ci as u32));
            }
            if !h.in_request && !h.finished {
                self.start_request(ci);
            }
        }
    }

    fn gap_before(&self, ci: usize, op: usize) -> Ns {
        let c = &self.w.clients[ci];
        let gap = self.w.kernels[c.ops[op].kernel as usize].host_gap_ns;
        // The launch call's extra cost under MPS (bounded by the profile; never below no gap).
        gap.saturating_add_signed(c.host_launch_extra_ns)
    }

    fn start_request(&mut self, ci: usize) {
        let now = self.now;
        let h = &mut self.hosts[ci];
        h.in_request = true;
        h.op = 0;
        h.rep = 0;
        h.gpu_start = None;
        h.req_issue = h.arrivals.pop_front().unwrap_or(now);
        h.started += 1;
        let issue = h.req_issue;
        let started = h.started;
        self.stats.request_started(ci, started, issue);
        let t = self.at(self.gap_before(ci, 0));
        self.q.push(t, Ev::Host(ci as u32));
    }

    pub(super) fn host_step(&mut self, ci: usize) {
        if !self.hosts[ci].in_request {
            if !self.hosts[ci].finished {
                self.start_request(ci);
            }
            return;
        }
        let c = &self.w.clients[ci];
        let (op, rep) = (self.hosts[ci].op, self.hosts[ci].rep);
        let kid = c.ops[op].kernel;
        let k = &self.w.kernels[kid as usize];
        let first = op == 0 && rep == 0;
        let launch =
            Launch { kernel: kid, client: ci as u32, first_of_request: first, unplaced: k.grid, ..Launch::default() };
        let lid = self.launches.alloc(launch);
        self.stats.launched(kid);
        let visible = self.at(c.launch_latency_ns);
        let h = &mut self.hosts[ci];
        h.stream.push_back(lid);
        h.rep += 1;
        if h.rep >= c.ops[op].repeat {
            h.op += 1;
            h.rep = 0;
        }
        let next = h.op;
        // Visible times follow the host clock by a fixed latency: in order per client.
        self.q.push_lane(ci as u32, visible, Ev::Visible(lid));
        if k.sync || next >= c.ops.len() {
            self.hosts[ci].waiting_sync = true;
        } else {
            let t = self.at(self.gap_before(ci, next));
            self.q.push(t, Ev::Host(ci as u32));
        }
    }

    /// The stream's front launch `lid` completed: start the next one or release the host.
    pub(super) fn stream_advanced(&mut self, ci: usize, lid: u32) {
        let front = self.hosts[ci].stream.pop_front();
        debug_assert_eq!(front, Some(lid));
        if let Some(&next) = self.hosts[ci].stream.front() {
            if self.launches.v[next as usize].visible {
                // Already queued: it starts once the stream's front end has fetched it. (One
                // still in flight from the host starts when it arrives, its latency covering this.)
                let gap = self.w.clients[ci].queued_gap_ns;
                if gap == 0 {
                    self.make_runnable(next);
                } else {
                    let t = self.at(gap);
                    self.q.push(t, Ev::Ready(next));
                }
            }
        } else if self.hosts[ci].waiting_sync {
            self.hosts[ci].waiting_sync = false;
            let op = self.hosts[ci].op;
            if op < self.w.clients[ci].ops.len() {
                let t = self.at(self.gap_before(ci, op));
                self.q.push(t, Ev::Host(ci as u32));
            } else {
                self.finish_request(ci);
            }
        }
    }

    fn finish_request(&mut self, ci: usize) {
        let c = &self.w.clients[ci];
        let now = self.now;
        let h = &mut self.hosts[ci];
        h.in_request = false;
        h.done += 1;
        let from = match c.timing {
            crate::spec::Timing::Host => h.req_issue,
            crate::spec::Timing::CudaEvents => h.gpu_start.unwrap_or(h.req_issue),
        };
        let done = h.done;
        self.stats.request_done(ci, done, now, now - from);
        let h = &mut self.hosts[ci];
        if c.requests.is_some_and(|n| h.done >= n) {
            h.finished = true;
            self.stats.client_finished(ci);
            self.finished_clients += 1;
            // Clients without a request count run to the horizon.
            if self.finished_clients == self.w.clients.len() {
                self.stopped = true;
            }
            return;
        }
        if c.arrival_rate_per_s.is_some() {
            if !h.arrivals.is_empty() {
                self.start_request(ci);
            }
        } else {
            let t = self.at(c.think_ns);
            self.q.push(t, Ev::Host(ci as u32));
        }
    }
}
