//! The typed front door: workloads and layouts built directly, without a scenario file.

use simgpu_sim::spec::{
    Arrivals, BlockWork, ClientSpec, GpuLayout, Layout, Member, OpKind, Partition, Sharing, Slice, Timing,
};
use simgpu_sim::{GpuProfile, Workload};

mod common;
use common::{h100, run_checked, workload};

/// A client running `requests` launches of a long FP32 kernel of `grid` 1024-thread blocks.
fn fma_client(name: &str, grid: u64, requests: u64) -> ClientSpec {
    let mut c = common::client(name, grid, 1.0e9, 0.0, requests);
    c.kernels[0].name = "fma".into();
    c
}

fn partition(first: u32, count: u32, sharing: Sharing, members: &[usize]) -> Partition {
    let slice = if count == 132 { Slice::Whole } else { Slice::Sms { first: Some(first), count } };
    Partition {
        slice,
        sharing,
        members: members.iter().map(|&client| Member { client, mps_thread_percentage: None }).collect(),
    }
}

#[test]
fn fixed_sm_partitions_run_side_by_side_like_halves_of_the_gpu() {
    let gpu = h100();
    let spec = workload(vec![fma_client("a", 128, 1), fma_client("b", 128, 1)]);
    let layout = Layout {
        label: "partitions".into(),
        gpus: vec![GpuLayout {
            partitions: vec![partition(0, 64, Sharing::Dedicated, &[0]), partition(64, 64, Sharing::Dedicated, &[1])],
        }],
    };
    let w = Workload::build(&spec, &layout, &gpu).expect("valid layout");
    let r = run_checked(&w);
    // 128 blocks on 64 SMs: two per SM, twice the time of one block per SM on the whole GPU.
    let alone = {
        let spec = workload(vec![fma_client("a", 128, 1)]);
        let w = Workload::build(&spec, &Layout::whole_gpu(Sharing::Dedicated, &[None]), &gpu).expect("valid");
        run_checked(&w).clients[0].kernel_entries.as_ref().expect("entries")[0].duration_us.expect("measured").max
    };
    for c in &r.clients {
        let d = c.kernel_entries.as_ref().expect("entries")[0].duration_us.expect("measured").max;
        assert!((d / alone - 2.0).abs() < 0.01, "{}: {d} us on half the SMs, {alone} us on all", c.name);
        assert_eq!(c.sm_cap, 64);
    }
    assert_eq!(r.sharing, "partitions");
}

#[test]
fn time_slice_groups_in_two_partitions_are_independent() {
    let gpu = h100();
    let spec =
        workload(vec![fma_client("a", 64, 2), fma_client("b", 64, 2), fma_client("c", 64, 2), fma_client("d", 64, 2)]);
    let layout = Layout {
        label: "two-slice-groups".into(),
        gpus: vec![GpuLayout {
            partitions: vec![
                partition(0, 64, Sharing::Timeslice, &[0, 1]),
                partition(64, 64, Sharing::Timeslice, &[2, 3]),
            ],
        }],
    };
    let w = Workload::build(&spec, &layout, &gpu).expect("valid layout");
    let r = run_checked(&w);
    assert!(r.gpu_stats.context_switches > 0);
    let lat: Vec<f64> = r.clients.iter().map(|c| c.latency_us.expect("measured").p50).collect();
    // Symmetric halves give the same answer.
    assert_eq!(lat[0], lat[2], "{lat:?}");
    assert_eq!(lat[1], lat[3], "{lat:?}");
}

#[test]
fn clients_of_several_gpus_report_in_workload_order() {
    let gpu = h100();
    let spec = workload(vec![fma_client("a", 10, 1), fma_client("b", 20, 1), fma_client("c", 30, 1)]);
    let whole = |members: &[usize]| GpuLayout { partitions: vec![partition(0, 132, Sharing::Streams, members)] };
    let layout = Layout { label: "two-gpus".into(), gpus: vec![whole(&[2, 0]), whole(&[1])] };
    let w = Workload::build(&spec, &layout, &gpu).expect("valid layout");
    let r = simgpu_sim::run(&w);
    let names: Vec<&str> = r.clients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(r.gpu_stats.gpus, 2);
}

#[test]
fn bad_layouts_name_the_field() {
    let gpu = h100();
    let spec = workload(vec![fma_client("a", 1, 1), fma_client("b", 1, 1)]);
    let check = |partitions: Vec<Partition>| {
        let layout = Layout { label: "x".into(), gpus: vec![GpuLayout { partitions }] };
        Workload::build(&spec, &layout, &gpu).expect_err("invalid layout").path
    };
    // Overlapping SMs; a size or a start off the GPU's granularity of 8.
    assert_eq!(
        check(vec![partition(0, 72, Sharing::Dedicated, &[0]), partition(64, 64, Sharing::Dedicated, &[1])]),
        "gpus[0].partitions[1].first"
    );
    assert_eq!(check(vec![partition(0, 66, Sharing::Streams, &[0, 1])]), "gpus[0].partitions[0].sms");
    assert_eq!(check(vec![partition(4, 64, Sharing::Streams, &[0, 1])]), "gpus[0].partitions[0].first");
    // Beyond the GPU.
    assert_eq!(check(vec![partition(96, 40, Sharing::Streams, &[0, 1])]), "gpus[0].partitions[0].first");
    // A client nowhere, a client twice.
    assert_eq!(check(vec![partition(0, 132, Sharing::Streams, &[0])]), "clients[1]");
    assert_eq!(
        check(vec![partition(0, 64, Sharing::Streams, &[0, 1]), partition(64, 64, Sharing::Streams, &[1])]),
        "gpus[0].partitions[1].clients"
    );
    // Two clients in a dedicated partition; an MPS percentage outside MPS.
    assert_eq!(check(vec![partition(0, 132, Sharing::Dedicated, &[0, 1])]), "clients[1]");
    let mut p = partition(0, 132, Sharing::Streams, &[0, 1]);
    p.members[0].mps_thread_percentage = Some(50.0);
    assert_eq!(check(vec![p]), "clients[0].mps_thread_percentage");
}

#[test]
fn mps_caps_count_the_partitions_sms() {
    let gpu = h100();
    let spec = workload(vec![fma_client("a", 64, 1)]);
    let mut p = partition(0, 64, Sharing::Mps, &[0]);
    p.members[0].mps_thread_percentage = Some(50.0);
    let layout = Layout { label: "mps-half".into(), gpus: vec![GpuLayout { partitions: vec![p] }] };
    let w = Workload::build(&spec, &layout, &gpu).expect("valid layout");
    assert_eq!(run_checked(&w).clients[0].sm_cap, 32);
}

#[test]
fn a_run_past_its_event_limit_stops_with_what_it_did() {
    let gpu = h100();
    let spec = workload(vec![fma_client("a", 132, 50)]);
    let w = Workload::build(&spec, &Layout::whole_gpu(Sharing::Streams, &[None]), &gpu).expect("valid");
    let full = simgpu_sim::run(&w).sim.events;
    let opts = simgpu_sim::RunOptions { max_events: Some(full / 2), ..Default::default() };
    let stopped = simgpu_sim::run_with(&w, opts).expect_err("stops at the limit");
    assert_eq!(stopped.error, simgpu_sim::RunError::TooManyEvents { limit: full / 2 });
    assert!(stopped.partial.clients[0].requests_completed < 50);
    // A progress callback that says stop interrupts the run.
    let mut calls = 0;
    let mut stop = |_p: simgpu_sim::Progress| {
        calls += 1;
        false
    };
    let spec = workload(vec![fma_client("b", 132, 100_000)]);
    let w = Workload::build(&spec, &Layout::whole_gpu(Sharing::Streams, &[None]), &gpu).expect("valid");
    let opts = simgpu_sim::RunOptions { progress: Some(&mut stop), ..Default::default() };
    let stopped = simgpu_sim::run_with(&w, opts).expect_err("interrupted");
    assert_eq!(stopped.error, simgpu_sim::RunError::Interrupted);
    assert_eq!(calls, 1);
}

#[test]
fn overloaded_open_loop_clients_stop_with_a_clear_error() {
    let gpu = h100();
    let mut c = fma_client("flood", 132, 10_000_000);
    c.arrivals = Arrivals::Poisson { rate_per_s: 1.0e6 };
    let w = Workload::build(&workload(vec![c]), &Layout::whole_gpu(Sharing::Streams, &[None]), &gpu).expect("valid");
    let stopped = simgpu_sim::run_with(&w, Default::default()).expect_err("overloaded");
    assert!(
        matches!(stopped.error, simgpu_sim::RunError::Overloaded { queued, .. } if queued == simgpu_sim::MAX_QUEUED_REQUESTS)
    );
}

#[test]
fn gpus_report_over_one_window() {
    let gpu = h100();
    let solo = |c: ClientSpec| {
        let w = Workload::build(&workload(vec![c]), &Layout::whole_gpu(Sharing::Dedicated, &[None]), &gpu).unwrap();
        simgpu_sim::run(&w)
    };
    let (a, b) = (fma_client("short", 132, 1), fma_client("long", 132, 5));
    let (ra, rb) = (solo(a.clone()), solo(b.clone()));
    let both = workload(vec![a, b]);
    let w = Workload::build(&both, &Layout::whole_gpu(Sharing::Dedicated, &[None, None]), &gpu).unwrap();
    let r = simgpu_sim::run(&w);
    assert_eq!(r.simulated_s, rb.simulated_s);
    // The short GPU idles after its client is done: its busy share is over the common window.
    let want = (ra.gpu_stats.sm_busy_fraction * ra.simulated_s / rb.simulated_s + rb.gpu_stats.sm_busy_fraction) / 2.0;
    let got = r.gpu_stats.sm_busy_fraction;
    assert!((got / want - 1.0).abs() < 1e-6, "{got} vs {want}");
    assert!(r.gpu_stats.avg_power_w < (ra.gpu_stats.avg_power_w + rb.gpu_stats.avg_power_w) / 2.0);
    // Recording (two passes) gives the same report.
    let mut rec = common::Nothing;
    let opts = simgpu_sim::RunOptions { recorder: Some(&mut rec), ..Default::default() };
    let recorded = simgpu_sim::run_with(&w, opts).expect("runs");
    assert_eq!(serde_json::to_string(&recorded).unwrap(), serde_json::to_string(&r).unwrap());
}

#[test]
fn an_event_limit_is_met_exactly_where_ticks_are_fast_forwarded() {
    // Seed 000 over 60,000 s: nearly all of its steps are controller ticks taken in batches.
    let text = include_str!("../../scenarios/seed000/mps-132-p50.toml");
    let scn = simgpu_sim::Scenario::parse("mps-132-p50.toml", text).expect("parses");
    let (mut spec, layout) = scn.to_spec();
    spec.duration_s = 60_000.0;
    let w = Workload::build(&spec, &layout, &h100()).expect("valid");
    for limit in [5_000, 100_003] {
        let opts = simgpu_sim::RunOptions { max_events: Some(limit), ..Default::default() };
        let stopped = simgpu_sim::run_with(&w, opts).expect_err("stops at the limit");
        assert_eq!(stopped.error, simgpu_sim::RunError::TooManyEvents { limit });
        assert!(stopped.partial.sim.ticks_fast_forwarded > 0);
    }
}

#[test]
fn an_mps_clients_launch_calls_cost_what_the_profile_says() {
    // One host-bound client (200 launches of a tiny kernel, 10 us apart) alone, in its own
    // context and as an MPS client whose launch call costs 1 us more (the GPU-side extra
    // latency set to 0): each request takes 200 us longer, and nothing else moves.
    let mut gpu = h100();
    gpu.launch.mps_extra_latency_us.value = 0.0;
    gpu.launch.mps_host_launch_extra_us.value = 1.0;
    let mut c = fma_client("decode", 1, 5);
    c.kernels[0].per_block.flops = 1e3;
    c.kernels[0].host_gap_us = Some(10.0);
    c.kernels[0].repeat = 200;
    let spec = workload(vec![c]);
    let latency = |sharing: Sharing, gpu: &GpuProfile| {
        let w = Workload::build(&spec, &Layout::whole_gpu(sharing, &[None]), gpu).unwrap();
        run_checked(&w).clients[0].latency_us.unwrap().mean
    };
    let (plain, mps) = (latency(Sharing::Streams, &gpu), latency(Sharing::Mps, &gpu));
    assert!((mps - plain - 200.0).abs() < 1e-6, "plain {plain} us, MPS {mps} us");
    // A cheaper call (negative extra) takes time off each gap.
    gpu.launch.mps_host_launch_extra_us.value = -4.0;
    assert!((latency(Sharing::Mps, &gpu) - plain + 800.0).abs() < 1e-6);
}

#[test]
fn tensor_blocks_take_their_latency_beside_their_work_and_other_blocks_do_not() {
    // One wave of 132 blocks (one per SM), each with 100 us of work at the peak rate of its kind:
    // a tensor-core kernel takes the profile's block latency more, an FP32 one does not; a
    // second wave pays it again (co-resident blocks would pay it side by side, once).
    let mut gpu = h100();
    let clock_ghz = gpu.clock.max_sm_mhz.value / 1000.0;
    gpu.power.limit_w.value = 1e6;
    gpu.power.fast_limit_w.value = 1e6;
    let duration = |gpu: &GpuProfile, op: OpKind, grid: u64| {
        // Enough warps to fill the SM's issue slots for either kind.
        let (per_clk, threads) = match op {
            OpKind::Bf16Tensor => (gpu.rates.bf16_tensor_flops_per_clk.value, 384),
            _ => (gpu.rates.fp32_flops_per_clk.value, 1024),
        };
        let mut c = fma_client("k", grid, 1);
        let k = &mut c.kernels[0];
        (k.op, k.threads_per_block, k.per_block.flops) = (op, threads, 100_000.0 * per_clk * clock_ghz);
        // One block per SM (as sm90 GEMMs' shared memory allows): a second wave waits.
        k.smem_bytes = 200_000;
        let w = Workload::build(&workload(vec![c]), &Layout::whole_gpu(Sharing::Dedicated, &[None]), gpu).unwrap();
        let r = run_checked(&w);
        r.clients[0].kernels[0].mean_us
    };
    for latency in [0.0, 4.0] {
        gpu.launch.tensor_block_latency_us.value = latency;
        let tensor = duration(&gpu, OpKind::Bf16Tensor, 132);
        let fp32 = duration(&gpu, OpKind::Fp32, 132);
        assert!((tensor - 100.0 - latency).abs() < 0.01, "latency {latency}: tensor kernel {tensor} us");
        assert!((fp32 - 100.0).abs() < 0.01, "latency {latency}: fp32 kernel {fp32} us");
        let two_waves = duration(&gpu, OpKind::Bf16Tensor, 264);
        assert!((two_waves - 2.0 * (100.0 + latency)).abs() < 0.02, "latency {latency}: two waves {two_waves} us");
    }
}

#[test]
fn dram_bandwidth_follows_the_write_share() {
    // A kernel that streams 4 GB over every SM: read-only it moves the profile's read rate; a
    // copy's mix (or an unknown one) moves the copy's rate; all writes, 1 / (2/copy - 1/read).
    let mut gpu = h100();
    gpu.power.limit_w.value = 1e6;
    gpu.power.fast_limit_w.value = 1e6;
    gpu.memory.per_sm_bw_gbs.value = 1e5;
    gpu.memory.per_thread_bw_gbs.value = 1e3;
    (gpu.memory.achievable_bw_gbs.value, gpu.memory.read_bw_gbs.value) = (3000.0, 4000.0);
    let gbs = |share: Option<f64>| {
        let mut c = fma_client("stream", 132, 1);
        let k = &mut c.kernels[0];
        k.per_block = BlockWork {
            flops: 0.0,
            dram_bytes: 4e9 / 132.0,
            dram_write_share: share,
            instructions: 0.0,
            link_bytes: 0.0,
        };
        let w = Workload::build(&workload(vec![c]), &Layout::whole_gpu(Sharing::Dedicated, &[None]), &gpu).unwrap();
        4e9 / (run_checked(&w).clients[0].kernels[0].mean_us * 1e3)
    };
    let write_only = 1.0 / (2.0 / 3000.0 - 1.0 / 4000.0);
    for (share, want) in [(Some(0.0), 4000.0), (Some(0.5), 3000.0), (None, 3000.0), (Some(1.0), write_only)] {
        let got = gbs(share);
        assert!((got / want - 1.0).abs() < 1e-3, "write share {share:?}: {got:.1} GB/s, want {want:.1}");
    }
    // A read rate at or below half the copy's is refused, naming the field.
    let mut text = include_str!("../../models/gpus/h100-sxm.toml").to_string();
    text = text.replace("read_bw_gbs = { value = 3000.0", "read_bw_gbs = { value = 1400.0");
    let err = GpuProfile::from_toml("h100-sxm.toml", &text).expect_err("refused").to_string();
    assert!(err.contains("memory.read_bw_gbs") || err.contains("read_bw_gbs"), "{err}");
}

#[test]
fn queued_kernels_start_a_gap_after_their_predecessor() {
    // Ten kernels queued at once (no host time between them, the first one's latency aside): each
    // after the first waits the stream's gap, or the graph's for a client that replays a graph.
    let mut gpu = h100();
    gpu.power.limit_w.value = 1e6;
    gpu.power.fast_limit_w.value = 1e6;
    let step_us = |gpu: &GpuProfile, graph: bool| {
        let mut c = fma_client("k", 132, 3);
        c.cuda_graph = graph;
        c.timing = Timing::CudaEvents;
        let k = &mut c.kernels[0];
        (k.per_block.flops, k.host_gap_us, k.repeat) = (1e6, Some(0.0), 10);
        let w = Workload::build(&workload(vec![c]), &Layout::whole_gpu(Sharing::Dedicated, &[None]), gpu).unwrap();
        run_checked(&w).clients[0].latency_us.unwrap().mean
    };
    let (plain, plain_graph) = (step_us(&gpu, false), step_us(&gpu, true));
    assert!((plain - plain_graph).abs() < 1e-9, "no gaps: {plain} against {plain_graph}");
    gpu.launch.stream_gap_us.value = 1.0;
    gpu.launch.graph_gap_us.value = 0.25;
    let (stream, graph) = (step_us(&gpu, false), step_us(&gpu, true));
    assert!((stream - plain - 9.0).abs() < 0.01, "stream: {stream} against {plain}");
    assert!((graph - plain - 2.25).abs() < 0.01, "graph: {graph} against {plain}");
}
