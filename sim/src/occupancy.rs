//! Occupancy: how many blocks of a kernel fit on an SM, from the per-SM limits, exactly as the
//! CUDA occupancy calculator counts them (threads, warps, blocks, registers allocated per warp,
//! shared memory under the SM's carve-out plus the per-block reservation).
//!
//! Carve-out model: an empty SM takes the smallest carve-out step that holds as many blocks of
//! the arriving kernel as its other limits allow. Blocks that declare no shared memory use none
//! of the carve-out (their system reservation does not limit co-residence; probe of docs/design.md, phenomenon 1).
//! While blocks are resident the carve-out may only grow where the profile allows it; where it
//! may not, a block still fits in the profile's slack beyond it (calibrated: a few hundred bytes
//! fit beside an FMA kernel on an H100, 4 KB do not).

use crate::profile::GpuProfile;

/// What a kernel's block asks of an SM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockShape {
    pub threads: u32,
    pub regs_per_thread: u32,
    pub smem_bytes: u32,
}

/// Per-SM limits in the units the calculator uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SmLimits {
    pub threads: u32,
    pub warps: u32,
    pub blocks: u32,
    pub regs: u32,
    pub smem_max: u32,
    pub carveout_steps: Vec<u32>,
    /// Shared memory a block may use beyond a carve-out it cannot grow.
    pub slack: u32,
}

impl SmLimits {
    pub fn from_profile(gpu: &GpuProfile) -> SmLimits {
        let s = &gpu.sm;
        SmLimits {
            threads: s.max_threads.value,
            warps: s.max_warps.value,
            blocks: s.max_blocks.value,
            regs: s.registers.value,
            smem_max: s.smem_max_kb.value * 1024,
            carveout_steps: s.smem_carveout_steps_kb.value.iter().map(|k| k * 1024).collect(),
            slack: gpu.sharing.carveout_slack_bytes.value,
        }
    }

    /// Smallest carve-out step holding `bytes`, if any.
    pub fn carveout_for(&self, bytes: u32) -> Option<u32> {
        self.carveout_steps.iter().copied().find(|&s| s >= bytes)
    }
}

/// Resources one block takes, precomputed per kernel so placement does no rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub threads: u32,
    pub warps: u32,
    pub regs: u32,
    /// Shared memory counted against the carve-out (declared plus reservation; 0 if none declared).
    pub smem: u32,
    /// Blocks per SM on an empty SM (the occupancy calculator's answer); at least 1 for valid kernels.
    pub max_per_sm: u32,
    /// Carve-out an empty SM takes for this kernel.
    pub carveout_on_empty: u32,
}

/// Blocks of a kernel shaped `shape` an empty SM of `gpu` holds: what the simulator gives it
/// before anything shares the SM (the kernel replayer holds a card to the same residency).
pub fn blocks_per_empty_sm(gpu: &GpuProfile, shape: &BlockShape) -> u32 {
    Footprint::new(gpu, &SmLimits::from_profile(gpu), shape).max_per_sm
}

pub fn warps_per_block(threads: u32) -> u32 {
    threads.div_ceil(32)
}

pub fn regs_per_block(gpu: &GpuProfile, shape: &BlockShape) -> u32 {
    let unit = gpu.sm.reg_alloc_unit.value.max(1);
    let per_warp = (shape.regs_per_thread * 32).div_ceil(unit) * unit;
    per_warp * warps_per_block(shape.threads)
}

impl Footprint {
    pub fn new(gpu: &GpuProfile, limits: &SmLimits, shape: &BlockShape) -> Footprint {
        let warps = warps_per_block(shape.threads);
        let regs = regs_per_block(gpu, shape);
        let smem =
            if shape.smem_bytes == 0 { 0 } else { shape.smem_bytes + gpu.sm.smem_reserved_per_block_bytes.value };
        let by_other = [
            limits.blocks,
            limits.threads / shape.threads.max(1),
            limits.warps / warps.max(1),
            limits.regs.checked_div(regs).unwrap_or(limits.blocks),
        ]
        .into_iter()
        .min()
        .unwrap_or(0);
        let (max_per_sm, carveout_on_empty) = if smem == 0 {
            (by_other, limits.carveout_steps[0])
        } else {
            let by_smem = limits.smem_max.checked_div(smem).unwrap_or(u32::MAX);
            let n = by_other.min(by_smem);
            (n, limits.carveout_for(n * smem).unwrap_or(limits.smem_max))
        };
        Footprint { threads: shape.threads, warps, regs, smem, max_per_sm, carveout_on_empty }
    }
}

/// What is in use on an SM (all SMs of one SM group share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub threads: u32,
    pub warps: u32,
    pub blocks: u32,
    pub regs: u32,
    pub smem: u32,
    pub carveout: u32,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        self.blocks == 0
    }

    pub fn add(&mut self, f: &Footprint, n: u32) {
        self.threads += f.threads * n;
        self.warps += f.warps * n;
        self.blocks += n;
        self.regs += f.regs * n;
        self.smem += f.smem * n;
    }

    pub fn remove(&mut self, f: &Footprint, n: u32) {
        self.threads -= f.threads * n;
        self.warps -= f.warps * n;
        self.blocks -= n;
        self.regs -= f.regs * n;
        self.smem -= f.smem * n;
        if self.blocks == 0 {
            *self = Usage::default();
        }
    }

    pub fn within(&self, l: &SmLimits) -> bool {
        self.threads <= l.threads
            && self.warps <= l.warps
            && self.blocks <= l.blocks
            && self.regs <= l.regs
            && self.smem <= self.carveout + l.slack
            && self.carveout <= l.smem_max
    }

    /// How many more blocks fit, and the carve-out the SM then has.
    /// `may_grow`: whether residents let the carve-out be reconfigured larger.
    pub fn room(&self, f: &Footprint, l: &SmLimits, may_grow: bool) -> (u32, u32) {
        if self.is_empty() {
            return (f.max_per_sm, f.carveout_on_empty);
        }
        let free = |cap: u32, used: u32, per: u32| cap.saturating_sub(used).checked_div(per).unwrap_or(u32::MAX);
        let n = free(l.blocks, self.blocks, 1)
            .min(free(l.threads, self.threads, f.threads))
            .min(free(l.warps, self.warps, f.warps))
            .min(free(l.regs, self.regs, f.regs));
        if f.smem == 0 || n == 0 {
            return (n, self.carveout);
        }
        let in_current = free(self.carveout + l.slack, self.smem, f.smem);
        if in_current >= n || !may_grow {
            return (n.min(in_current), self.carveout);
        }
        // Grow to the smallest step holding all n, else the largest step.
        let want = self.smem + n * f.smem;
        match l.carveout_for(want) {
            Some(c) => (n, c),
            None => (free(l.smem_max, self.smem, f.smem).min(n), l.smem_max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::h100;

    fn fp(threads: u32, regs: u32, smem: u32) -> Footprint {
        let g = h100();
        Footprint::new(
            &g,
            &SmLimits::from_profile(&g),
            &BlockShape { threads, regs_per_thread: regs, smem_bytes: smem },
        )
    }

    #[test]
    fn occupancy_matches_the_calculator() {
        // 1024 threads: thread limit gives 2 per SM on Hopper.
        assert_eq!(fp(1024, 32, 0).max_per_sm, 2);
        // 256 threads x 64 regs = 16384 regs/block: 4 per SM by registers.
        assert_eq!(fp(256, 64, 0).max_per_sm, 4);
        // Register allocation granularity: 33 regs -> 40 per thread per warp (1280 / 32).
        assert_eq!(fp(128, 33, 0).regs, 4 * 1280);
        // 64 threads: block limit of 32.
        assert_eq!(fp(64, 16, 0).max_per_sm, 32);
        // 100 KB of shared memory: 2 blocks (2 x 101 KB fits in 228 KB).
        let f = fp(128, 32, 100 * 1024);
        assert_eq!(f.max_per_sm, 2);
        assert_eq!(f.carveout_on_empty, 228 * 1024);
        // 4 KB: 16 blocks by threads (2048/128) -> 16 x 5 KB = 80 KB -> 100 KB step.
        assert_eq!(fp(128, 32, 4096).carveout_on_empty, 100 * 1024);
        assert_eq!(fp(1024, 255, 0).max_per_sm, 0);
    }

    #[test]
    fn locked_carveout_blocks_shared_memory_kernels() {
        let g = h100();
        let l = SmLimits::from_profile(&g);
        let fma = fp(1024, 32, 0);
        let softmax = fp(1024, 32, 128);
        let warp = fp(32, 32, 0);
        let mut u = Usage { carveout: fma.carveout_on_empty, ..Usage::default() };
        u.add(&fma, 1);
        assert_eq!(u.room(&softmax, &l, false).0, 0);
        assert_eq!(u.room(&softmax, &l, true).0, 1);
        assert_eq!(u.room(&warp, &l, false).0, 31);
        assert!(u.within(&l));
        // With 2 KB of slack a 128-byte block (plus its 1 KB reservation) fits; a 4 KB one does not.
        let slack = SmLimits { slack: 2048, ..l.clone() };
        assert_eq!(u.room(&softmax, &slack, false).0, 1);
        let big = fp(1024, 32, 4096);
        assert_eq!(u.room(&big, &slack, false).0, 0);
    }
}
