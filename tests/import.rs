//! `simgpu import`: the committed H100 traces import into scenarios that run; broken files give
//! a clear error and write nothing.

mod common;

use common::{simgpu, write};
use std::path::Path;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/import/h100");

#[test]
fn decode_trace_with_ncu_imports_as_28_layers() {
    let dir = tempfile::tempdir().unwrap();
    let trace = format!("{DATA}/qwen7b-decode-b1-eager.json.gz");
    let ncu = format!("{DATA}/qwen7b-decode-b1-eager.ncu.csv.gz");
    let (code, out, err) = simgpu(&["import", &trace, &ncu, "--host-step-us", "19445", "--out", "q.toml"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1250 kernels"), "{out}");
    assert!(out.contains("repeated 28 times"), "{out}");
    assert!(out.contains("Nsight Compute rows joined to 1250 of 1250"), "{out}");
    assert!(out.contains("traced us") && out.contains("simgpu us"), "{out}");
    let text = std::fs::read_to_string(dir.path().join("q.toml")).unwrap();
    assert!(text.contains("repeat = 28") && text.contains("[[clients.kernels.kernels]]"), "{text}");
    // The scenario runs as written, from another directory.
    let (code, out, err) = simgpu(&["run", dir.path().join("q.toml").to_str().unwrap()], Path::new("/"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nvjet_sm90"), "{out}");
}

#[test]
fn every_committed_trace_imports_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["qwen7b-decode-b16-eager", "qwen7b-decode-b1-graph", "qwen7b-prefill-1024", "bge-base-b64-s256"] {
        let trace = format!("{DATA}/{name}.json.gz");
        let out_file = format!("{name}.toml");
        let (code, out, err) = simgpu(&["import", &trace, "--out", &out_file], dir.path());
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains("WARNING: host gaps as traced"), "no step time given: {out}");
        let (code, _, err) = simgpu(&["run", &out_file, "--quiet"], dir.path());
        assert_eq!(code, 0, "{name}: {err}");
    }
}

/// Re-targeting: a client traced on the H100 runs on the H200's profile, grids as traced.
#[test]
fn an_h100_trace_runs_on_the_h200() {
    let dir = tempfile::tempdir().unwrap();
    let trace = format!("{DATA}/qwen7b-decode-b1-eager.json.gz");
    let (code, out, err) = simgpu(&["import", &trace, "--gpu", "h200", "--out", "r.toml"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("solo on h200"), "{out}");
    assert!(out.contains("on another GPU they stay so"), "{out}");
    let text = std::fs::read_to_string(dir.path().join("r.toml")).unwrap();
    assert!(text.contains("gpu = \"h200\""), "{text}");
}

#[test]
fn broken_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(format!("{DATA}/bge-base-b64-s256.json.gz")).unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&good[..]), &mut plain).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.json", plain.as_bytes()[..plain.len() / 2].to_vec(), "not a PyTorch profiler trace"),
        ("empty.json", Vec::new(), "not a PyTorch profiler trace"),
        ("nokernels.json", b"{\"traceEvents\": []}".to_vec(), "no GPU kernels"),
        ("cut.json.gz", good[..good.len() / 2].to_vec(), "cannot read"),
        ("binary.json", vec![0xff, 0xfe, 0x00, 0x01], "cannot read"),
    ];
    for (name, bytes, needle) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let (code, out, err) = simgpu(&["import", name, "--out", "o.toml"], dir.path());
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(needle), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(!dir.path().join("o.toml").exists(), "{name}: nothing written");
    }
    write(dir.path(), "t.json", &plain);
    let (code, _, err) = simgpu(&["import", "t.json", "--step", "99"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("no ProfilerStep#99") && err.contains("#3, #4"), "{err}");
    let (code, _, err) = simgpu(&["import", "t.json", "x.sqlite"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("one trace"), "{err}");
    write(dir.path(), "x.sqlite", "plain text");
    let (code, _, err) = simgpu(&["import", "x.sqlite"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("x.sqlite") && err.contains("SQLite"), "{err}");
    let (code, _, err) = simgpu(&["import", "t.json", "--host-step-us", "0"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("--host-step-us"), "{err}");
}

/// A 100 MB trace (the same events many times over) imports in one linear pass.
#[test]
fn a_large_trace_imports() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("{\"traceEvents\": [\n");
    let mut corr = 0u64;
    while text.len() < 100 << 20 {
        corr += 1;
        let ts = corr as f64 * 10.0;
        // Mostly host ops with shapes (what makes real traces large), a kernel every 100.
        text.push_str(&format!(
            "{{\"ph\": \"X\", \"cat\": \"cpu_op\", \"name\": \"aten::add\", \"ts\": {ts}, \"dur\": 3, \"args\": {{\"External id\": {corr}, \"Input Dims\": [[1, 4096], [1, 4096]], \"Input type\": [\"c10::BFloat16\", \"c10::BFloat16\"], \"flops\": 4096}}}},\n"
        ));
        if corr.is_multiple_of(100) {
            text.push_str(&format!(
                "{{\"ph\": \"X\", \"cat\": \"cuda_runtime\", \"name\": \"cudaLaunchKernel\", \"ts\": {ts}, \"dur\": 3, \"args\": {{\"correlation\": {corr}, \"External id\": {corr}}}}},\n\
                 {{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k{}\", \"ts\": {}, \"dur\": 2, \"args\": {{\"correlation\": {corr}, \"External id\": {corr}, \"grid\": [4, 1, 1], \"block\": [128, 1, 1], \"registers per thread\": 32, \"shared memory\": 0, \"stream\": 7}}}},\n",
                corr % 7,
                ts + 5.0
            ));
        }
    }
    text.push_str("{\"ph\": \"i\", \"name\": \"end\", \"ts\": 0}]}\n");
    write(dir.path(), "big.json", &text);
    let start = std::time::Instant::now();
    let (code, out, err) = simgpu(&["import", "big.json", "--gpu", "h100-sxm", "--out", "big.toml"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the whole trace"), "{out}");
    eprintln!("imported {} MB in {:.1} s", text.len() >> 20, start.elapsed().as_secs_f64());
}
