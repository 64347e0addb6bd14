//! The Nsight Systems reader on a small export built here to the documented schema (Nsight
//! Systems is not installed on this project's GPU machines, so no real export was read).

use rusqlite::Connection;
use simgpu_import::{import_trace, nsys_sqlite, Options, StepChoice};

fn build(path: &std::path::Path) {
    let db = Connection::open(path).unwrap();
    db.execute_batch(
        "CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INT NOT NULL, end INT NOT NULL, eventClass INT NOT NULL,
           globalTid INT, correlationId INT, nameId INT NOT NULL, returnValue INT NOT NULL);
         CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INT NOT NULL, end INT NOT NULL, deviceId INT NOT NULL,
           contextId INT NOT NULL, streamId INT NOT NULL, correlationId INT, globalPid INT, demangledName INT NOT NULL,
           shortName INT NOT NULL, gridX INT NOT NULL, gridY INT NOT NULL, gridZ INT NOT NULL, blockX INT NOT NULL,
           blockY INT NOT NULL, blockZ INT NOT NULL, staticSharedMemory INT NOT NULL, dynamicSharedMemory INT NOT NULL,
           localMemoryPerThread INT NOT NULL, localMemoryTotal INT NOT NULL, gridId INT NOT NULL,
           sharedMemoryExecuted INT NOT NULL, registersPerThread INT NOT NULL);
         CREATE TABLE NVTX_EVENTS (start INT NOT NULL, end INT, eventType INT NOT NULL, rangeId INT, category INT,
           color INT, text TEXT, globalTid INT, endGlobalTid INT, textId INT, domainId INT, uint64Value INT,
           int64Value INT, doubleValue REAL, uint32Value INT, int32Value INT, floatValue REAL, jsonTextId INT, jsonText TEXT);
         CREATE TABLE TARGET_INFO_GPU (id INT, name TEXT);
         INSERT INTO StringIds VALUES (1, 'cudaLaunchKernel_v7000'), (2, 'void rmsnorm<bf16>(float*)'),
           (3, 'sm90_gemm_bf16'), (4, 'cudaDeviceSynchronize_v3020'), (5, 'embed');
         INSERT INTO TARGET_INFO_GPU VALUES (0, 'NVIDIA H100 80GB HBM3');",
    )
    .unwrap();
    // Two steps of: embed, then 3 layers of (rmsnorm, gemm), then a sync. Times in ns.
    let mut corr = 0;
    for step in 0..2i64 {
        let t0 = 1_000_000 + step * 1_000_000;
        db.execute(
            "INSERT INTO NVTX_EVENTS (start, end, eventType, text) VALUES (?1, ?2, 59, ?3)",
            rusqlite::params![t0, t0 + 900_000, format!("ProfilerStep#{}", step + 1)],
        )
        .unwrap();
        let mut t = t0 + 5_000;
        let mut launch = |name: i64, grid: i64, regs: i64, t: i64| {
            corr += 1;
            db.execute(
                "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?1, ?2, 1, 1, ?3, 1, 0)",
                rusqlite::params![t, t + 3_000, corr],
            )
            .unwrap();
            db.execute(
                "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (?1, ?2, 0, 1, 7, ?3, 1, ?4, ?4, ?5, 1, 1, 128, 1, 1, 0, 4096, 0, 0, 0, 0, ?6)",
                rusqlite::params![t + 8_000, t + 12_000, corr, name, grid, regs],
            )
            .unwrap();
        };
        launch(5, 28, 32, t);
        for _ in 0..3 {
            t += 20_000;
            launch(2, 1, 24, t);
            t += 20_000;
            launch(3, 132, 168, t);
        }
        db.execute(
            "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?1, ?2, 1, 1, 999, 4, 0)",
            rusqlite::params![t + 10_000, t + 50_000],
        )
        .unwrap();
    }
}

#[test]
fn reads_kernels_launches_steps_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    build(&path);
    let t = nsys_sqlite::read(&path).unwrap();
    assert_eq!(t.kernels.len(), 14);
    assert_eq!(t.steps.len(), 2);
    assert_eq!(t.gpu_name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(t.kernels[1].launch_call, "cudaLaunchKernel");
    assert_eq!(t.kernels[1].smem_bytes, 4096);
    let opts = Options { step: StepChoice::Auto, host_step_us: None, name: "n".into() };
    let im = import_trace(t, None, &opts).unwrap();
    assert_eq!(im.step_label, "ProfilerStep#2");
    assert_eq!(im.kernels_in_step, 7);
    let c = &im.client;
    assert_eq!(c.groups.len(), 1);
    assert_eq!((c.groups[0].first, c.groups[0].len, c.groups[0].repeat), (1, 2, 3));
    // Launch calls 20 us apart; the first 5 us after the step's start.
    assert_eq!(c.kernels[0].host_gap_us, Some(5.0));
    assert_eq!(c.kernels[1].host_gap_us, Some(20.0));
    assert_eq!(c.kernels[0].name, "embed");
    assert_eq!(c.kernels[1].name, "rmsnorm");
    assert!(c.kernels.last().unwrap().sync, "the step ends in a synchronisation");
    assert!((im.traced_us[2] - 4.0).abs() < 1e-9);
}

#[test]
fn not_an_export_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, b"not a database at all, just text").unwrap();
    assert!(nsys_sqlite::read(&junk).unwrap_err().contains("SQLite"));
    let empty = dir.path().join("empty.sqlite");
    Connection::open(&empty).unwrap().execute_batch("CREATE TABLE x (a INT);").unwrap();
    assert!(nsys_sqlite::read(&empty).unwrap_err().contains("CUPTI_ACTIVITY_KIND_KERNEL"));
}
