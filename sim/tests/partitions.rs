//! Hard partitions: MIG instances and fixed SM partitions, by the typed front door and by
//! scenario files. Placement rules, isolation (own DRAM pool under MIG, a shared one otherwise),
//! one power budget per GPU, SM exclusivity, determinism with several GPUs.

use simgpu_sim::spec::{ClientSpec, GpuLayout, Layout, Member, Partition, Sharing, Slice, WorkloadSpec};
use simgpu_sim::{GpuProfile, Report, Scenario, Workload};

mod common;
use common::{client, h100, run_checked, run_on, workload};

fn profile(name: &str, text: &str) -> GpuProfile {
    GpuProfile::from_toml(name, text).expect("profile parses")
}

/// No power cap: bandwidth and SM effects alone.
fn uncapped(mut gpu: GpuProfile) -> GpuProfile {
    gpu.power.limit_w.value = 1e6;
    gpu.power.fast_limit_w.value = 1e6;
    gpu
}

/// A bandwidth-bound stream: 1 GB per launch over `grid` blocks.
fn stream(name: &str, grid: u64, requests: u64) -> ClientSpec {
    client(name, grid, 0.0, 1e9 / grid as f64, requests)
}

fn part(slice: Slice, sharing: Sharing, members: &[usize]) -> Partition {
    Partition {
        slice,
        sharing,
        members: members.iter().map(|&client| Member { client, mps_thread_percentage: None }).collect(),
    }
}

fn mig(profile: &str, start: Option<u32>, members: &[usize]) -> Partition {
    part(Slice::Mig { profile: profile.into(), start }, Sharing::Dedicated, members)
}

fn sms(count: u32, members: &[usize]) -> Partition {
    part(Slice::Sms { first: None, count }, Sharing::Dedicated, members)
}

fn one_gpu(partitions: Vec<Partition>) -> Layout {
    Layout { label: "test".into(), gpus: vec![GpuLayout { partitions }] }
}

fn mean_kernel_us(r: &Report, client: usize) -> f64 {
    r.clients[client].kernels[0].mean_us
}

/// The error path a layout's build fails with.
fn refused(gpu: &GpuProfile, spec: &WorkloadSpec, layout: Layout) -> (String, String) {
    let e = Workload::build(spec, &layout, gpu).expect_err("the layout breaks a rule");
    (e.path, e.message)
}

#[test]
fn valid_mig_layouts_give_each_instance_its_table_row() {
    let gpu = h100();
    let spec = workload(vec![stream("a", 64, 1), stream("b", 60, 1)]);
    let w = Workload::build(&spec, &one_gpu(vec![mig("4g.40gb", None, &[0]), mig("3g.40gb", None, &[1])]), &gpu)
        .expect("4g + 3g is a valid H100 split");
    let r = run_checked(&w);
    assert_eq!(r.clients[0].sm_cap, 64);
    assert_eq!(r.clients[1].sm_cap, 60);
    assert_eq!(r.clients[0].placement.as_deref(), Some("gpu 0: 4g.40gb dedicated"));
    // Seven 1g instances at starts 0..6, and the mixed 2g + 2g + 3g at their placements.
    let spec7 = workload((0..7).map(|i| stream(&format!("c{i}"), 16, 1)).collect());
    let seven = one_gpu((0..7).map(|i| mig("1g.10gb", None, &[i])).collect());
    let r = run_on(&gpu, &spec7, &seven);
    assert!(r.clients.iter().all(|c| c.sm_cap == 16));
    let spec3 = workload(vec![stream("a", 32, 1), stream("b", 32, 1), stream("c", 60, 1)]);
    let mixed =
        one_gpu(vec![mig("2g.20gb", Some(0), &[0]), mig("2g.20gb", Some(2), &[1]), mig("3g.40gb", Some(4), &[2])]);
    Workload::build(&spec3, &mixed, &gpu).expect("2g + 2g + 3g");
}

#[test]
fn invalid_mig_layouts_name_the_rule() {
    let gpu = h100();
    let n = |n: usize| workload((0..n).map(|i| stream(&format!("c{i}"), 8, 1)).collect());
    // Overlapping memory slices: a 2g at 2 inside a 4g at 0.
    let (path, msg) = refused(&gpu, &n(2), one_gpu(vec![mig("4g.40gb", Some(0), &[0]), mig("2g.20gb", Some(2), &[1])]));
    assert_eq!(path, "gpus[0].partitions[1].start");
    assert!(msg.contains("overlaps") && msg.contains("partitions[0]"), "{msg}");
    // A start the profile may not take.
    let (path, msg) = refused(&gpu, &n(1), one_gpu(vec![mig("3g.40gb", Some(2), &[0])]));
    assert_eq!(path, "gpus[0].partitions[0].start");
    assert!(msg.contains("0 or 4"), "{msg}");
    // Too many instances of one profile.
    let (path, msg) = refused(&gpu, &n(2), one_gpu(vec![mig("4g.40gb", None, &[0]), mig("4g.40gb", None, &[1])]));
    assert_eq!(path, "gpus[0].partitions[1].mig");
    assert!(msg.contains("at most 1"), "{msg}");
    // More compute slices than the GPU has.
    let three = one_gpu(vec![mig("4g.40gb", None, &[0]), mig("3g.40gb", None, &[1]), mig("1g.10gb", None, &[2])]);
    let (path, msg) = refused(&gpu, &n(3), three);
    assert_eq!(path, "gpus[0].partitions[2].mig");
    assert!(msg.contains("8 compute slices") && msg.contains('7'), "{msg}");
    // Three 2g.20gb fit (at 0, 2 and 4); a 3g.40gb beside two 2g stated at 0 and 4 has no free
    // placement (it starts only at 0 or 4), though 6 compute slices are within the 7.
    let fits = one_gpu(vec![mig("2g.20gb", None, &[0]), mig("2g.20gb", None, &[1]), mig("2g.20gb", None, &[2])]);
    Workload::build(&n(3), &fits, &gpu).expect("three 2g.20gb fit");
    let boxed = one_gpu(vec![mig("2g.20gb", Some(0), &[0]), mig("2g.20gb", Some(4), &[1]), mig("3g.40gb", None, &[2])]);
    let (path, msg) = refused(&gpu, &n(3), boxed);
    assert_eq!(path, "gpus[0].partitions[2].mig");
    assert!(msg.contains("no placements"), "{msg}");
    // A profile the GPU lacks, listing what it has.
    let (path, msg) = refused(&gpu, &n(1), one_gpu(vec![mig("3g.71gb", None, &[0])]));
    assert_eq!(path, "gpus[0].partitions[0].mig");
    assert!(msg.contains("3g.40gb"), "{msg}");
    // MIG beside an SM partition on one GPU.
    let (path, _) = refused(&gpu, &n(2), one_gpu(vec![mig("3g.40gb", None, &[0]), sms(64, &[1])]));
    assert_eq!(path, "gpus[0].partitions[1].sms");
    // A GPU without MIG.
    let rtx = profile("rtx-4090.toml", include_str!("../../models/gpus/rtx-4090.toml"));
    let (path, msg) = refused(&rtx, &n(1), one_gpu(vec![mig("1g.10gb", None, &[0])]));
    assert_eq!(path, "gpus[0].partitions[0].mig");
    assert!(msg.contains("no MIG"), "{msg}");
}

#[test]
fn a_mig_instance_keeps_its_bandwidth_while_mps_and_sm_partitions_share_it() {
    let gpu = uncapped(h100());
    // The victim streams on 60 SMs; the aggressor streams on 64.
    let spec = workload(vec![stream("victim", 60, 20), stream("aggressor", 64, 40)]);
    let alone_spec = workload(vec![stream("victim", 60, 20)]);
    let alone = run_on(&gpu, &alone_spec, &one_gpu(vec![mig("3g.40gb", None, &[0])]));
    let beside = run_on(&gpu, &spec, &one_gpu(vec![mig("3g.40gb", None, &[0]), mig("4g.40gb", None, &[1])]));
    let (a, b) = (mean_kernel_us(&alone, 0), mean_kernel_us(&beside, 0));
    assert!((b / a - 1.0).abs() < 1e-9, "MIG: {a} us alone, {b} us beside a streaming instance");
    // Its own pool is half the GPU's bandwidth (4 of 8 memory slices): slower than the whole GPU's.
    let whole = run_on(&gpu, &alone_spec, &Layout::whole_gpu(Sharing::Dedicated, &[None]));
    assert!(mean_kernel_us(&whole, 0) < 0.75 * a, "whole GPU {} us, 3g {a} us", mean_kernel_us(&whole, 0));

    // The same pair under MPS, and in fixed SM partitions of 64 + 64: one DRAM pool, shared.
    let split_alone = run_on(&gpu, &alone_spec, &one_gpu(vec![sms(64, &[0])]));
    let split = run_on(&gpu, &spec, &one_gpu(vec![sms(64, &[0]), sms(64, &[1])]));
    let (sa, sb) = (mean_kernel_us(&split_alone, 0), mean_kernel_us(&split, 0));
    assert!(sb > 1.3 * sa, "SM partitions: {sa} us alone, {sb} us beside a streaming partition");
    let mps_alone = run_on(&gpu, &alone_spec, &Layout::whole_gpu(Sharing::Mps, &[None]));
    let mps = run_on(&gpu, &spec, &Layout::whole_gpu(Sharing::Mps, &[None, None]));
    let (ma, mb) = (mean_kernel_us(&mps_alone, 0), mean_kernel_us(&mps, 0));
    assert!(mb > 1.3 * ma, "MPS: {ma} us alone, {mb} us beside a streaming client");
}

#[test]
fn mig_instances_share_one_power_budget() {
    // A compute-bound client in a 3g instance, alone and beside a compute-bound 4g neighbour,
    // under a power limit one instance alone stays below and two together exceed.
    let mut gpu = h100();
    let heavy = |name: &str, grid: u64| client(name, grid, 2e9, 0.0, 10);
    let spec = workload(vec![heavy("victim", 60), heavy("neighbour", 64)]);
    let alone_spec = workload(vec![heavy("victim", 60)]);
    let alone = run_on(&gpu, &alone_spec, &one_gpu(vec![mig("3g.40gb", None, &[0])]));
    let idle_w = gpu.power.idle_w.value;
    // Halfway between one instance's draw and two instances' (about twice the dynamic part).
    let one_w = alone.gpu_stats.avg_power_w;
    gpu.power.limit_w.value = one_w + 0.5 * (one_w - idle_w);
    gpu.power.fast_limit_w.value = gpu.power.limit_w.value;
    let alone = run_on(&gpu, &alone_spec, &one_gpu(vec![mig("3g.40gb", None, &[0])]));
    let beside = run_on(&gpu, &spec, &one_gpu(vec![mig("3g.40gb", None, &[0]), mig("4g.40gb", None, &[1])]));
    let (a, b) = (mean_kernel_us(&alone, 0), mean_kernel_us(&beside, 0));
    assert!(b > 1.05 * a, "limit {:.0} W: {a} us alone, {b} us beside a busy instance", gpu.power.limit_w.value);
    assert!(beside.gpu_stats.avg_effective_sm_clock_mhz < alone.gpu_stats.avg_effective_sm_clock_mhz);
}

#[test]
fn fixed_sm_partitions_are_exclusive() {
    let gpu = uncapped(h100());
    // A compute kernel of 128 blocks of 1024 threads: one wave on the whole GPU; on a 32-SM
    // partition two waves of two co-resident blocks per SM (4x as long), whether or not the
    // other 96 SMs are busy: the neighbour's partition lends it none.
    let k = |name: &str| client(name, 128, 1e9, 0.0, 1);
    let alone = run_on(&gpu, &workload(vec![k("a")]), &one_gpu(vec![sms(32, &[0])]));
    let with_idle_rest = run_on(&gpu, &workload(vec![k("a"), k("b")]), &one_gpu(vec![sms(32, &[0]), sms(96, &[1])]));
    let whole = run_on(&gpu, &workload(vec![k("a")]), &Layout::whole_gpu(Sharing::Dedicated, &[None]));
    let (a, b, w) = (mean_kernel_us(&alone, 0), mean_kernel_us(&with_idle_rest, 0), mean_kernel_us(&whole, 0));
    assert_eq!(alone.clients[0].sm_cap, 32);
    assert!((a / b - 1.0).abs() < 1e-9, "{a} vs {b}");
    assert!((a / w - 4.0).abs() < 0.01, "32 SMs {a} us, 132 SMs {w} us");
    // Partitions that name their SMs: the same answer wherever they sit.
    let at = |first| part(Slice::Sms { first: Some(first), count: 32 }, Sharing::Dedicated, &[0]);
    let placed = run_on(&gpu, &workload(vec![k("a")]), &one_gpu(vec![at(96)]));
    assert_eq!(mean_kernel_us(&placed, 0), a);
    // More SMs than are left.
    let (path, msg) = refused(&gpu, &workload(vec![k("a"), k("b")]), one_gpu(vec![sms(128, &[0]), sms(8, &[1])]));
    assert_eq!(path, "gpus[0].partitions[1].sms");
    assert!(msg.contains("do not fit"), "{msg}");
}

#[test]
fn mps_inside_a_mig_instance_caps_against_its_sms() {
    let gpu = uncapped(h100());
    let spec = workload(vec![stream("a", 60, 2), stream("b", 60, 2)]);
    let mut p = part(Slice::Mig { profile: "3g.40gb".into(), start: None }, Sharing::Mps, &[0, 1]);
    p.members[0].mps_thread_percentage = Some(50.0);
    let r = run_on(&gpu, &spec, &one_gpu(vec![p]));
    assert_eq!(r.clients[0].sm_cap, 30);
    assert_eq!(r.clients[1].sm_cap, 60);
}

const TWO_GPUS: &str = r#"
name = "two"
gpu = "h100-sxm"
duration_s = 10.0

[[clients]]
name = "a"
requests = 20
[[clients.kernels]]
name = "k"
grid = 64
block = 1024
regs_per_thread = 32
flops = 1e10
dram_bytes = 1e9

[[clients]]
name = "b"
requests = 20
[[clients.kernels]]
name = "k"
grid = 60
block = 1024
regs_per_thread = 32
flops = 1e10
dram_bytes = 2e9

[[clients]]
name = "c"
requests = 20
[[clients.kernels]]
name = "k"
grid = 132
block = 1024
regs_per_thread = 32
flops = 1e10
dram_bytes = 1e9

[[gpus]]
[[gpus.partitions]]
mig = "4g.40gb"
clients = ["a"]

[[gpus.partitions]]
mig = "3g.40gb"
clients = ["b"]

[[gpus]]
[[gpus.partitions]]
sharing = "mps"
clients = ["c"]
"#;

#[test]
fn scenarios_lay_out_several_gpus_deterministically() {
    let gpu = h100();
    let scn = Scenario::parse("two.toml", TWO_GPUS).expect("parses");
    let w = scn.bind(&gpu).expect("binds");
    let (r1, r2) = (simgpu_sim::run(&w), simgpu_sim::run(&w));
    let json = |r: &Report| serde_json::to_string(r).expect("serialises");
    assert_eq!(json(&r1), json(&r2));
    assert_eq!(r1.gpu_stats.gpus, 2);
    assert_eq!(r1.per_gpu.len(), 2);
    assert_eq!(r1.sharing, "4g.40gb dedicated + 3g.40gb dedicated | mps");
    let placements: Vec<&str> = r1.clients.iter().filter_map(|c| c.placement.as_deref()).collect();
    assert_eq!(placements, ["gpu 0: 4g.40gb dedicated", "gpu 0: 3g.40gb dedicated", "gpu 1: whole GPU mps"]);
    // Parsed again, the same bytes.
    let again = Scenario::parse("two.toml", TWO_GPUS).unwrap().bind(&gpu).unwrap();
    assert_eq!(json(&simgpu_sim::run(&again)), json(&r1));
}

#[test]
fn scenario_layout_errors_name_file_line_and_field() {
    let gpu = h100();
    let bad = |from: &str, to: &str| {
        let text = TWO_GPUS.replacen(from, to, 1);
        match Scenario::parse("two.toml", &text) {
            Err(e) => e,
            Ok(s) => s.bind(&gpu).expect_err("refused"),
        }
    };
    let line_of = |needle: &str, text: &str| text.lines().position(|l| l.contains(needle)).expect("in the text") + 1;
    // A start the 3g profile may not take, at the line of `start`.
    let text = TWO_GPUS.replacen("mig = \"3g.40gb\"", "mig = \"3g.40gb\"\nstart = 2", 1);
    let e = bad("mig = \"3g.40gb\"", "mig = \"3g.40gb\"\nstart = 2");
    assert_eq!(e.field, "gpus[0].partitions[1].start");
    assert_eq!(e.line, line_of("start = 2", &text), "{e}");
    assert!(e.to_string().starts_with(&format!("two.toml:{}:", e.line)), "{e}");
    // An unknown profile, at the line of `mig`.
    let e = bad("mig = \"4g.40gb\"", "mig = \"5g.50gb\"");
    assert_eq!(e.field, "gpus[0].partitions[0].mig");
    assert_eq!(e.line, line_of("5g.50gb", &TWO_GPUS.replacen("4g.40gb", "5g.50gb", 1)));
    // A partition of no clients; a client in two partitions of one GPU; one on two GPUs
    // (tensor-parallel) without collectives; a name that is no client.
    let e = bad("clients = [\"c\"]", "clients = []");
    assert_eq!(e.field, "gpus[1].partitions[0].clients", "{e}");
    let e = bad("clients = [\"b\"]", "clients = [\"b\", \"a\"]");
    assert_eq!(e.field, "gpus[0].partitions[1].clients", "{e}");
    assert!(e.message.contains("two partitions of one GPU"), "{e}");
    let e = bad("clients = [\"c\"]", "clients = [\"c\", \"a\"]");
    assert_eq!(e.field, "clients[0]", "{e}");
    assert!(e.message.contains("collectives"), "{e}");
    let e = bad("clients = [\"c\"]", "clients = [\"c\", \"zz\"]");
    assert!(e.message.contains("zz"), "{e}");
    // `sharing` at the top beside `gpus`, `mig` and `sms` in one partition.
    let e = bad("duration_s = 10.0", "duration_s = 10.0\nsharing = \"mps\"");
    assert!(e.message.contains("gpus"), "{e}");
    let e = bad("mig = \"4g.40gb\"", "mig = \"4g.40gb\"\nsms = 64");
    assert!(e.field.starts_with("gpus[0].partitions[0]"), "{e}");
}
