//! `--plot`: keeps the step functions a chart needs (SMs per client, power and clock per GPU) in
//! bounded memory. Past `MAX_POINTS` a series halves its resolution, merging neighbours into
//! their time-weighted average, so a long run costs no more memory than a short one.

use simgpu_sim::trace::{GpuInfo, Recorder, Sample, Span};
use simgpu_sim::Ns;

const MAX_POINTS: usize = 4096;

/// A step function: each value holds from its time to the next point's.
#[derive(Debug, Clone, Default)]
pub struct Steps {
    pub name: String,
    pub points: Vec<(Ns, f64)>,
}

impl Steps {
    fn new(name: String) -> Steps {
        Steps { name, points: Vec::new() }
    }

    fn push(&mut self, t: Ns, v: f64) {
        match self.points.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            Some(last) if last.1 == v => {}
            _ => self.points.push((t, v)),
        }
        if self.points.len() > MAX_POINTS {
            self.halve();
        }
    }

    /// Merges pairs of steps into their time-weighted average (the last point stays).
    fn halve(&mut self) {
        let p = &self.points;
        let mut out = Vec::with_capacity(p.len() / 2 + 2);
        let mut i = 0;
        while i + 2 < p.len() {
            let (t0, v0) = p[i];
            let (t1, v1) = p[i + 1];
            let t2 = p[i + 2].0;
            let span = (t2 - t0).max(1) as f64;
            out.push((t0, (v0 * (t1 - t0) as f64 + v1 * (t2 - t1) as f64) / span));
            i += 2;
        }
        out.extend_from_slice(&p[i..]);
        self.points = out;
    }
}

#[derive(Default)]
pub struct PlotRecorder {
    pub clients: Vec<(u32, Steps)>,
    pub power: Vec<Steps>,
    pub clock: Vec<Steps>,
    pub total_sms: u32,
    pub end: Ns,
}

impl PlotRecorder {
    fn client(&mut self, c: u32) -> Option<&mut Steps> {
        self.clients.iter_mut().find(|(i, _)| *i == c).map(|(_, s)| s)
    }
}

impl Recorder for PlotRecorder {
    fn gpu(&mut self, info: &GpuInfo) {
        self.total_sms += info.n_sms;
        for (i, name) in &info.clients {
            self.clients.push((*i, Steps::new(name.clone())));
        }
        self.clients.sort_by_key(|(i, _)| *i);
        let label = |what: &str| if info.index == 0 { what.to_string() } else { format!("{what} GPU {}", info.index) };
        self.power.push(Steps::new(label("power")));
        self.clock.push(Steps::new(label("clock")));
    }

    fn span(&mut self, _gpu: u32, _span: &Span<'_>) {}

    fn sample(&mut self, gpu: u32, what: Sample, t: Ns, value: f64) {
        let g = gpu as usize;
        match what {
            Sample::ClientSms(c) => {
                if let Some(s) = self.client(c) {
                    s.push(t, value);
                }
            }
            Sample::PowerW => self.power[g].push(t, value),
            Sample::ClockMhz => self.clock[g].push(t, value),
        }
    }

    fn end(&mut self, _gpu: u32, t: Ns) {
        self.end = self.end.max(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_stay_bounded_and_keep_their_average() {
        let mut s = Steps::new("x".into());
        for i in 0..100_000u64 {
            s.push(i * 10, (i % 2) as f64);
        }
        assert!(s.points.len() <= MAX_POINTS);
        let inner = &s.points[..s.points.len() - 1];
        let avg = inner.iter().map(|p| p.1).sum::<f64>() / inner.len() as f64;
        assert!((avg - 0.5).abs() < 0.01, "{avg}");
    }
}
