//! The metrics a case may measure, named as records and experiment files name them, and how each
//! is read off a simulated [`Report`].

use serde::{Deserialize, Serialize};
use simgpu_sim::Report;

/// One quantity of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Request latency percentiles, microseconds (as the client's `timing` measures them).
    P50Us,
    P90Us,
    P99Us,
    /// Requests (of the client's unit) per second.
    ThroughputPerS,
    /// Mean duration of one named kernel's launches, microseconds (first block to last).
    KernelMeanUs,
    /// Mean duration of all the client's kernel launches, microseconds (Nsight Systems' mean
    /// kernel duration of a process).
    MeanKernelUs,
    /// The GPU's mean board power over the window, watts (NVML's energy counter on the card).
    PowerW,
    /// The GPU's mean SM clock over the window, MHz (NVML's SM clock on the card; the clock the
    /// SMs ran at, fast limiter included, in the simulator).
    SmClockMhz,
}

/// The client name GPU metrics are measured under (the whole GPU, not one client).
pub const GPU: &str = "gpu";

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::P50Us => "p50_us",
            Metric::P90Us => "p90_us",
            Metric::P99Us => "p99_us",
            Metric::ThroughputPerS => "throughput_per_s",
            Metric::KernelMeanUs => "kernel_mean_us",
            Metric::MeanKernelUs => "mean_kernel_us",
            Metric::PowerW => "power_w",
            Metric::SmClockMhz => "sm_clock_mhz",
        }
    }

    /// Whether it measures the whole GPU rather than one client.
    pub fn of_gpu(self) -> bool {
        matches!(self, Metric::PowerW | Metric::SmClockMhz)
    }

    /// Whether it is read off the client's kernels (a trace), which no command reports.
    pub fn of_kernels(self) -> bool {
        matches!(self, Metric::KernelMeanUs | Metric::MeanKernelUs)
    }

    /// Whether a larger value is better (throughput) or worse (times).
    pub fn higher_is_better(self) -> bool {
        self == Metric::ThroughputPerS
    }
}

/// A metric of a client (and, for kernel metrics, of one of its kernels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRef {
    pub client: String,
    pub metric: Metric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

impl MetricRef {
    /// `client.metric` or `client.metric[kernel]`.
    pub fn label(&self) -> String {
        match &self.kernel {
            Some(k) => format!("{}.{}[{k}]", self.client, self.metric.as_str()),
            None => format!("{}.{}", self.client, self.metric.as_str()),
        }
    }

    /// A kernel metric names its kernel; the others do not.
    pub fn check(&self) -> Result<(), String> {
        if self.metric.of_gpu() != (self.client == GPU) {
            return Err(if self.metric.of_gpu() {
                format!("`{}` measures the whole GPU: its client is `{GPU}`", self.metric.as_str())
            } else {
                format!("`{GPU}` names the whole GPU: its metrics are `power_w` and `sm_clock_mhz`")
            });
        }
        match (self.metric, &self.kernel) {
            (Metric::KernelMeanUs, None) => Err("`kernel_mean_us` needs `kernel` (the kernel's name)".into()),
            (m, Some(_)) if m != Metric::KernelMeanUs => {
                Err(format!("`{}` is a client metric: `kernel` does not apply", m.as_str()))
            }
            _ => Ok(()),
        }
    }

    /// The value a simulated report predicts.
    pub fn read(&self, r: &Report) -> Result<f64, String> {
        let client = || {
            r.clients
                .iter()
                .find(|c| c.name == self.client)
                .ok_or_else(|| format!("scenario `{}` has no client `{}`", r.scenario, self.client))
        };
        let lat = |f: fn(&simgpu_sim::report::Percentiles) -> f64| {
            let c = client()?;
            c.latency_us.as_ref().map(f).ok_or_else(|| format!("client `{}` completed no measured request", c.name))
        };
        match self.metric {
            Metric::PowerW => Ok(r.gpu_stats.avg_power_w),
            Metric::SmClockMhz => Ok(r.gpu_stats.avg_effective_sm_clock_mhz),
            Metric::P50Us => lat(|p| p.p50),
            Metric::P90Us => lat(|p| p.p90),
            Metric::P99Us => lat(|p| p.p99),
            Metric::ThroughputPerS => Ok(client()?.throughput_per_s),
            Metric::MeanKernelUs => {
                let c = client()?;
                let (us, n) = c.kernels.iter().fold((0.0, 0u64), |(us, n), k| (us + k.total_us, n + k.completed));
                if n == 0 {
                    return Err(format!("client `{}` completed no kernel", c.name));
                }
                Ok(us / n as f64)
            }
            Metric::KernelMeanUs => {
                let c = client()?;
                let name = self.kernel.as_deref().unwrap_or_default();
                let k = c
                    .kernels
                    .iter()
                    .find(|k| k.name == name)
                    .ok_or_else(|| format!("client `{}` has no kernel `{name}`", c.name))?;
                if k.completed == 0 {
                    return Err(format!("kernel `{name}` of client `{}` never completed", c.name));
                }
                Ok(k.mean_us)
            }
        }
    }
}
