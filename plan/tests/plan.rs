//! The planner end to end on small plans: errors located, co-location winning where it must and
//! losing where it must, nothing fitting, shards merged into exactly one run's answer, and the
//! same answer on any number of threads.

use simgpu_plan::file::{parse, Resolve};
use simgpu_plan::{Hooks, PlanReport, Shard};
use simgpu_sim::GpuProfile;

struct Builtin;

impl Resolve for Builtin {
    fn model(&self, name: &str) -> Result<(String, String), String> {
        simgpu_workloads::bundled::model(name)
            .map(|t| (t.to_string(), format!("{name} (bundled)")))
            .ok_or("no such model".into())
    }
    fn gpu(&self, name: &str) -> Result<(GpuProfile, String), String> {
        let text = match name {
            "h100-sxm" => include_str!("../../models/gpus/h100-sxm.calibrated.toml"),
            "rtx-4090" => include_str!("../../models/gpus/rtx-4090.toml"),
            _ => return Err(format!("unknown GPU `{name}`")),
        };
        GpuProfile::from_toml(name, text).map(|p| (p, "built-in".into())).map_err(|e| e.to_string())
    }
}

const NO_STOP: &(dyn Fn() -> bool + Sync) = &|| false;

fn plan(text: &str, shard: Shard) -> (simgpu_plan::file::PlanSpec, simgpu_plan::Simulated) {
    let spec = parse("test.toml", text, &Builtin).unwrap_or_else(|e| panic!("{e}"));
    let sim =
        simgpu_plan::simulate(&spec, &simgpu_plan::fingerprint(text), shard, Hooks { progress: None, stop: NO_STOP });
    (spec, sim)
}

fn report(text: &str) -> PlanReport {
    let (spec, sim) = plan(text, Shard::WHOLE);
    simgpu_plan::report(&spec, &sim).unwrap()
}

/// Two light workloads: a small model decoding one sequence and a small encoder batch.
fn light(demand_gen: f64, demand_embed: f64, choices: &str) -> String {
    format!(
        r#"
name = "light"
[[workloads]]
name = "gen"
model = "qwen2.5-0.5b"
phase = "decode"
batch = 1
context = 256
demand_per_s = {demand_gen}
[[workloads]]
name = "embed"
model = "e5-large-v2"
phase = "encode"
batch = 4
tokens = 128
demand_per_s = {demand_embed}
[[gpus]]
type = "h100-sxm"
count = 4
cost_per_hour = 3.0
[choices]
{choices}
[simulation]
window_s = 0.05
max_window_s = 0.1
ci_target = 0.05
"#
    )
}

#[test]
fn co_location_wins_where_two_light_loads_share_one_gpu() {
    let r = report(&light(100.0, 50.0, "sharing = [\"mps\"]\nreplicas = 1\nmps_percentages = [50]"));
    let best = r.recommendation.as_ref().expect("something serves the demand");
    assert!(best.colocated && best.gpus == 1, "{best:?}");
    assert!(r.verdict.starts_with("co-location pays off: yes, by 50%"), "{}", r.verdict);
    // The dedicated fleet is there too, at two GPUs.
    assert!(r.candidates.iter().any(|c| c.feasible && !c.colocated && c.gpus == 2));
}

/// A recommendation on a GPU whose profile was never calibrated says so; one on a calibrated
/// profile does not.
#[test]
fn an_uncalibrated_recommendation_carries_a_caution() {
    let plan = light(100.0, 50.0, "sharing = [\"mps\"]\nreplicas = 1\nmps_percentages = [50]");
    assert!(report(&plan).caution.is_none());
    let r = report(&plan.replace("type = \"h100-sxm\"", "type = \"rtx-4090\""));
    assert!(r.recommendation.as_ref().is_some_and(|c| c.gpu == "rtx-4090"));
    let c = r.caution.expect("a caution");
    assert!(c.contains("rtx-4090") && c.contains("not calibrated"), "{c}");
}

#[test]
fn co_location_loses_where_each_load_needs_its_gpu() {
    // Demand near what each does alone: one GPU cannot hold both.
    let alone = report(&light(1.0, 1.0, "sharing = [\"dedicated\"]"));
    let x = |w: &str| alone.units.iter().find(|u| u.label == format!("{w} alone")).unwrap().throughput(w);
    let r = report(&light(0.9 * x("gen"), 0.9 * x("embed"), "sharing = [\"mps\", \"timeslice\"]\nreplicas = 1"));
    assert!(r.verdict.starts_with("co-location pays off: no"), "{}", r.verdict);
    let best = r.recommendation.unwrap();
    assert_eq!(best.gpus, 2);
}

#[test]
fn nothing_fits_is_an_answer() {
    // Far more than four GPUs could serve.
    let r = report(&light(1e9, 50.0, "sharing = [\"mps\"]\nreplicas = 1\nmps_percentages = [50]"));
    assert!(r.recommendation.is_none());
    assert!(r.verdict.starts_with("nothing fits"), "{}", r.verdict);
    // A KV cache no RTX 4090 holds: every layout is left out for memory, none simulated.
    let big = light(100.0, 50.0, "sharing = [\"mps\"]\nreplicas = 1")
        .replace("batch = 1\ncontext = 256", "batch = 512\ncontext = 32768")
        .replace("type = \"h100-sxm\"", "type = \"rtx-4090\"");
    let r = report(&big);
    assert!(r.layouts.does_not_fit > 0);
    assert!(r
        .units
        .iter()
        .filter(|u| u.label.starts_with("gen"))
        .all(|u| u.pruned.as_deref().is_some_and(|p| p.starts_with("does not fit"))));
    assert!(r.verdict.starts_with("nothing fits"), "{}", r.verdict);
}

#[test]
fn shards_merge_into_one_runs_answer_and_threads_change_nothing() {
    let text = light(300.0, 200.0, "sharing = [\"mps\", \"timeslice\", \"mig\"]\nreplicas = 2\nmps_percentages = [50]");
    let whole = serde_json::to_string(&report(&text)).unwrap();
    let parts: Vec<_> = (0..3).map(|i| plan(&text, Shard { index: i, count: 3 }).1).collect();
    let (spec, _) = plan(&light(1.0, 1.0, "sharing = [\"dedicated\"]"), Shard::WHOLE);
    // Shards of one plan do not merge into another.
    let merged = simgpu_plan::merge(parts.clone()).unwrap();
    assert!(simgpu_plan::report(&spec, &merged).is_err());
    let spec = parse("test.toml", &text, &Builtin).unwrap();
    let merged = serde_json::to_string(&simgpu_plan::report(&spec, &merged).unwrap()).unwrap();
    assert_eq!(whole, merged);
    // A missing shard or one given twice is refused.
    assert!(simgpu_plan::merge(parts[..2].to_vec()).is_err());
    assert!(simgpu_plan::merge(vec![parts[0].clone(), parts[0].clone(), parts[1].clone()]).is_err());
    // One thread gives the same bytes as two.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let single = one.install(|| serde_json::to_string(&report(&text)).unwrap());
    assert_eq!(whole, single);
}

#[test]
fn errors_name_the_line_and_field() {
    let cases = [
        (light(100.0, 50.0, "").replace("demand_per_s = 100", "demand_per_s = -1"), 9, "workloads[0].demand_per_s"),
        (light(100.0, 50.0, "").replace("model = \"e5-large-v2\"", "model = \"no-such\""), 12, "workloads[1].model"),
        (light(100.0, 50.0, "").replace("type = \"h100-sxm\"", "type = \"b200\""), 18, "gpus[0].type"),
        (light(100.0, 50.0, "colour = 1"), 22, "colour"),
        (light(100.0, 50.0, "sharing = [\"mig\", \"dmp\"]"), 22, "choices.sharing"),
        (light(100.0, 50.0, "").replace("phase = \"decode\"", "phase = \"train\""), 6, "workloads[0].phase"),
    ];
    for (text, line, field) in cases {
        let e = parse("plan.toml", &text, &Builtin).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
        assert!(e.to_string().starts_with(&format!("plan.toml:{line}:")), "{e}");
    }
}

#[test]
fn the_dominance_bound_is_never_above_what_a_layout_costs() {
    // Simulated mixed layouts: every fleet that uses one costs at least its bound.
    let text = light(
        600.0,
        400.0,
        "sharing = [\"mps\", \"timeslice\", \"mig\", \"sm_partitions\"]\nreplicas = 2\nmps_percentages = [50]",
    );
    let (spec, sim) = plan(&text, Shard::WHOLE);
    let units = simgpu_plan::layouts::units(&spec);
    let res: Vec<Option<_>> = sim.units.iter().cloned().map(Some).collect();
    let report = simgpu_plan::report(&spec, &sim).unwrap();
    let mut checked = 0;
    for u in units.iter().filter(|u| u.mixes_workloads() && sim.units[u.id].pruned.is_none()) {
        let Some(bound) = simgpu_plan::cost_bound(&spec, &units, &res, u) else { continue };
        for c in report.candidates.iter().filter(|c| c.parts.iter().any(|p| p.unit == u.id)) {
            assert!(
                c.cost_per_hour >= bound * (1.0 - 1e-9),
                "{}: ${} below the bound ${bound}",
                c.layout,
                c.cost_per_hour
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked}");
}
