//! `--trace`: a Chrome trace (JSON object format; Perfetto opens it), streamed to the file as the
//! run goes, so memory does not grow with the trace's length.

use serde_json::json;
use simgpu_sim::trace::{GpuInfo, Recorder, Sample, Span, Track, SMS_PER_TRACK};
use simgpu_sim::Ns;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

pub struct ChromeTrace {
    out: BufWriter<File>,
    first: bool,
    /// Client names by workload index (for counter names).
    clients: BTreeMap<u32, String>,
    error: Option<std::io::Error>,
}

/// Process ids: clients share one; each GPU has one for its SM tracks and one for its counters.
const CLIENTS_PID: u32 = 1;
fn sms_pid(gpu: u32) -> u32 {
    2 + 2 * gpu
}
fn counters_pid(gpu: u32) -> u32 {
    3 + 2 * gpu
}

fn us(t: Ns) -> f64 {
    t as f64 / 1e3
}

impl ChromeTrace {
    pub fn create(tmp: &Path) -> Result<ChromeTrace, String> {
        let f = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 16, f);
        let r = out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
        let mut t = ChromeTrace { out, first: true, clients: BTreeMap::new(), error: None };
        t.keep(r);
        t.event(&json!({"name": "process_name", "ph": "M", "pid": CLIENTS_PID, "tid": 0, "args": {"name": "clients"}}));
        Ok(t)
    }

    fn keep(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    fn event(&mut self, v: &serde_json::Value) {
        if self.error.is_some() {
            return;
        }
        let sep: &[u8] = if self.first { b"" } else { b",\n" };
        self.first = false;
        let r = self.out.write_all(sep).and_then(|_| serde_json::to_writer(&mut self.out, v).map_err(Into::into));
        self.keep(r);
    }

    /// Closes the JSON document; reports the first write error, if any.
    pub fn finish(mut self) -> Result<(), String> {
        let r =
            self.out.write_all(b"\n]}\n").and_then(|_| self.out.flush()).and_then(|_| self.out.get_ref().sync_all());
        self.keep(r);
        match self.error {
            None => Ok(()),
            Some(e) => Err(format!("trace: {e}")),
        }
    }
}

impl Recorder for ChromeTrace {
    fn gpu(&mut self, info: &GpuInfo) {
        let g = info.index;
        self.event(&json!({"name": "process_name", "ph": "M", "pid": sms_pid(g), "tid": 0,
            "args": {"name": format!("GPU {g} SM groups")}}));
        self.event(&json!({"name": "process_name", "ph": "M", "pid": counters_pid(g), "tid": 0,
            "args": {"name": format!("GPU {g}")}}));
        for (i, name) in &info.clients {
            self.clients.insert(*i, name.clone());
            self.event(
                &json!({"name": "thread_name", "ph": "M", "pid": CLIENTS_PID, "tid": i, "args": {"name": name}}),
            );
        }
        for t in 0..(info.n_sms as usize).div_ceil(SMS_PER_TRACK) {
            let hi = ((t + 1) * SMS_PER_TRACK).min(info.n_sms as usize) - 1;
            let name = format!("SMs {}-{}", t * SMS_PER_TRACK, hi);
            self.event(&json!({"name": "thread_name", "ph": "M", "pid": sms_pid(g), "tid": t, "args": {"name": name}}));
        }
    }

    fn span(&mut self, gpu: u32, s: &Span<'_>) {
        let (pid, tid, mut args) = match s.track {
            Track::Client(c) => (CLIENTS_PID, c, json!({"blocks": s.blocks, "gpu": gpu})),
            Track::Sms(t) => (sms_pid(gpu), t, json!({"sms": s.sms, "blocks_per_sm": s.blocks})),
        };
        if !s.done {
            args["unfinished"] = json!(true);
        }
        self.event(&json!({"name": s.kernel, "ph": "X", "pid": pid, "tid": tid, "ts": us(s.start),
            "dur": us(s.end - s.start), "args": args}));
    }

    fn sample(&mut self, gpu: u32, what: Sample, t: Ns, value: f64) {
        let (name, key) = match what {
            Sample::ClientSms(c) => (format!("SMs {}", self.clients.get(&c).map(String::as_str).unwrap_or("?")), "sms"),
            Sample::PowerW => ("power".to_string(), "watts"),
            Sample::ClockMhz => ("SM clock".to_string(), "MHz"),
        };
        self.event(
            &json!({"name": name, "ph": "C", "pid": counters_pid(gpu), "tid": 0, "ts": us(t), "args": {key: value}}),
        );
    }

    fn end(&mut self, _gpu: u32, _t: Ns) {}
}
