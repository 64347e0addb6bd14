//! Tensor parallelism: a client on several GPUs whose collectives wait for every rank and move
//! their bytes over the profile's link.

mod common;
use common::{client, h100, workload};
use simgpu_sim::spec::{ClientSpec, GpuLayout, Layout, Member, Partition, Sharing, Slice, WorkloadSpec};
use simgpu_sim::{GpuProfile, Report, Workload};

/// No power cap: the timings below are the mechanisms' alone.
fn uncapped() -> GpuProfile {
    let mut gpu = h100();
    gpu.power.limit_w.value = 1e6;
    gpu.power.fast_limit_w.value = 1e6;
    gpu
}

/// A rank's step: a compute kernel of `grid` blocks, then an all-reduce sending `link` bytes
/// over 16 blocks (and touching no DRAM, so that the link alone sets its time).
fn tp_client(name: &str, grid: u64, link: f64, requests: u64) -> ClientSpec {
    let mut c = client(name, grid, 2e8, 0.0, requests);
    let mut ar = client("ar", 16, 0.0, 0.0, 1).kernels.remove(0);
    ar.name = "all-reduce".into();
    ar.threads_per_block = 512;
    ar.per_block.link_bytes = link / 16.0;
    c.kernels.push(ar);
    c
}

fn member(client: usize) -> Member {
    Member { client, mps_thread_percentage: None }
}

fn part(slice: Slice, sharing: Sharing, members: &[usize]) -> Partition {
    Partition { slice, sharing, members: members.iter().map(|&c| member(c)).collect() }
}

fn whole(sharing: Sharing, members: &[usize]) -> GpuLayout {
    GpuLayout { partitions: vec![part(Slice::Whole, sharing, members)] }
}

fn run(gpu: &GpuProfile, spec: &WorkloadSpec, gpus: Vec<GpuLayout>) -> Report {
    let w = Workload::build(spec, &Layout { label: "tp".into(), gpus }, gpu).expect("a valid layout");
    simgpu_sim::run(&w)
}

fn kernel_us(r: &Report, client: usize, name: &str) -> f64 {
    r.clients[client].kernels.iter().find(|k| k.name == name).expect("kernel reported").mean_us
}

#[test]
fn a_collective_takes_the_link_latency_and_its_bytes_at_the_link_rate() {
    let gpu = uncapped();
    let link = gpu.link.clone().expect("the H100 profile states its link");
    for bytes in [1e3, 1e8, 1e9] {
        let spec = workload(vec![tp_client("tp", 132, bytes, 3)]);
        let r = run(&gpu, &spec, vec![whole(Sharing::Dedicated, &[0]), whole(Sharing::Dedicated, &[0])]);
        // A block never takes less than the profile's minimum block time beside its latency.
        let want = link.latency_us.value + (bytes / link.bw_gbs.value / 1e3).max(gpu.launch.block_min_us.value);
        let got = kernel_us(&r, 0, "all-reduce");
        assert!((got / want - 1.0).abs() < 0.01, "{bytes} B: {got} us, want {want} us");
        assert_eq!(r.clients.len(), 1, "a tensor-parallel client reports once");
        assert_eq!(
            r.clients[0].placement.as_deref(),
            Some("gpus 0+1 (tensor-parallel x2, nvlink4): whole GPU dedicated")
        );
        assert_eq!(r.per_gpu.len(), 2);
    }
}

#[test]
fn collectives_wait_for_every_rank() {
    let gpu = uncapped();
    // Rank 1 has half the SMs (a 64-SM partition of its GPU against all 132): its compute
    // kernel of 128 blocks runs one wave of co-resident pairs, twice the time of rank 0's one
    // wave of single blocks; rank 0's all-reduce spins until rank 1 starts its own.
    let spec = workload(vec![tp_client("tp", 128, 1e6, 5)]);
    let even = run(&gpu, &spec, vec![whole(Sharing::Dedicated, &[0]), whole(Sharing::Dedicated, &[0])]);
    let half = GpuLayout { partitions: vec![part(Slice::Sms { first: None, count: 64 }, Sharing::Dedicated, &[0])] };
    let uneven = run(&gpu, &spec, vec![whole(Sharing::Dedicated, &[0]), half]);
    let (k_even, ar_even) = (kernel_us(&even, 0, "k"), kernel_us(&even, 0, "all-reduce"));
    let (k_rank0, ar_rank0) = (kernel_us(&uneven, 0, "k"), kernel_us(&uneven, 0, "all-reduce"));
    assert_eq!(k_rank0, k_even, "rank 0's own compute is unchanged");
    // Rank 1's compute takes twice rank 0's: rank 0's collective waits for the difference.
    let want = ar_even + k_even;
    assert!((ar_rank0 / want - 1.0).abs() < 0.01, "rank 0's all-reduce {ar_rank0} us, want {want} us");
    let (l_even, l_uneven) = (even.clients[0].latency_us.unwrap().mean, uneven.clients[0].latency_us.unwrap().mean);
    assert!((l_uneven - l_even - k_even).abs() / l_even < 0.01, "steps {l_even} us and {l_uneven} us");
}

#[test]
fn a_co_tenant_on_one_rank_slows_the_whole_tensor_parallel_client() {
    let gpu = uncapped();
    // The embedding-like neighbour shares rank 1's GPU under MPS.
    let spec = workload(vec![tp_client("tp", 132, 1e6, 20), client("neighbour", 132, 4e8, 0.0, 1000)]);
    let alone = run(
        &gpu,
        &workload(vec![tp_client("tp", 132, 1e6, 20)]),
        vec![whole(Sharing::Dedicated, &[0]), whole(Sharing::Dedicated, &[0])],
    );
    let shared = run(&gpu, &spec, vec![whole(Sharing::Dedicated, &[0]), whole(Sharing::Mps, &[0, 1])]);
    let (a, s) = (alone.clients[0].latency_us.unwrap().mean, shared.clients[0].latency_us.unwrap().mean);
    assert!(s > 1.2 * a, "tp step {a} us alone, {s} us with a neighbour on rank 1");
    // Rank 0's GPU hosts nothing else: its compute kernel is as fast as alone; it waits instead.
    assert_eq!(kernel_us(&shared, 0, "k"), kernel_us(&alone, 0, "k"));
    assert!(kernel_us(&shared, 0, "all-reduce") > 2.0 * kernel_us(&alone, 0, "all-reduce"));
    assert!(shared.clients[1].requests_completed > 0);
}

#[test]
fn tensor_parallel_runs_are_deterministic_and_recording_changes_nothing() {
    let gpu = h100();
    let spec = workload(vec![tp_client("tp", 132, 1e7, 10), client("neighbour", 100, 4e8, 1e7, 30)]);
    let layout =
        Layout { label: "tp".into(), gpus: vec![whole(Sharing::Mps, &[0, 1]), whole(Sharing::Dedicated, &[0])] };
    let w = Workload::build(&spec, &layout, &gpu).expect("valid");
    let json = |r: &Report| serde_json::to_string(r).expect("serialises");
    let first = json(&simgpu_sim::run(&w));
    assert_eq!(first, json(&simgpu_sim::run(&w)));
    let mut rec = common::Nothing;
    let opts = simgpu_sim::RunOptions { recorder: Some(&mut rec), ..Default::default() };
    assert_eq!(json(&simgpu_sim::run_with(&w, opts).expect("runs")), first);
    // An event limit stops it with what it did.
    let opts = simgpu_sim::RunOptions { max_events: Some(100), ..Default::default() };
    let stopped = simgpu_sim::run_with(&w, opts).expect_err("stops");
    assert!(matches!(stopped.error, simgpu_sim::RunError::TooManyEvents { .. }));
}

#[test]
fn tensor_parallel_layouts_that_cannot_run_are_refused() {
    let gpu = h100();
    let two = || vec![whole(Sharing::Dedicated, &[0]), whole(Sharing::Dedicated, &[0])];
    let build = |spec: &WorkloadSpec, gpus: Vec<GpuLayout>, gpu: &GpuProfile| {
        Workload::build(spec, &Layout { label: "x".into(), gpus }, gpu).expect_err("refused")
    };
    // On two GPUs without collectives; collectives on one GPU; twice on one GPU; no link.
    let plain = workload(vec![client("a", 8, 1e6, 0.0, 1)]);
    let e = build(&plain, two(), &gpu);
    assert_eq!(e.path, "clients[0]");
    assert!(e.message.contains("collectives"), "{}", e.message);
    let tp = workload(vec![tp_client("tp", 8, 1e6, 1)]);
    let e = build(&tp, vec![whole(Sharing::Dedicated, &[0])], &gpu);
    assert_eq!(e.path, "clients[0].kernels[1].link_bytes");
    let twice = GpuLayout {
        partitions: vec![
            part(Slice::Sms { first: None, count: 64 }, Sharing::Dedicated, &[0]),
            part(Slice::Sms { first: None, count: 64 }, Sharing::Dedicated, &[0]),
        ],
    };
    let e = build(&tp, vec![twice], &gpu);
    assert_eq!(e.path, "gpus[0].partitions[1].clients");
    let mut no_link = gpu.clone();
    no_link.link = None;
    let e = build(&tp, two(), &no_link);
    assert!(e.message.contains("[link]"), "{}", e.message);
}
