//! Property tests of the engine's invariants on generated scenarios.

mod common;

use common::{h100, scenario, workload, K};
use proptest::prelude::*;
use simgpu_sim::{Engine, Scenario};

fn kernel() -> impl Strategy<Value = K> {
    (
        1u64..300,
        prop::sample::select(vec![32u32, 64, 128, 256, 512, 1024]),
        prop::sample::select(vec![16u32, 24, 32, 64, 128, 255]),
        prop::sample::select(vec![0u32, 1024, 16384, 65536, 200_000]),
        1.0e3f64..1.0e8,
        0.0f64..4.0e6,
        prop::sample::select(vec!["fp32", "bf16_tensor", "fp8_tensor", "int32"]),
        0.0f64..50.0,
        any::<bool>(),
    )
        .prop_map(|(grid, block, regs, smem, flops, bytes, op, gap_us, sync)| {
            // Keep the block possible: registers per block within the SM's 64K.
            let regs = regs.min(65536 / block).max(8) / 8 * 8;
            K { grid, block, regs, smem, flops, bytes, op, gap_us, sync }
        })
}

fn clients() -> impl Strategy<Value = Vec<(u64, Option<f64>, Vec<K>)>> {
    prop::collection::vec((1u64..4, prop::option::of(1.0f64..100.0), prop::collection::vec(kernel(), 1..4)), 1..4)
}

fn sharing() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["streams", "timeslice", "mps"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// No SM over a limit, MPS caps respected, partition consistent - after every event; and every
    /// launched block completes.
    #[test]
    fn invariants_hold_and_all_blocks_complete(sharing in sharing(), cs in clients()) {
        let gpu = h100();
        let text = scenario(sharing, &cs, 100.0);
        let w = workload(&text, &gpu);
        let mut e = Engine::new(w.gpu(0), None);
        let mut steps = 0u64;
        while e.step() {
            steps += 1;
            if let Err(msg) = e.check_invariants() {
                return Err(TestCaseError::fail(format!("after {steps} steps: {msg}\n{text}")));
            }
        }
        let (launched, completed) = e.block_counts();
        prop_assert!(e.now() < w.horizon_ns(), "did not finish before the horizon\n{}", text);
        prop_assert_eq!(launched, completed);
        let r = e.finish();
        for (c, spec) in r.clients.iter().zip(&cs) {
            prop_assert_eq!(c.requests_completed, spec.0);
        }
    }

    /// The same scenario and seed give the same JSON apart from the wall time.
    #[test]
    fn deterministic(sharing in sharing(), cs in clients(), seed in 0u64..1000) {
        let gpu = h100();
        let text = format!("seed = {seed}\n{}", scenario(sharing, &cs, 100.0));
        let w = workload(&text, &gpu);
        let a = serde_json::to_string(&simgpu_sim::run(&w)).unwrap();
        let b = serde_json::to_string(&simgpu_sim::run(&w)).unwrap();
        prop_assert_eq!(a, b);
    }

    /// Fast-forwarding the power controller through quiet periods changes nothing: the same report
    /// as stepping every tick (host gaps stretched over many controller periods so that it happens).
    #[test]
    fn fast_forwarded_ticks_change_nothing(sharing in sharing(), cs in clients(), stretch in 1.0f64..100_000.0) {
        let cs: Vec<_> = cs
            .into_iter()
            .map(|(n, p, ks)| (n, p, ks.into_iter().map(|k| K { gap_us: k.gap_us * stretch, ..k }).collect()))
            .collect();
        let gpu = h100();
        let text = scenario(sharing, &cs, 100.0);
        let w = workload(&text, &gpu);
        let report = |fast: bool| {
            let mut e = Engine::new(w.gpu(0), None);
            if !fast {
                e.step_every_tick();
            }
            while e.step() {}
            let mut r = e.finish();
            let skipped = std::mem::take(&mut r.sim.ticks_fast_forwarded);
            (serde_json::to_string(&r).unwrap(), skipped)
        };
        let (fast, skipped) = report(true);
        let (stepped, none) = report(false);
        prop_assert_eq!(none, 0);
        prop_assert_eq!(fast, stepped, "{} ticks fast-forwarded\n{}", skipped, text);
    }

    /// A lone kernel never gets slower when the GPU has more SMs: exactly, for any number of extra
    /// SMs, when it moves no DRAM bytes; and for twice the SMs when it does. (With saturated DRAM a
    /// few extra SMs can shift where bandwidth-bound waves end by a few percent: wave quantisation
    /// with fair sharing, which the real tail smears out.) The power limits are lifted: under a
    /// binding cap more SMs can be slower, as on the card, because the same blocks spread over more
    /// SMs keep more SMs active, each drawing power, and the clock pays for it (found by this test:
    /// 96 SMs 16.7 us, 144 SMs 17.2 us at the fast limit).
    #[test]
    fn more_sms_never_slower(k in kernel(), n in 1u32..128, extra in 1u32..64) {
        let k = K { sync: false, ..k };
        let duration = |k: &K, sms: u32| {
            let mut gpu = h100();
            gpu.sm.count.value = sms;
            gpu.power.limit_w.value = 1e6;
            gpu.power.fast_limit_w.value = 1e6;
            let text = scenario("dedicated", &[(1, None, vec![k.clone()])], 1000.0);
            let w = workload(&text, &gpu);
            simgpu_sim::run(&w).clients[0].kernel_entries.as_ref().expect("entries")[0].duration_us.expect("measured").max
        };
        let compute_only = K { bytes: 0.0, ..k.clone() };
        let m = (n + extra).min(256);
        let (few, more) = (duration(&compute_only, n), duration(&compute_only, m));
        prop_assert!(more <= few + 1e-3, "compute-bound: {} SMs: {} us, {} SMs: {} us", n, few, m, more);
        let (few, twice) = (duration(&k, n), duration(&k, 2 * n));
        prop_assert!(twice <= few + 1e-3, "{} SMs: {} us, {} SMs: {} us", n, few, 2 * n, twice);
    }

    /// Random or corrupted scenario text never panics the parser.
    #[test]
    fn parser_never_panics(text in "\\PC{0,400}") {
        let _ = Scenario::parse("fuzz.toml", &text);
    }

    #[test]
    fn corrupted_scenarios_never_panic(cut in 0usize..2000, insert in "\\PC{0,8}", pos in 0usize..2000) {
        let base = include_str!("../scenarios/seed000/mps-132-p50.toml");
        let mut t: String = base.chars().take(cut.min(base.len())).collect();
        let p = t.char_indices().map(|(i, _)| i).nth(pos % (t.chars().count() + 1)).unwrap_or(t.len());
        t.insert_str(p, &insert);
        if let Ok(s) = Scenario::parse("fuzz.toml", &t) {
            let _ = s.bind(&h100());
        }
    }
}
