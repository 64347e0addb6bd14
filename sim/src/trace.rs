//! Optional recording of what happened, for `--trace` (Chrome trace JSON, opens in Perfetto) and
//! `--plot`. Recording is off unless asked for, so it costs nothing in benchmarks.

use crate::event_queue::Ns;
use serde::Serialize;

/// SMs per trace track: one track per slice of the GPU (about a GPC).
pub const SMS_PER_TRACK: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Client(u32),
    Sms(u32),
}

#[derive(Debug, Clone)]
pub struct Span {
    pub track: Track,
    pub kernel: u32,
    pub start: Ns,
    pub end: Ns,
    /// SMs and blocks per SM (SM-track spans), or blocks (client-track spans).
    pub sms: u32,
    pub blocks: u64,
}

/// Step-function samples over time.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    pub points: Vec<(Ns, f64)>,
}

impl Series {
    pub fn push(&mut self, t: Ns, v: f64) {
        match self.points.last_mut() {
            Some(last) if last.1 == v => {}
            Some(last) if last.0 == t => last.1 = v,
            _ => self.points.push((t, v)),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub client_names: Vec<String>,
    pub kernel_names: Vec<String>,
    pub n_sms: u32,
    pub spans: Vec<Span>,
    /// SMs occupied by each client (only while its context runs).
    pub client_sms: Vec<Series>,
    pub power_w: Series,
    pub clock_mhz: Series,
    pub end: Ns,
}

#[derive(Serialize)]
struct TraceEvent<'a> {
    name: &'a str,
    ph: &'static str,
    pid: u32,
    tid: u32,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<serde_json::Value>,
}

impl Recording {
    /// Chrome trace events (the JSON array format's objects), in microseconds.
    pub fn chrome_events(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let meta = |pid: u32, tid: Option<u32>, name: String| {
            let (ev, tid) = match tid {
                Some(t) => ("thread_name", t),
                None => ("process_name", 0),
            };
            serde_json::json!({"name": ev, "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
        };
        out.push(meta(1, None, "clients".into()));
        out.push(meta(2, None, "SM groups".into()));
        out.push(meta(3, None, "GPU".into()));
        for (i, n) in self.client_names.iter().enumerate() {
            out.push(meta(1, Some(i as u32), n.clone()));
        }
        let tracks = (self.n_sms as usize).div_ceil(SMS_PER_TRACK);
        for t in 0..tracks {
            let hi = ((t + 1) * SMS_PER_TRACK).min(self.n_sms as usize) - 1;
            out.push(meta(2, Some(t as u32), format!("SMs {}-{}", t * SMS_PER_TRACK, hi)));
        }
        for s in &self.spans {
            let (pid, tid, args) = match s.track {
                Track::Client(c) => (1, c, serde_json::json!({"blocks": s.blocks})),
                Track::Sms(t) => (2, t, serde_json::json!({"sms": s.sms, "blocks_per_sm": s.blocks})),
            };
            let name = self.kernel_names.get(s.kernel as usize).map(String::as_str).unwrap_or("?");
            let ev = TraceEvent {
                name,
                ph: "X",
                pid,
                tid,
                ts: s.start as f64 / 1e3,
                dur: Some((s.end - s.start) as f64 / 1e3),
                args: Some(args),
            };
            out.push(serde_json::to_value(ev).unwrap_or_default());
        }
        let counter = |out: &mut Vec<serde_json::Value>, name: &str, key: &str, s: &Series| {
            for &(t, v) in &s.points {
                out.push(serde_json::json!({"name": name, "ph": "C", "pid": 3, "tid": 0, "ts": t as f64 / 1e3, "args": {key: v}}));
            }
        };
        for s in &self.client_sms {
            counter(&mut out, &format!("SMs {}", s.name), "sms", s);
        }
        counter(&mut out, "power", "watts", &self.power_w);
        counter(&mut out, "SM clock", "MHz", &self.clock_mhz);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_drops_repeats_and_overwrites_same_time() {
        let mut s = Series::default();
        s.push(0, 1.0);
        s.push(5, 1.0);
        s.push(5, 2.0);
        s.push(5, 3.0);
        s.push(9, 4.0);
        assert_eq!(s.points, vec![(0, 1.0), (5, 3.0), (9, 4.0)]);
    }

    #[test]
    fn chrome_events_have_metadata_and_spans() {
        let r = Recording {
            client_names: vec!["a".into()],
            kernel_names: vec!["k".into()],
            n_sms: 20,
            spans: vec![Span { track: Track::Client(0), kernel: 0, start: 1000, end: 3000, sms: 0, blocks: 4 }],
            ..Recording::default()
        };
        let ev = r.chrome_events();
        let text = serde_json::to_string(&ev).unwrap();
        assert!(text.contains("\"SMs 16-19\""));
        assert!(text.contains("\"dur\":2.0"));
    }
}
