//! `simgpu validate`'s pure half: what an experiment is, what a measurement record holds, and
//! how predictions are scored against measurements. No GPU and no file I/O here: the CLI reads
//! the files and simulates the cases; running cases on a card belongs to the GPU harness.
//!
//! | module | what |
//! |---|---|
//! | [`experiment`] | experiment files (TOML): cases, each a scenario and what to measure; sharing choices |
//! | [`record`] | measurement records (JSONL): one line per case run on a card, with provenance |
//! | [`metric`] | the metrics a case may measure, and how each is read off a simulated report |
//! | [`replay_plan`] | a scenario's client as the kernel replayer runs it: units, words, residency, gaps |
//! | [`score`] | measured against predicted: relative error per metric, MAPE, choices agreed |
//! | [`seeds`] | a seed document's published figures beside the predictions for the scenarios restating them |

pub mod experiment;
pub mod metric;
pub mod record;
pub mod replay_plan;
pub mod score;
pub mod seeds;

pub use experiment::{Case, Choice, ClientRun, Experiment};
pub use metric::{Metric, MetricRef};
pub use record::{Measured, Provenance, Record};
pub use score::{score, score_experiment, ExperimentScore, Scores};
