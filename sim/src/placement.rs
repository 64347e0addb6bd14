//! SM groups and the block scheduler.
//!
//! The SMs of one context ("space") are partitioned into groups of SMs whose resident blocks are
//! identical; every cohort (identical blocks that started together, one or more per SM) covers
//! exactly the SMs of its group. So placement and departure cost O(groups + residents), not
//! O(blocks): a kernel of 10,000 blocks is a handful of cohorts. Empty SMs form the free group.
//!
//! Placement takes the oldest runnable kernel first, spreads its blocks breadth-first (one per SM
//! before two per SM) over SMs with room (empty SMs first, then the least-loaded), inside the
//! client's MPS SM cap, and splits groups (and their resident cohorts) where only some SMs change.

use crate::event_queue::Ns;
use crate::occupancy::{Footprint, SmLimits, Usage};
use crate::slab::Slab;
use crate::sm_set::SmSet;

/// Identical blocks of one launch, started together, `blocks_per_sm` on each SM of its group.
#[derive(Debug, Clone, Default)]
pub struct Cohort {
    pub launch: u32,
    pub kernel: u32,
    pub client: u32,
    pub process: u32,
    pub space: u32,
    pub group: u32,
    pub blocks_per_sm: u32,
    pub n_sms: u32,
    /// Fraction of each block's work still to do.
    pub remaining: f64,
    /// Fraction per nanosecond.
    pub rate: f64,
    /// The rate its work alone allows (issue share and bandwidth), before any per-block latency.
    pub work_rate: f64,
    pub placed_at: Ns,
    pub alive: bool,
    /// A collective's blocks spin, moving nothing, until every rank has started it.
    pub gated: bool,
    /// Set by the progress model: share of its SMs' issue slots used, and bytes/ns moved.
    pub issue_used: f64,
    pub dram_bytes_per_ns: f64,
    /// The progress model's per-SM shares as this event's passes left them.
    pub(crate) shares: SmShares,
    /// The shares of its group's first pass, kept while the group's residents and the rate
    /// parameters stay the same (the group's `rates_gen`).
    pub(crate) first_pass: SmShares,
    /// The shares of its group's second pass, and the issue demand they came from.
    pub(crate) second_pass: SmShares,
}

/// One cohort's shares of its SMs (progress model scratch).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SmShares {
    /// Block rate allowed by issue share and minimum block time (fraction/ns).
    pub r0: f64,
    /// DRAM bandwidth per SM (bytes/ns).
    pub sm_bw: f64,
    pub issue_demand: f64,
    pub issue_alloc: f64,
}

/// Live cohorts: a slab plus the live ids in creation order (the order rates are computed in).
#[derive(Debug, Default, Clone)]
pub struct Cohorts {
    slab: Slab<Cohort>,
    pub live: Vec<u32>,
}

impl Cohorts {
    pub fn alloc(&mut self, c: Cohort) -> u32 {
        let id = self.slab.alloc(c);
        self.live.push(id);
        id
    }

    pub fn release(&mut self, id: u32) {
        self.slab.v[id as usize].alive = false;
        if let Some(p) = self.live.iter().position(|&x| x == id) {
            self.live.remove(p);
        }
        self.slab.release(id);
    }

    /// Moves every live cohort `dt` ns along at its current rate.
    pub fn advance(&mut self, dt: f64) {
        for &id in &self.live {
            let c = &mut self.slab.v[id as usize];
            c.remaining = (c.remaining - c.rate * dt).max(0.0);
        }
    }

    pub fn get(&self, id: u32) -> &Cohort {
        &self.slab.v[id as usize]
    }

    pub fn get_mut(&mut self, id: u32) -> &mut Cohort {
        &mut self.slab.v[id as usize]
    }
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub sms: SmSet,
    pub n: u32,
    pub usage: Usage,
    /// Resident cohorts in placement order (the first is the incumbent).
    pub residents: Vec<u32>,
    pub alive: bool,
    /// The rate parameters' generation its residents' per-SM shares were last computed at (0:
    /// never, or its residents changed since): `progress::recompute` redoes only such groups.
    pub rates_gen: u64,
    /// The same for the shares of the second pass (valid while its residents' demands repeat).
    pub second_gen: u64,
    /// The last recomputation that queued it for the second pass (progress model scratch).
    pub second_mark: u64,
}

/// What the block scheduler needs to know about the kernel it places.
#[derive(Debug, Clone, Copy)]
pub struct PlaceRequest {
    pub launch: u32,
    pub kernel: u32,
    pub client: u32,
    pub process: u32,
    pub footprint: Footprint,
    pub blocks: u64,
    /// MPS SM cap (the SM count otherwise).
    pub cap: u32,
    pub now: Ns,
}

/// When resident blocks let the carve-out grow (profile parameters).
#[derive(Debug, Clone, Copy)]
pub struct CarveoutRules {
    pub locked_across_clients: bool,
    pub locked_in_context: bool,
}

/// The SMs of one context.
#[derive(Debug, Clone)]
pub struct Space {
    pub id: u32,
    pub groups: Vec<Group>,
    free_slots: Vec<u32>,
    pub free_group: u32,
    /// Where the next split of the free group starts, relative to `base`.
    cursor: usize,
    base: usize,
    n_sms: usize,
    sms: SmSet,
    /// SMs holding at least one block of each client.
    pub client_sms: Vec<u32>,
    pub busy_sms: u32,
    /// Bumped at every change that can make room: blocks leaving a group, a carve-out growing.
    pub changes: u64,
    /// Where room may have appeared, (change, group, client whose SMs were freed or NO_CLIENT),
    /// kept while a waiting launch may need it: a launch that failed to place at change `s` can
    /// place more only through a group logged after `s`, or when its own client freed SMs (its
    /// MPS cap). Adding blocks elsewhere never makes room.
    log: Vec<(u64, u32, u32)>,
    scratch: Vec<(u32, u32, u32, u32)>,
}

/// A log entry that frees no client's SMs.
const NO_CLIENT: u32 = u32::MAX;

impl Space {
    /// A context's view of `sms` (the whole GPU, a MIG instance or a fixed SM set).
    pub fn new(id: u32, sms: SmSet, n_clients: usize) -> Space {
        let n_sms = sms.len() as usize;
        let free = Group { sms, n: n_sms as u32, alive: true, ..Group::default() };
        Space {
            id,
            groups: vec![free],
            free_slots: Vec::new(),
            free_group: 0,
            cursor: 0,
            base: sms.lowest().unwrap_or(0),
            n_sms,
            sms,
            client_sms: vec![0; n_clients],
            busy_sms: 0,
            changes: 0,
            log: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn is_idle(&self) -> bool {
        self.busy_sms == 0
    }

    fn new_group(&mut self, g: Group) -> u32 {
        match self.free_slots.pop() {
            Some(i) => {
                let slot = &mut self.groups[i as usize];
                let mut residents = std::mem::take(&mut slot.residents);
                residents.clear();
                residents.extend_from_slice(&g.residents);
                *slot = Group { residents, ..g };
                i
            }
            None => {
                self.groups.push(g);
                (self.groups.len() - 1) as u32
            }
        }
    }

    fn client_present(&self, cohorts: &Cohorts, g: u32, client: u32) -> bool {
        self.groups[g as usize].residents.iter().any(|&r| cohorts.get(r).client == client)
    }

    /// Blocks of `req`'s kernel one more SM of group `g` holds now.
    fn room_in(
        &self,
        cohorts: &Cohorts,
        g: &Group,
        req: &PlaceRequest,
        limits: &SmLimits,
        rules: CarveoutRules,
    ) -> u32 {
        let may_grow = if g.residents.iter().all(|&r| cohorts.get(r).process == req.process) {
            !rules.locked_in_context
        } else {
            !rules.locked_across_clients
        };
        g.usage.room(&req.footprint, limits, may_grow).0
    }

    fn log_change(&mut self, group: u32, client: u32) {
        self.changes += 1;
        self.log.push((self.changes, group, client));
    }

    /// Whether a launch that failed to place everything at change `since` may place more now
    /// (false means `place` would place nothing). May say yes when the answer is no, never the
    /// reverse.
    pub fn may_admit(
        &self,
        cohorts: &Cohorts,
        since: u64,
        req: &PlaceRequest,
        limits: &SmLimits,
        rules: CarveoutRules,
    ) -> bool {
        if since == self.changes {
            return false;
        }
        let cap_left = req.cap > self.client_sms[req.client as usize];
        self.log.iter().filter(|e| e.0 > since).any(|&(_, gi, client)| {
            let g = &self.groups[gi as usize];
            client == req.client
                || (g.alive
                    && g.n > 0
                    && (cap_left || self.client_present(cohorts, gi, req.client))
                    && self.room_in(cohorts, g, req, limits, rules) > 0)
        })
    }

    /// Forgets the changes every waiting launch has seen (`oldest`: the earliest change a waiting
    /// launch last tried at; None when none waits).
    pub fn forget_changes(&mut self, oldest: Option<u64>) {
        match oldest {
            None => self.log.clear(),
            Some(s) => self.log.retain(|e| e.0 > s),
        }
    }

    /// Moves `m` SMs of group `g` into a new group, splitting every resident cohort with them.
    fn split(&mut self, cohorts: &mut Cohorts, g: u32, m: u32) -> u32 {
        let gi = g as usize;
        let start = if g == self.free_group { self.base + self.cursor } else { 0 };
        let sms = self.groups[gi].sms.take(m, start);
        if g == self.free_group {
            self.cursor = (self.cursor + m as usize) % self.n_sms.max(1);
        }
        let old = &mut self.groups[gi];
        old.sms = old.sms.minus(&sms);
        old.n -= m;
        let usage = old.usage;
        // Per-SM shares do not depend on the group's size: the copies keep theirs.
        let (rates_gen, second_gen) = (self.groups[gi].rates_gen, self.groups[gi].second_gen);
        let ng = self.new_group(Group {
            sms,
            n: m,
            usage,
            residents: Vec::new(),
            alive: true,
            rates_gen,
            second_gen,
            second_mark: 0,
        });
        // Room logged in `g` is now partly in `ng`.
        if let Some(&(at, _, _)) = self.log.iter().rev().find(|e| e.1 == g) {
            self.log.push((at, ng, NO_CLIENT));
        }
        for i in 0..self.groups[gi].residents.len() {
            let r = self.groups[gi].residents[i];
            let mut copy = cohorts.get(r).clone();
            cohorts.get_mut(r).n_sms -= m;
            copy.n_sms = m;
            copy.group = ng;
            let id = cohorts.alloc(copy);
            self.groups[ng as usize].residents.push(id);
        }
        ng
    }

    /// Places as many blocks of `req` as fit now; returns the blocks placed and pushes new cohort ids.
    pub fn place(
        &mut self,
        cohorts: &mut Cohorts,
        req: &PlaceRequest,
        limits: &SmLimits,
        rules: CarveoutRules,
        new_cohorts: &mut Vec<u32>,
    ) -> u64 {
        let mut cap_left = req.cap.saturating_sub(self.client_sms[req.client as usize]);
        // Candidate groups: (group, SMs allowed, blocks of room per SM, load) - free group first.
        let mut cand = std::mem::take(&mut self.scratch);
        cand.clear();
        for (gi, g) in self.groups.iter().enumerate() {
            if !g.alive || g.n == 0 {
                continue;
            }
            let gi = gi as u32;
            let room = self.room_in(cohorts, g, req, limits, rules);
            if room == 0 {
                continue;
            }
            let load = if gi == self.free_group { 0 } else { g.usage.threads + 1 };
            cand.push((gi, g.n, room, load));
        }
        cand.sort_by_key(|&(gi, _, _, load)| (load, gi));
        for c in cand.iter_mut() {
            if !self.client_present(cohorts, c.0, req.client) {
                c.1 = c.1.min(cap_left);
                cap_left -= c.1;
            }
        }
        cand.retain(|c| c.1 > 0);
        // Breadth-first: the lowest level (blocks per SM) that holds everything.
        let total_at = |lvl: u32| cand.iter().map(|c| c.1 as u64 * c.2.min(lvl) as u64).sum::<u64>();
        let max_room = cand.iter().map(|c| c.2).max().unwrap_or(0);
        let mut level = 1;
        while level < max_room && total_at(level) < req.blocks {
            level += 1;
        }
        let full = total_at(level);
        let placed = full.min(req.blocks);
        let mut extra = if full <= req.blocks { u64::MAX } else { req.blocks - total_at(level - 1) };
        for &(gi, allowed, room, _) in cand.iter() {
            // Split the allowed SMs into those taking `level` blocks and those taking `level - 1`.
            let hi = if room >= level { (allowed as u64).min(extra) as u32 } else { 0 };
            if extra != u64::MAX {
                extra -= hi as u64;
            }
            let lo_count = room.min(level - 1);
            let lo = if lo_count > 0 { allowed - hi } else { 0 };
            for (m, k) in [(hi, level.min(room)), (lo, lo_count)] {
                if m == 0 || k == 0 {
                    continue;
                }
                let target = if gi != self.free_group && m == self.groups[gi as usize].n {
                    gi
                } else {
                    self.split(cohorts, gi, m)
                };
                self.add_cohort(cohorts, target, req, k, limits, rules, new_cohorts);
            }
        }
        self.scratch = cand;
        placed
    }

    #[allow(clippy::too_many_arguments)]
    fn add_cohort(
        &mut self,
        cohorts: &mut Cohorts,
        g: u32,
        req: &PlaceRequest,
        k: u32,
        limits: &SmLimits,
        rules: CarveoutRules,
        new_cohorts: &mut Vec<u32>,
    ) {
        let present = self.client_present(cohorts, g, req.client);
        let grp = &self.groups[g as usize];
        let was_empty = grp.usage.is_empty();
        let same_process = grp.residents.iter().all(|&r| cohorts.get(r).process == req.process);
        let may_grow = if same_process { !rules.locked_in_context } else { !rules.locked_across_clients };
        let f = &req.footprint;
        let mut usage = grp.usage;
        if was_empty {
            usage.carveout = f.carveout_on_empty;
        } else if usage.smem + k * f.smem > usage.carveout && may_grow {
            usage.carveout = limits.carveout_for(usage.smem + k * f.smem).unwrap_or(limits.smem_max);
        }
        // Room for others can grow when the carve-out grows, or when a second process moves in
        // where only a foreign process may grow it.
        let opens = usage.carveout > grp.usage.carveout
            || (!same_process && rules.locked_in_context && !rules.locked_across_clients);
        usage.add(f, k);
        let n = grp.n;
        if !was_empty && opens {
            self.log_change(g, NO_CLIENT);
        }
        let id = cohorts.alloc(Cohort {
            launch: req.launch,
            kernel: req.kernel,
            client: req.client,
            process: req.process,
            space: self.id,
            group: g,
            blocks_per_sm: k,
            n_sms: n,
            remaining: 1.0,
            placed_at: req.now,
            alive: true,
            ..Cohort::default()
        });
        let grp = &mut self.groups[g as usize];
        grp.usage = usage;
        grp.residents.push(id);
        grp.rates_gen = 0;
        grp.second_gen = 0;
        if !present {
            self.client_sms[req.client as usize] += n;
        }
        if was_empty {
            self.busy_sms += n;
        }
        new_cohorts.push(id);
    }

    /// Removes a finished cohort; its SMs return to the free group when they empty. The carve-out
    /// falls back to what the remaining residents chose (and still use).
    pub fn remove(&mut self, cohorts: &mut Cohorts, id: u32, footprints: &[Footprint], limits: &SmLimits) {
        let c = &cohorts.get(id);
        let (g, client, k) = (c.group, c.client, c.blocks_per_sm);
        let grp = &mut self.groups[g as usize];
        grp.rates_gen = 0;
        grp.second_gen = 0;
        grp.usage.remove(&footprints[c.kernel as usize], k);
        if let Some(p) = grp.residents.iter().position(|&r| r == id) {
            grp.residents.remove(p);
        }
        if !grp.usage.is_empty() {
            let chosen = grp
                .residents
                .iter()
                .map(|&r| footprints[cohorts.get(r).kernel as usize].carveout_on_empty)
                .max()
                .unwrap_or(0);
            let needed = limits.carveout_for(grp.usage.smem).unwrap_or(limits.smem_max);
            grp.usage.carveout = chosen.max(needed);
        }
        cohorts.release(id);
        if !self.client_present(cohorts, g, client) {
            self.client_sms[client as usize] -= self.groups[g as usize].n;
        }
        let grp = &self.groups[g as usize];
        if grp.residents.is_empty() {
            let (sms, n) = (grp.sms, grp.n);
            let free = &mut self.groups[self.free_group as usize];
            free.sms = free.sms.union(&sms);
            free.n += n;
            self.busy_sms -= n;
            let grp = &mut self.groups[g as usize];
            grp.alive = false;
            grp.n = 0;
            grp.sms = SmSet::EMPTY;
            self.free_slots.push(g);
            self.log_change(self.free_group, client);
        } else {
            self.log_change(g, client);
        }
    }

    /// Checks every invariant of the partition; used by tests after each event.
    pub fn check(
        &self,
        cohorts: &Cohorts,
        limits: &SmLimits,
        footprints: &dyn Fn(u32) -> Footprint,
        caps: &[u32],
    ) -> Result<(), String> {
        let mut seen = SmSet::EMPTY;
        let mut client_sms = vec![0u32; self.client_sms.len()];
        let mut busy = 0;
        for (gi, g) in self.groups.iter().enumerate() {
            if !g.alive {
                continue;
            }
            if g.sms.len() != g.n || seen.intersects(&g.sms) {
                return Err(format!("group {gi}: SM set inconsistent"));
            }
            seen = seen.union(&g.sms);
            let mut u = Usage { carveout: g.usage.carveout, ..Usage::default() };
            let mut clients = Vec::new();
            for &r in &g.residents {
                let c = &cohorts.get(r);
                if !c.alive || c.group != gi as u32 || c.n_sms != g.n || c.space != self.id {
                    return Err(format!("group {gi}: resident cohort {r} inconsistent"));
                }
                u.add(&footprints(c.kernel), c.blocks_per_sm);
                if !clients.contains(&c.client) {
                    clients.push(c.client);
                }
            }
            if !g.residents.is_empty() {
                busy += g.n;
                if u != g.usage {
                    return Err(format!("group {gi}: usage {:?} != residents' {:?}", g.usage, u));
                }
                if !g.usage.within(limits) {
                    return Err(format!("group {gi}: over an SM limit: {:?}", g.usage));
                }
            } else if gi as u32 != self.free_group {
                return Err(format!("group {gi}: alive without residents"));
            }
            for c in clients {
                client_sms[c as usize] += g.n;
            }
        }
        if seen != self.sms {
            return Err("groups do not cover every SM".into());
        }
        if busy != self.busy_sms {
            return Err(format!("busy SMs {} != {busy}", self.busy_sms));
        }
        if client_sms != self.client_sms {
            return Err(format!("client SM counts {:?} != {client_sms:?}", self.client_sms));
        }
        for (c, (&used, &cap)) in self.client_sms.iter().zip(caps).enumerate() {
            if used > cap {
                return Err(format!("client {c} holds {used} SMs over its cap of {cap}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::occupancy::BlockShape;
    use crate::profile::tests::h100;

    fn setup() -> (SmLimits, Footprint, Footprint) {
        let g = h100();
        let l = SmLimits::from_profile(&g);
        let fma = Footprint::new(&g, &l, &BlockShape { threads: 1024, regs_per_thread: 32, smem_bytes: 0 });
        let softmax = Footprint::new(&g, &l, &BlockShape { threads: 1024, regs_per_thread: 32, smem_bytes: 128 });
        (l, fma, softmax)
    }

    fn req(client: u32, f: Footprint, blocks: u64, cap: u32) -> PlaceRequest {
        PlaceRequest { launch: client, kernel: client, client, process: client, footprint: f, blocks, cap, now: 0 }
    }

    const LOCKED: CarveoutRules = CarveoutRules { locked_across_clients: true, locked_in_context: false };

    #[test]
    fn spreads_one_block_per_sm_first() {
        let (l, fma, _) = setup();
        let mut cs = Cohorts::default();
        let mut s = Space::new(0, SmSet::first(132), 2);
        let mut out = Vec::new();
        assert_eq!(s.place(&mut cs, &req(0, fma, 66, 132), &l, LOCKED, &mut out), 66);
        assert_eq!(out.len(), 1);
        assert_eq!(cs.get(out[0]).n_sms, 66);
        assert_eq!(s.client_sms[0], 66);
        s.check(&cs, &l, &|_| fma, &[132, 132]).unwrap();
    }

    #[test]
    fn cap_packs_two_per_sm() {
        let (l, fma, _) = setup();
        let mut cs = Cohorts::default();
        let mut s = Space::new(0, SmSet::first(132), 1);
        let mut out = Vec::new();
        assert_eq!(s.place(&mut cs, &req(0, fma, 132, 66), &l, LOCKED, &mut out), 132);
        assert_eq!(s.client_sms[0], 66);
        assert_eq!(cs.get(out[0]).blocks_per_sm, 2);
        s.check(&cs, &l, &|_| fma, &[66]).unwrap();
    }

    #[test]
    fn locked_carveout_keeps_shared_memory_kernel_out() {
        let (l, fma, softmax) = setup();
        let mut cs = Cohorts::default();
        let mut s = Space::new(0, SmSet::first(132), 2);
        let mut out = Vec::new();
        s.place(&mut cs, &req(0, fma, 132, 132), &l, LOCKED, &mut out);
        assert_eq!(s.place(&mut cs, &req(1, softmax, 16, 132), &l, LOCKED, &mut out), 0);
        // Same process (streams): the carve-out grows and the softmax co-resides.
        let mut r = req(1, softmax, 16, 132);
        r.process = 0;
        out.clear();
        assert_eq!(s.place(&mut cs, &r, &l, LOCKED, &mut out), 16);
        // The FMA cohort was split: 16 SMs with the softmax, 116 without.
        let fp = |k: u32| if k == 0 { fma } else { softmax };
        s.check(&cs, &l, &fp, &[132, 132]).unwrap();
        assert_eq!(cs.live.len(), 3);
        // Removing the softmax leaves a valid partition.
        let sm = out[0];
        s.remove(&mut cs, sm, &[fma, softmax], &l);
        s.check(&cs, &l, &fp, &[132, 132]).unwrap();
        // The FMA blocks left behind fall back to their own carve-out: a foreign softmax waits again.
        assert_eq!(s.place(&mut cs, &req(1, softmax, 16, 132), &l, LOCKED, &mut out), 0);
    }

    #[test]
    fn freed_sms_return_to_the_free_group() {
        let (l, fma, _) = setup();
        let mut cs = Cohorts::default();
        let mut s = Space::new(0, SmSet::first(132), 1);
        let mut out = Vec::new();
        s.place(&mut cs, &req(0, fma, 300, 132), &l, LOCKED, &mut out);
        assert_eq!(s.busy_sms, 132);
        for id in out.clone() {
            s.remove(&mut cs, id, &[fma], &l);
        }
        assert_eq!(s.busy_sms, 0);
        assert_eq!(s.groups[s.free_group as usize].n, 132);
        s.check(&cs, &l, &|_| fma, &[132]).unwrap();
    }
}
