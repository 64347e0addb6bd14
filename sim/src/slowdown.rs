//! Slowdown attribution: where each client's time went, and what its loss against running alone
//! came from.
//!
//! The engine keeps, per client, an account of its time by state (see [`Cause`]): at every
//! instant a client with one in-order stream is either on the host (no launch in its stream),
//! waiting for its next launch to reach the GPU (the launch path), waiting for its context's
//! time slice, in a context switch, waiting for SMs (nothing of its kernel placed), or executing.
//! Executing time is split further by how the kernel's block rate compares with a reference:
//! its blocks' full issue demand at the maximum clock. The rate it lost to the clock, to issue
//! slots taken by co-resident blocks, and to DRAM bandwidth are charged to those causes; what
//! remains is time executing at the reference rate, which grows when the kernel has fewer SMs
//! (an MPS cap, or SMs held by others) and runs in more waves.
//!
//! The same client alone (the scenario's own workload, one GPU per client) gives the same
//! account. Per request, the difference of the two accounts, cause by cause, adds up to the
//! difference of their times per request; divided by the shared time per request, the shares add
//! up to the loss (1 - alone time / shared time: the throughput lost, for a closed-loop client).
//! A cause can be negative (alone, the client's own kernels may have held the clock lower).

use crate::report::ClientReport;
use serde::Serialize;

/// What a client's time is spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No launch in its stream: host gaps, think time, waiting for arrivals.
    Host = 0,
    /// A launch issued but not yet visible to the GPU (launch latency, MPS's extra hop).
    LaunchPath,
    /// Its context waits for a time slice.
    TimeSlice,
    /// Its time-slice group is switching contexts.
    Switch,
    /// Its kernel is ready but none of its blocks is placed.
    WaitingForSms,
    /// Executing at the reference rate (more of it: fewer SMs, more waves).
    Executing,
    /// Executing, slowed by issue slots that co-resident blocks take.
    IssueShare,
    /// Executing, slowed by DRAM bandwidth (per SM and GPU-wide).
    BandwidthShare,
    /// Executing, slowed by an SM clock under its maximum.
    Clock,
}

pub const CAUSES: usize = 9;

impl Cause {
    pub const ALL: [Cause; CAUSES] = [
        Cause::Host,
        Cause::LaunchPath,
        Cause::TimeSlice,
        Cause::Switch,
        Cause::WaitingForSms,
        Cause::Executing,
        Cause::IssueShare,
        Cause::BandwidthShare,
        Cause::Clock,
    ];

    /// The name in reports (`clients[].slowdown.causes[].cause`).
    pub fn key(self) -> &'static str {
        match self {
            Cause::Host => "host",
            Cause::LaunchPath => "launch_path",
            Cause::TimeSlice => "time_slice_wait",
            Cause::Switch => "switch_overhead",
            Cause::WaitingForSms => "waiting_for_sms",
            Cause::Executing => "fewer_sms",
            Cause::IssueShare => "issue_share",
            Cause::BandwidthShare => "bandwidth_share",
            Cause::Clock => "clock",
        }
    }

    /// Words for the table.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Host => "host",
            Cause::LaunchPath => "launch path",
            Cause::TimeSlice => "waiting for a time slice",
            Cause::Switch => "context switches",
            Cause::WaitingForSms => "waiting for SMs",
            Cause::Executing => "fewer SMs (more waves)",
            Cause::IssueShare => "issue share on shared SMs",
            Cause::BandwidthShare => "bandwidth share",
            Cause::Clock => "lower clock",
        }
    }
}

/// Nanoseconds by cause (fractional: executing time is split by rate).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeAccount {
    pub ns: [f64; CAUSES],
}

impl TimeAccount {
    pub fn total(&self) -> f64 {
        self.ns.iter().sum()
    }

    pub(crate) fn minus(&self, o: &TimeAccount) -> TimeAccount {
        let mut ns = self.ns;
        for (x, y) in ns.iter_mut().zip(&o.ns) {
            *x -= y;
        }
        TimeAccount { ns }
    }

    /// `dt` ns executing, split by the fractions of the reference rate lost to the clock, issue
    /// share and bandwidth (each in [0, 1], summing to at most 1).
    pub(crate) fn add_executing(&mut self, dt: f64, lost: &Lost) {
        let [clock, issue, bw] = lost.0;
        self.ns[Cause::Clock as usize] += dt * clock;
        self.ns[Cause::IssueShare as usize] += dt * issue;
        self.ns[Cause::BandwidthShare as usize] += dt * bw;
        self.ns[Cause::Executing as usize] += dt * (1.0 - clock - issue - bw).max(0.0);
    }
}

/// Fractions of the reference block rate lost to (clock, issue share, bandwidth).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Lost(pub [f64; 3]);

impl Lost {
    /// From the chain of block rates: the reference `full` (full issue demand at the maximum
    /// clock) >= at this clock >= with the issue share it got >= the rate it runs at.
    pub fn from_rates(full: f64, at_clock: f64, with_issue: f64, actual: f64) -> Lost {
        if full <= 0.0 {
            return Lost::default();
        }
        // Each step clamped so that the chain never rises (shares handed back in the second
        // pass can lift a rate above its first-pass issue share: nothing is lost to issue then).
        let b = at_clock.min(full);
        let c = with_issue.min(b).max(actual.min(b));
        let d = actual.min(c);
        Lost([(full - b) / full, (b - c) / full, (c - d) / full])
    }
}

/// One cause's part of a client's loss.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CauseShare {
    pub cause: &'static str,
    /// Its part of the loss: (shared - alone) us per request over the shared us per request.
    /// The parts add up to `loss`.
    pub share: f64,
    /// Microseconds per request in this state, shared and alone.
    pub shared_us: f64,
    pub alone_us: f64,
}

/// What a client lost against running alone, and what from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Slowdown {
    /// The client alone: one GPU to itself, same profile, seed and requests.
    pub alone_throughput_per_s: f64,
    /// Time per request (the measured window over the requests in it), shared and alone.
    pub shared_us_per_request: f64,
    pub alone_us_per_request: f64,
    /// 1 - alone / shared time per request (negative if it ran faster shared).
    pub loss: f64,
    /// Every cause, in the order of [`Cause::ALL`].
    pub causes: Vec<CauseShare>,
}

impl Slowdown {
    /// Its causes, largest first, as "waiting for SMs +43.7%, bandwidth share +11.7%" (those
    /// under 0.05% of the time left out).
    pub fn causes_line(&self) -> String {
        let mut causes: Vec<_> = self.causes.iter().filter(|c| c.share.abs() >= 5e-4).collect();
        causes.sort_by(|a, b| b.share.abs().total_cmp(&a.share.abs()));
        let label =
            |key: &str| Cause::ALL.iter().find(|c| c.key() == key).map_or(key.to_string(), |c| c.label().into());
        let parts: Vec<String> =
            causes.iter().map(|c| format!("{} {:+.1}%", label(c.cause), c.share * 100.0)).collect();
        parts.join(", ")
    }
}

/// The slowdown of `shared` against `alone` (the same client's report from a run alone), from
/// their time accounts. None where either measured no request or kept no account.
pub fn attribute(shared: &ClientReport, alone: &ClientReport) -> Option<Slowdown> {
    let (s, a) = (shared.time_account.as_ref()?, alone.time_account.as_ref()?);
    let (ns, na) = (shared.requests_completed, alone.requests_completed);
    if ns == 0 || na == 0 {
        return None;
    }
    let per = |t: &TimeAccount, n: u64, i: usize| t.ns[i] / n as f64 / 1e3;
    let shared_us = s.total() / ns as f64 / 1e3;
    let alone_us = a.total() / na as f64 / 1e3;
    if shared_us <= 0.0 {
        return None;
    }
    let causes = Cause::ALL
        .iter()
        .map(|&c| {
            let (su, au) = (per(s, ns, c as usize), per(a, na, c as usize));
            CauseShare { cause: c.key(), share: (su - au) / shared_us, shared_us: su, alone_us: au }
        })
        .collect();
    Some(Slowdown {
        alone_throughput_per_s: alone.throughput_per_s,
        shared_us_per_request: shared_us,
        alone_us_per_request: alone_us,
        loss: 1.0 - alone_us / shared_us,
        causes,
    })
}

/// Fills in `clients[].slowdown` of `shared` from the report of the same workload run alone
/// (`alone`: the clients in the same order, as a `dedicated` layout of the same spec gives them).
pub fn attribute_all(shared: &mut crate::Report, alone: &crate::Report) {
    for (c, a) in shared.clients.iter_mut().zip(&alone.clients) {
        c.slowdown = attribute(c, a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_chain_splits_the_loss_and_never_rises() {
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(Lost::from_rates(1.0, 0.8, 0.5, 0.25).0, [0.2, 0.3, 0.25]));
        // A rate above its first-pass issue share (slots handed back): nothing to bandwidth.
        assert!(close(Lost::from_rates(1.0, 1.0, 0.5, 0.7).0, [0.0, 0.3, 0.0]));
        assert_eq!(Lost::from_rates(0.0, 1.0, 1.0, 1.0), Lost::default());
        let mut t = TimeAccount::default();
        t.add_executing(100.0, &Lost::from_rates(2.0, 1.5, 1.0, 0.5));
        assert!((t.total() - 100.0).abs() < 1e-9);
        assert!((t.ns[Cause::Executing as usize] - 25.0).abs() < 1e-9);
    }
}
