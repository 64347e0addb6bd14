//! Reading an Nsight Systems SQLite export (`nsys export --type sqlite`): kernels from
//! `CUPTI_ACTIVITY_KIND_KERNEL`, their launch calls from `CUPTI_ACTIVITY_KIND_RUNTIME` (linked
//! by `correlationId`), names from `StringIds`, and `ProfilerStep#N` ranges from `NVTX_EVENTS`
//! when the trace has them. Timestamps are nanoseconds there; the importer works in
//! microseconds. Nsight Systems records neither FLOPs nor bytes: give an Nsight Compute CSV.

use crate::torch_trace::{Step, Trace, TracedKernel};
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::Path;

fn has_table(db: &Connection, name: &str) -> Result<bool, String> {
    db.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
    .map_err(|e| e.to_string())
}

/// Reads the export at `path` (opened read-only).
pub fn read(path: &Path) -> Result<Trace, String> {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("not an SQLite file: {e}"))?;
    let err = |e: rusqlite::Error| format!("not an Nsight Systems export: {e}");
    if !has_table(&db, "CUPTI_ACTIVITY_KIND_KERNEL").map_err(|e| format!("not an SQLite file: {e}"))? {
        return Err("no CUPTI_ACTIVITY_KIND_KERNEL table: profile with `nsys profile --trace cuda`".into());
    }
    let mut names: HashMap<i64, String> = HashMap::new();
    if has_table(&db, "StringIds")? {
        let mut st = db.prepare("SELECT id, value FROM StringIds").map_err(err)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(err)?;
        for row in rows {
            let (id, v) = row.map_err(err)?;
            names.insert(id, v);
        }
    }
    let name_of = |id: i64| names.get(&id).cloned().unwrap_or_else(|| format!("string {id}"));
    let mut launches: HashMap<i64, (f64, String)> = HashMap::new();
    let mut syncs = Vec::new();
    if has_table(&db, "CUPTI_ACTIVITY_KIND_RUNTIME")? {
        let mut st = db.prepare("SELECT start, correlationId, nameId FROM CUPTI_ACTIVITY_KIND_RUNTIME").map_err(err)?;
        let rows =
            st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))).map_err(err)?;
        for row in rows {
            let (start, corr, name) = row.map_err(err)?;
            let name = name_of(name);
            // Runtime names carry a version suffix (`cudaLaunchKernel_v7000`).
            let base = name.split("_v").next().unwrap_or(&name).to_string();
            if crate::torch_trace::is_sync(&base) {
                syncs.push(start as f64 / 1e3);
            }
            launches.insert(corr, (start as f64 / 1e3, base));
        }
    }
    let mut st = db
        .prepare(
            "SELECT start, end, streamId, correlationId, demangledName, gridX, gridY, gridZ, blockX, blockY, blockZ, \
             registersPerThread, staticSharedMemory, dynamicSharedMemory FROM CUPTI_ACTIVITY_KIND_KERNEL",
        )
        .map_err(err)?;
    let rows = st
        .query_map([], |r| {
            let i = |k: usize| r.get::<_, i64>(k);
            Ok([i(0)?, i(1)?, i(2)?, i(3)?, i(4)?, i(5)?, i(6)?, i(7)?, i(8)?, i(9)?, i(10)?, i(11)?, i(12)?, i(13)?])
        })
        .map_err(err)?;
    let mut kernels = Vec::new();
    let mut unlinked = 0;
    for row in rows {
        let [start, end, stream, corr, name, gx, gy, gz, bx, by, bz, regs, smem_s, smem_d] = row.map_err(err)?;
        let Some((launch_ts, launch_call)) = launches.get(&corr).cloned() else {
            unlinked += 1;
            continue;
        };
        let dim = |x: i64| x.max(1) as u64;
        kernels.push(TracedKernel {
            full_name: name_of(name),
            grid: dim(gx).saturating_mul(dim(gy)).saturating_mul(dim(gz)),
            block: dim(bx).saturating_mul(dim(by)).saturating_mul(dim(bz)),
            regs_per_thread: regs.clamp(0, u32::MAX as i64) as u32,
            smem_bytes: (smem_s.max(0) + smem_d.max(0)) as u64,
            stream,
            gpu_ts: start as f64 / 1e3,
            dur_us: (end - start).max(0) as f64 / 1e3,
            launch_ts,
            launch_call,
            correlation: corr,
            op: None,
        });
    }
    kernels.sort_by(|a, b| a.launch_ts.total_cmp(&b.launch_ts).then(a.gpu_ts.total_cmp(&b.gpu_ts)));
    let mut steps = Vec::new();
    if has_table(&db, "NVTX_EVENTS")? {
        let mut st = db
            .prepare("SELECT start, end, text, textId FROM NVTX_EVENTS WHERE end IS NOT NULL AND end > start")
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(err)?;
        for row in rows {
            let (start, end, text, text_id) = row.map_err(err)?;
            let text = text.or_else(|| text_id.map(name_of)).unwrap_or_default();
            if let Some(n) = text.strip_prefix("ProfilerStep#").and_then(|n| n.parse().ok()) {
                steps.push(Step { number: n, ts: start as f64 / 1e3, dur: (end - start) as f64 / 1e3 });
            }
        }
    }
    steps.sort_by_key(|s| s.number);
    syncs.sort_by(f64::total_cmp);
    Ok(Trace { gpu_name: gpu_name(&db), kernels, steps, syncs, unlinked })
}

/// The GPU's name, from `TARGET_INFO_GPU` when the export has it.
fn gpu_name(db: &Connection) -> Option<String> {
    if !has_table(db, "TARGET_INFO_GPU").ok()? {
        return None;
    }
    db.query_row("SELECT name FROM TARGET_INFO_GPU LIMIT 1", [], |r| r.get::<_, String>(0)).ok()
}
