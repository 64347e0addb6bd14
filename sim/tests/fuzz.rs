//! Fuzz campaign over the scenario grammar and the GPU-profile grammar, with extreme values.
//!
//! Three families of properties:
//! 1. generated scenario text: grammatical TOML with every field of the format, whose values mix
//!    ordinary ones with extremes (0, -1, 1e-12, 1e308, f64::MAX, nan, inf, 2^31-1, 2^32-1, 2^40,
//!    2^63, u64::MAX, huge grid lists, empty and long strings). Parsing and binding never panic;
//!    errors carry a message and, when they name a field, a real field path of the format; valid
//!    scenarios run for a bounded number of events with the engine's invariants holding and
//!    simulated time monotone and within the horizon. A second property draws only extremes the
//!    format accepts, so that they reach the engine;
//! 2. valid scenarios whose host times and horizons reach the bounds of `simgpu_sim::spec`: time
//!    never wraps (a think time beyond the horizon is not cut to zero);
//! 3. the bundled H100 profile with one parameter replaced by an extreme value: the profile parser
//!    never panics, its errors name real fields, and an accepted profile binds and runs a small
//!    scenario with the same checks as 1.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's default, 256, when the variable is
//! unset; about 3 s in all in release). A longer campaign:
//!
//! ```text
//! PROPTEST_CASES=5000 cargo test --release -p simgpu-sim --test fuzz
//! ```
//!
//! Failures are not written to a regressions file; a failing case is printed, shrunk, in the test
//! output. Bugs the campaign found are at the end of the file, with their regression tests.

use proptest::prelude::*;
use proptest::sample::Index;
use simgpu_sim::spec::{MAX_DURATION_S, MAX_HOST_US, MIN_DURATION_S};
use simgpu_sim::{Engine, GpuProfile, InputError, Report, Scenario, Workload};

/// Most engine events one case runs.
const MAX_STEPS: u32 = 20_000;

const H100: &str = include_str!("../../models/gpus/h100-sxm.toml");

fn h100() -> GpuProfile {
    GpuProfile::from_toml("h100-sxm.toml", H100).expect("bundled profile parses")
}

/// Cases from `PROPTEST_CASES` (256 when unset); no regression files are written.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// Extreme numbers as TOML literals. Many do not fit the field they land in (a float in an
/// integer field, -1 or 2^32 in a u32, 2^63 and u64::MAX beyond TOML's i64 integers); the parser
/// must turn those into errors.
fn extreme_numbers() -> Vec<String> {
    let mut v: Vec<String> = [
        "0",
        "-1",
        "-5",
        "0.0",
        "-0.0",
        "1e-12",
        "-1e-12",
        "5e-324",
        "1e17",
        "1.8e16",
        "1e308",
        "-1e308",
        "nan",
        "+nan",
        "-nan",
        "inf",
        "+inf",
        "-inf",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "1099511627776",
        "1099511627777",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551615",
        "9.223372036854776e18",
        "1.8446744073709552e19",
        "1e6",
        "1000000",
        "1000001",
        "1e12",
        "1000000000000.0001",
        "1e15",
        "0x7fffffff",
        "1_000_000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("{:e}", f64::MAX));
    v.push(format!("{:e}", -f64::MAX));
    v.push(format!("{:e}", f64::MIN_POSITIVE));
    v.push((u32::MAX as u64).to_string());
    v.push(((1u64 << 40) - 1).to_string());
    v
}

/// Grids and blocks: extreme counts and lists (empty, too long, huge, overflowing).
fn extreme_dims() -> Vec<String> {
    let ones = |n: usize| format!("[{}]", vec!["1"; n].join(", "));
    let mut v = extreme_numbers();
    v.extend(
        [
            "[]",
            "[0]",
            "[1, 0, 1]",
            "[-1]",
            "[1, -1]",
            "[1, 1, 1, 1]",
            "[2147483647, 2147483647, 2147483647]",
            "[4294967295, 4294967295]",
            "[65535, 65535, 65535]",
            "[1048576, 1048576]",
            "[1048576, 1048577]",
            "[1024, 1024, 1024]",
            "[1099511627776]",
            "[1099511627777]",
            "[18446744073709551615]",
            "[9223372036854775807, 2]",
            "[1.5]",
            "[nan]",
            "[[1]]",
            "[\"1\"]",
            "[32, 32]",
            "[1025]",
            "[2048, 1, 1]",
            "[65536, 65536]",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v.push(ones(3));
    v.push(ones(50_000));
    v
}

/// A TOML basic string holding `s`.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn extreme_strings() -> Vec<String> {
    [
        String::new(),
        " ".into(),
        "\t".into(),
        "\n".into(),
        "\u{0}".into(),
        "x".repeat(10_000),
        "名前 ✓ ünïcödé".into(),
        "a\"b\\c".into(),
        "clients[0].name".into(),
        "`tick`".into(),
        "dedicated".into(),
        "MPS".into(),
        "host ".into(),
        "fp64".into(),
    ]
    .iter()
    .map(|s| toml_str(s))
    .chain(["0", "-1", "true", "nan", "[]", "1e308"].iter().map(|s| s.to_string()))
    .collect()
}

/// A field's value: an ordinary literal, an extreme one, and the roll that picks between them
/// (extreme when `roll < chaos`).
#[derive(Clone)]
struct Lit {
    roll: u8,
    ordinary: String,
    extreme: String,
}

impl Lit {
    fn pick(&self, chaos: u8) -> &str {
        if self.roll < chaos {
            &self.extreme
        } else {
            &self.ordinary
        }
    }
}

impl std::fmt::Debug for Lit {
    // Shortened: a failing case's input is printed, and some extremes are 100 kB long.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lit({}, {}, {})", self.roll, shorten(&self.ordinary), shorten(&self.extreme))
    }
}

fn lit(ordinary: impl Strategy<Value = String> + 'static, extreme: Vec<String>) -> BoxedStrategy<Lit> {
    (0u8..100, ordinary, prop::sample::select(extreme))
        .prop_map(|(roll, ordinary, extreme)| Lit { roll, ordinary, extreme })
        .boxed()
}

fn float(r: std::ops::Range<f64>) -> impl Strategy<Value = String> {
    r.prop_map(|x| format!("{x:?}"))
}
fn int(r: std::ops::Range<u64>) -> impl Strategy<Value = String> {
    r.prop_map(|x| x.to_string())
}
fn word(words: &[&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(words.to_vec()).prop_map(toml_str)
}

/// `key = value` lines of one table, in order.
type Fields = Vec<(&'static str, Lit)>;

enum F {
    /// Always written.
    Required(&'static str, BoxedStrategy<Lit>),
    /// Written with this probability.
    Optional(&'static str, f64, BoxedStrategy<Lit>),
    /// Two fields that exclude each other: mostly one or none, rarely both.
    OneOf(&'static str, &'static str, BoxedStrategy<Lit>, BoxedStrategy<Lit>),
}

/// The fields of one table; `both` allows the rare case of two exclusive fields together.
fn fields(both: bool, spec: Vec<F>) -> BoxedStrategy<Fields> {
    let parts: Vec<BoxedStrategy<Fields>> = spec
        .into_iter()
        .map(|f| match f {
            F::Required(k, s) => s.prop_map(move |l| vec![(k, l)]).boxed(),
            F::Optional(k, p, s) => {
                prop::option::weighted(p, s).prop_map(move |l| l.map(|l| (k, l)).into_iter().collect()).boxed()
            }
            F::OneOf(a, b, sa, sb) => (0u8..20, sa, sb)
                .prop_map(move |(which, la, lb)| match which {
                    0 if both => vec![(a, la), (b, lb)],
                    0..=6 => vec![],
                    7..=13 => vec![(a, la)],
                    _ => vec![(b, lb)],
                })
                .boxed(),
        })
        .collect();
    parts.prop_map(|v| v.into_iter().flatten().collect()).boxed()
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct GenClient {
    fields: Fields,
    mps_pct: Lit,
    kernels: Vec<Fields>,
}

#[derive(Debug, Clone)]
struct GenScenario {
    /// Extremes of every kind (false: only extremes the format accepts).
    wild: bool,
    /// Percent chance of each field taking its extreme value.
    chaos: u8,
    top: Fields,
    sharing: Lit,
    clients: Vec<GenClient>,
}

const SHARINGS: &[&str] = &["dedicated", "streams", "timeslice", "mps"];
const OPS: &[&str] = &["fp32", "fp16_tensor", "bf16_tensor", "fp8_tensor", "int32"];

/// Which extremes a generator draws: all of them, or only those the format accepts
/// (the values at and near its bounds), so that the engine sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Wild,
    ValidExtremes,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Mode {
    fn num(self, ordinary: impl Strategy<Value = String> + 'static, valid: &[&str]) -> BoxedStrategy<Lit> {
        lit(ordinary, if self == Mode::Wild { extreme_numbers() } else { strings(valid) })
    }
    fn dims(self, ordinary: impl Strategy<Value = String> + 'static, valid: &[&str]) -> BoxedStrategy<Lit> {
        lit(ordinary, if self == Mode::Wild { extreme_dims() } else { strings(valid) })
    }
    fn text(self, ordinary: impl Strategy<Value = String> + 'static, valid: &[&str]) -> BoxedStrategy<Lit> {
        let valid = valid.iter().map(|s| toml_str(s)).collect();
        lit(ordinary, if self == Mode::Wild { extreme_strings() } else { valid })
    }
}

/// The largest finite f64.
const F64_MAX: &str = "1.7976931348623157e308";
/// The smallest positive f64 (subnormal).
const F64_TINY: &str = "5e-324";
/// The smallest normal f64.
const F64_MIN_NORMAL: &str = "2.2250738585072014e-308";
/// Valid extremes of a work figure (FLOPs, bytes, instructions).
const WORK: &[&str] = &["0", "0.0", "1e-12", F64_TINY, "1e17", "1.8e16", "1e308", F64_MAX];
/// Valid extremes of a host time in microseconds.
const HOST_US: &[&str] = &["0", "0.0", "1e-12", F64_TINY, "0.0004", "0.0005", "1e12", "999999999999.9999"];
/// Valid extremes of a name.
const NAMES: &[&str] = &["名前 ✓", "a\"b\\c", " x ", "clients[0].kernels[0].name", "`tick`"];

fn kernel_fields(m: Mode) -> BoxedStrategy<Fields> {
    let grid = prop_oneof![
        int(1..2000),
        (1u64..40, 1u64..8, 1u64..4).prop_map(|(x, y, z)| format!("[{x}, {y}, {z}]")),
        (1u64..100, 1u64..8).prop_map(|(x, y)| format!("[{x}, {y}]")),
    ];
    let block = prop_oneof![
        prop::sample::select(vec![32u64, 64, 96, 128, 256, 512, 1024]).prop_map(|b| b.to_string()),
        (prop::sample::select(vec![8u64, 16, 32]), 1u64..9).prop_map(|(x, y)| format!("[{x}, {y}]")),
        (1u64..1025).prop_map(|b| format!("[{b}, 1, 1]")),
    ];
    let valid_grid = &[
        "1",
        "[1]",
        "[1, 1, 1]",
        "2147483647",
        "4294967295",
        "1099511627776",
        "[1048576, 1048576]",
        "[1024, 1024, 1024]",
        "[4294967295, 256]",
        "[2147483647, 512]",
    ];
    let work = |ord: std::ops::Range<f64>| m.num(float(ord), WORK);
    let long = "k".repeat(10_000);
    let names: Vec<&str> = NAMES.iter().copied().chain([long.as_str()]).collect();
    fields(
        m == Mode::Wild,
        vec![
            F::Required("name", m.text((0u32..100).prop_map(|i| toml_str(&format!("k{i}"))), &names)),
            F::Required("grid", m.dims(grid, valid_grid)),
            F::Required("block", m.dims(block, &["1", "[1, 1, 1]", "1024", "[32, 32]", "[1024]", "[1, 1, 1024]"])),
            F::Required("regs_per_thread", m.num(int(16..65), &["1", "8", "64"])),
            F::Optional("smem_bytes", 0.5, m.num(int(0..100_000), &["0", "232448"])),
            F::OneOf("flops", "flops_per_block", work(1e3..1e10), work(1e3..1e8)),
            F::OneOf("dram_bytes", "dram_bytes_per_block", work(0.0..1e8), work(0.0..1e6)),
            F::OneOf("instructions", "instructions_per_block", work(0.0..1e7), work(0.0..1e5)),
            F::Optional("op", 0.5, m.text(word(OPS), OPS)),
            F::Optional("host_gap_us", 0.5, m.num(float(0.0..50.0), HOST_US)),
            F::Optional(
                "sync",
                0.3,
                lit(
                    any::<bool>().prop_map(|b| b.to_string()),
                    if m == Mode::Wild { strings(&["1", "\"true\""]) } else { strings(&["true"]) },
                ),
            ),
            F::Optional("repeat", 0.3, m.num(int(1..4), &["1", "1000000", "999999"])),
        ],
    )
}

fn client(m: Mode) -> impl Strategy<Value = GenClient> {
    let f = fields(
        m == Mode::Wild,
        vec![
            // Replaced by a unique name when ordinary.
            F::Required("name", m.text(Just(String::new()), NAMES)),
            F::Optional(
                "requests",
                0.7,
                m.num(int(3..30), &["1", "2", "4294967296", "9223372036854775807", "18446744073709551615"]),
            ),
            F::Optional("warmup_requests", 0.3, m.num(int(0..3), &["0"])),
            F::OneOf(
                "think_us",
                "arrival_rate_per_s",
                m.num(float(0.0..2000.0), HOST_US),
                m.num(float(100.0..1e5), &["1e6", "999999.9", F64_TINY, "1e-12", F64_MIN_NORMAL]),
            ),
            F::Optional("timing", 0.5, m.text(word(&["host", "cuda_events"]), &["host", "cuda_events"])),
            F::Optional("unit", 0.3, m.text(word(&["tokens", "images", "requests"]), &["", "x", "名前"])),
            F::Optional("units_per_request", 0.3, m.num(float(0.5..100.0), &[F64_TINY, "1e-12", "1e308", F64_MAX])),
        ],
    );
    let pct = m.num(float(1.0..100.0), &["100", "100.0", F64_TINY, "1e-12", "0.1", "1.5", "99.9999"]);
    (f, pct, prop::collection::vec(kernel_fields(m), 1..=4)).prop_map(|(fields, mps_pct, kernels)| GenClient {
        fields,
        mps_pct,
        kernels,
    })
}

fn scenario_gen(m: Mode) -> impl Strategy<Value = GenScenario> {
    let chaos = match m {
        Mode::Wild => {
            prop_oneof![3 => Just(0u8), 3 => Just(3u8), 2 => Just(15u8), 1 => Just(50u8), 1 => Just(100u8)].boxed()
        }
        Mode::ValidExtremes => prop_oneof![Just(10u8), Just(30u8), Just(60u8), Just(100u8)].boxed(),
    };
    let top = fields(
        m == Mode::Wild,
        vec![
            F::Optional("name", 0.3, m.text(word(&["fuzz", "a b"]), &["", "名前", "a\"b"])),
            F::Optional("description", 0.3, m.text(word(&["generated"]), &["", "\n\n"])),
            F::Required("gpu", m.text(word(&["h100-sxm"]), &["h100-sxm"])),
            F::Optional("seed", 0.5, m.num(int(0..1000), &["0", "9223372036854775807", "18446744073709551615"])),
            F::Optional("duration_s", 0.7, m.num(float(1e-4..0.5), &["1e-6", "1.0000001e-6", "1e6", "999999.999"])),
        ],
    );
    let sharing = m.text(word(SHARINGS), SHARINGS);
    let wild = m == Mode::Wild;
    (chaos, top, sharing, prop::collection::vec(client(m), 1..=4))
        .prop_map(move |(chaos, top, sharing, clients)| GenScenario { wild, chaos, top, sharing, clients })
}

fn render(s: &GenScenario) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: &str| {
        out.push_str(k);
        out.push_str(" = ");
        out.push_str(v);
        out.push('\n');
    };
    for (k, l) in &s.top {
        line(&mut out, k, l.pick(s.chaos));
    }
    let sharing = s.sharing.pick(s.chaos);
    line(&mut out, "sharing", sharing);
    let mps = sharing == "\"mps\"";
    for (ci, c) in s.clients.iter().enumerate() {
        out.push_str("\n[[clients]]\n");
        for (k, l) in &c.fields {
            if *k == "name" && l.roll >= s.chaos {
                line(&mut out, k, &toml_str(&format!("c{ci}")));
            } else if *k == "name" && !s.wild {
                // A valid extreme name, made unique: `"名前 ✓"` becomes `"名前 ✓0"`.
                let v = l.pick(s.chaos);
                line(&mut out, k, &format!("{}{ci}\"", &v[..v.len() - 1]));
            } else {
                line(&mut out, k, l.pick(s.chaos));
            }
        }
        // Only MPS takes a percentage; elsewhere it appears as an extreme (an error).
        if (mps && c.mps_pct.roll % 2 == 0) || (s.wild && c.mps_pct.roll < s.chaos) {
            line(&mut out, "mps_thread_percentage", c.mps_pct.pick(s.chaos));
        }
        for k in &c.kernels {
            out.push_str("\n[[clients.kernels]]\n");
            for (key, l) in k {
                line(&mut out, key, l.pick(s.chaos));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

const TOP_FIELDS: &[&str] = &["name", "description", "gpu", "sharing", "seed", "duration_s", "clients"];
const CLIENT_FIELDS: &[&str] = &[
    "name",
    "requests",
    "warmup_requests",
    "think_us",
    "arrival_rate_per_s",
    "timing",
    "unit",
    "units_per_request",
    "mps_thread_percentage",
    "kernels",
];
const KERNEL_FIELDS: &[&str] = &[
    "name",
    "grid",
    "block",
    "regs_per_thread",
    "smem_bytes",
    "flops",
    "flops_per_block",
    "dram_bytes",
    "dram_bytes_per_block",
    "instructions",
    "instructions_per_block",
    "op",
    "host_gap_us",
    "sync",
    "repeat",
];

/// `name` or `name[3]`: the name and the index. Names are `[a-z_]+` (scenario fields) or, with
/// `digits`, `[a-z0-9_]+` (profile parameters such as `fp32_flops_per_clk`).
fn segment(s: &str, digits: bool) -> Option<(&str, Option<usize>)> {
    let (name, index) = match s.split_once('[') {
        Some((n, rest)) => {
            let digits = rest.strip_suffix(']')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (n, Some(digits.parse().ok()?))
        }
        None => (s, None),
    };
    let ok = |b: u8| b.is_ascii_lowercase() || b == b'_' || (digits && b.is_ascii_digit());
    (!name.is_empty() && name.bytes().all(ok)).then_some((name, index))
}

/// A field path of the scenario format: matches `^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$`, its
/// last segment is a field name of the format, and its indices (`clients[i].kernels[j]`) exist.
/// `shape[i]` is the kernel count of client i.
fn check_field_path(field: &str, shape: &[usize]) -> Result<(), String> {
    let segs: Vec<(&str, Option<usize>)> = field
        .split('.')
        .map(|x| segment(x, false))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("`{field}` is not a field path"))?;
    let (last, _) = *segs.last().expect("split gives one segment at least");
    let known = TOP_FIELDS.contains(&last) || CLIENT_FIELDS.contains(&last) || KERNEL_FIELDS.contains(&last);
    if !known {
        return Err(format!("`{field}`: `{last}` is not a field of the scenario format"));
    }
    if let Some(&("clients", Some(ci))) = segs.first() {
        let kernels = shape.get(ci).ok_or_else(|| format!("`{field}`: there is no client {ci}"))?;
        if let Some(&("kernels", Some(ki))) = segs.get(1) {
            if ki >= *kernels {
                return Err(format!("`{field}`: client {ci} has no kernel {ki}"));
            }
        }
    }
    Ok(())
}

fn check_error(e: &InputError, text: &str, shape: &[usize]) -> Result<(), String> {
    if e.message.trim().is_empty() {
        return Err(format!("empty message: {e:?}"));
    }
    if !e.field.is_empty() {
        check_field_path(&e.field, shape).map_err(|m| format!("{m}\nerror: {e}"))?;
    }
    if e.line > text.lines().count() + 1 {
        return Err(format!("line {} beyond the text\nerror: {e}", e.line));
    }
    Ok(())
}

/// Runs GPU 0 of `w` for at most `max_steps` events, checking the invariants and that time never
/// goes back nor past the horizon after each.
fn run_bounded(w: &Workload, max_steps: u32) -> Result<Report, String> {
    let horizon = w.horizon_ns();
    let mut e = Engine::new(w.gpu(0), None);
    let mut prev = e.now();
    if prev > horizon {
        return Err(format!("starts at {prev} ns, past the horizon {horizon} ns"));
    }
    for step in 1..=max_steps {
        let more = e.step();
        let now = e.now();
        if now < prev {
            return Err(format!("step {step}: time went back from {prev} ns to {now} ns"));
        }
        if now > horizon {
            return Err(format!("step {step}: time {now} ns is past the horizon {horizon} ns"));
        }
        e.check_invariants().map_err(|m| format!("step {step}: {m}"))?;
        prev = now;
        if !more {
            break;
        }
    }
    let r = e.finish();
    // Every reported number is a number: a bad profile value must be refused, not printed as NaN.
    let g = &r.gpu_stats;
    for (name, v) in [
        ("avg_power_w", g.avg_power_w),
        ("max_power_w", g.max_power_w),
        ("avg_sm_clock_mhz", g.avg_sm_clock_mhz),
        ("min_sm_clock_mhz", g.min_sm_clock_mhz),
        ("sm_busy_fraction", g.sm_busy_fraction),
        ("avg_dram_gbs", g.avg_dram_gbs),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("gpu_stats.{name} = {v}"));
        }
    }
    for c in &r.clients {
        if !(c.throughput_per_s.is_finite() && c.throughput_per_s >= 0.0) {
            return Err(format!("client {}: throughput {}", c.name, c.throughput_per_s));
        }
    }
    Ok(r)
}

/// Parse, bind and (when both succeed) run a scenario, checking everything property 1 asks.
fn exercise(text: &str, shape: &[usize], gpu: &GpuProfile) -> Result<(), String> {
    let s = match Scenario::parse("fuzz.toml", text) {
        Ok(s) => s,
        Err(e) => return check_error(&e, text, shape),
    };
    let w = match s.bind(gpu) {
        Ok(w) => w,
        Err(e) => return check_error(&e, text, shape),
    };
    run_bounded(&w, MAX_STEPS).map(|_| ())
}

fn shape_of(s: &GenScenario) -> Vec<usize> {
    s.clients.iter().map(|c| c.kernels.len()).collect()
}

fn shorten(text: &str) -> String {
    // Long names and 50,000-element lists make unreadable failure messages.
    text.lines()
        .map(|l| {
            if l.len() > 200 {
                format!("{}... ({} bytes)", l.chars().take(120).collect::<String>(), l.len())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Times at the bounds
// ---------------------------------------------------------------------------------------------

/// Host times (think, host gap) from 0 to the bound, often at or near it.
fn host_us() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(MAX_HOST_US),
        Just(MAX_HOST_US - 1e-3),
        MAX_HOST_US * 0.5..=MAX_HOST_US,
        0.0..=MAX_HOST_US,
        0.0..100.0,
    ]
}

/// Horizons from the shortest to the longest.
fn duration_s() -> impl Strategy<Value = f64> {
    prop_oneof![Just(MAX_DURATION_S), Just(MIN_DURATION_S), MIN_DURATION_S..1.0, 1.0..1e3, 1e3..=MAX_DURATION_S,]
}

/// A valid closed-loop client: (think_us, requests, kernels as (grid, flops per block, host gap)).
type BoundClient = (f64, Option<u64>, Vec<(u64, f64, Option<f64>)>);

fn bound_client() -> impl Strategy<Value = BoundClient> {
    (
        host_us(),
        prop::option::of(2u64..6),
        prop::collection::vec((1u64..300, 1e3f64..1e8, prop::option::weighted(0.3, host_us())), 1..=2),
    )
}

fn bound_scenario(sharing: &str, duration_s: f64, clients: &[BoundClient]) -> String {
    let mut t = format!("gpu = \"h100-sxm\"\nsharing = \"{sharing}\"\nduration_s = {duration_s:?}\n");
    for (ci, (think, requests, kernels)) in clients.iter().enumerate() {
        t += &format!("\n[[clients]]\nname = \"c{ci}\"\nthink_us = {think:?}\n");
        if let Some(n) = requests {
            t += &format!("requests = {n}\n");
        }
        for (ki, (grid, flops, gap)) in kernels.iter().enumerate() {
            t += &format!("\n[[clients.kernels]]\nname = \"k{ki}\"\ngrid = {grid}\nblock = 256\n");
            t += &format!("regs_per_thread = 32\nflops_per_block = {flops:?}\n");
            if let Some(g) = gap {
                t += &format!("host_gap_us = {g:?}\n");
            }
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Mutated GPU profiles
// ---------------------------------------------------------------------------------------------

/// Byte ranges of the `X` of every `{ value = X, source = ... }` in a profile.
fn value_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    const OPEN: &str = "{ value = ";
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find(OPEN) {
        let start = at + i + OPEN.len();
        let end = start + text[start..].find(", source").expect("every value names a source");
        spans.push(start..end);
        at = end;
    }
    spans
}

fn profile_extremes() -> Vec<String> {
    let mut v = extreme_dims();
    v.extend(
        ["-2", "-1e-12", "-100.5", "0.5", "true", "false", "\"\"", "\"9.0\"", "[0]", "[228]", "[8, 8, 228]"]
            .map(String::from),
    );
    v
}

const PROFILE_SECTIONS: &[&str] = &["sm", "rates", "clock", "memory", "launch", "sharing", "power", "sources"];

/// A field path of the profile format: `section.parameter`, optionally `.value` or `.source`, or a
/// top-level field; the same segment syntax as scenarios.
fn check_profile_field(field: &str) -> Result<(), String> {
    let params: Vec<&'static str> = h100().source_keys().into_iter().map(|(name, _)| name).collect();
    let segs: Vec<(&str, Option<usize>)> = field
        .split('.')
        .map(|x| segment(x, true))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("`{field}` is not a field path"))?;
    let (last, _) = *segs.last().expect("split gives one segment at least");
    let known = ["name", "product", "value", "source"].contains(&last)
        || PROFILE_SECTIONS.contains(&last)
        || params.iter().any(|p| p.rsplit('.').next() == Some(last));
    if known {
        Ok(())
    } else {
        Err(format!("`{field}`: `{last}` is not a field of the profile format"))
    }
}

/// Two clients with every kind of kernel; one MPS percentage when the mode takes it.
fn small_scenario(sharing: &str) -> String {
    let pct = if sharing == "mps" { "mps_thread_percentage = 50\n" } else { "" };
    format!(
        r#"gpu = "h100-sxm"
sharing = "{sharing}"
duration_s = 0.5

[[clients]]
name = "closed"
requests = 4
warmup_requests = 1
think_us = 10
timing = "cuda_events"
{pct}
[[clients.kernels]]
name = "fma"
grid = 132
block = 256
regs_per_thread = 32
smem_bytes = 1024
flops_per_block = 1e6
dram_bytes_per_block = 1e5

[[clients.kernels]]
name = "gemm"
grid = [8, 4]
block = 128
regs_per_thread = 64
flops = 1e9
dram_bytes = 1e7
instructions = 1e6
op = "bf16_tensor"
sync = true

[[clients]]
name = "open"
requests = 6
arrival_rate_per_s = 1e4

[[clients.kernels]]
name = "copy"
grid = 264
block = 1024
regs_per_thread = 16
dram_bytes = 1e8
op = "int32"
repeat = 2
host_gap_us = 1
"#
    )
}

fn exercise_generated(s: &GenScenario) -> Result<(), TestCaseError> {
    let text = render(s);
    exercise(&text, &shape_of(s), &h100())
        .map_err(|m| TestCaseError::fail(format!("{m}\n--- scenario ---\n{}", shorten(&text))))
}

/// Replaces the value of parameter `at` (an index into [`value_spans`]) of the H100 profile.
fn mutate_profile(at: Index, value: &str) -> (String, String) {
    let spans = value_spans(H100);
    let span = spans[at.index(spans.len())].clone();
    let text = format!("{}{}{}", &H100[..span.start], value, &H100[span.end..]);
    let line = H100[..span.start].lines().count();
    let what = format!("line {line} of h100-sxm.toml: `{}` replaced by `{}`", &H100[span], shorten(value));
    (text, what)
}

/// A mutated profile: refused with a real field, or accepted and run with every check.
fn exercise_profile(text: &str, what: &str, sharing: &str) -> Result<(), TestCaseError> {
    let gpu = match GpuProfile::from_toml("mutated.toml", text) {
        Ok(gpu) => gpu,
        Err(e) => {
            prop_assert!(!e.message.trim().is_empty(), "empty message: {:?}\n{}", e, what);
            if !e.field.is_empty() {
                check_profile_field(&e.field).map_err(|m| TestCaseError::fail(format!("{m}\nerror: {e}\n{what}")))?;
            }
            return Ok(());
        }
    };
    let s = Scenario::parse("small.toml", &small_scenario(sharing)).expect("the small scenario parses");
    if let Ok(w) = s.bind(&gpu) {
        run_bounded(&w, MAX_STEPS).map_err(|m| TestCaseError::fail(format!("{m}\n{what}\nsharing = {sharing}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Property 1: generated scenarios never panic the parser, the binder or the engine; errors
    /// have a message and real field paths (but for the known bug); valid scenarios keep their
    /// invariants and time monotone within the horizon.
    #[test]
    fn generated_scenarios(s in scenario_gen(Mode::Wild)) {
        exercise_generated(&s)?;
    }

    /// Property 1 with extremes the format accepts (bounds of grids, repeats, host times, rates,
    /// work up to f64::MAX), so that most cases reach the engine.
    #[test]
    fn generated_scenarios_with_valid_extremes(s in scenario_gen(Mode::ValidExtremes)) {
        exercise_generated(&s)?;
    }

    /// Property 2: no valid scenario's times wrap. Think times, host gaps and horizons reach the
    /// bounds of `spec`; time stays monotone and within the horizon, and a client whose think
    /// time exceeds the horizon completes at most one request (its wait was not wrapped to zero).
    #[test]
    fn times_at_the_bounds_do_not_wrap(
        sharing in prop::sample::select(SHARINGS.to_vec()),
        duration_s in duration_s(),
        clients in prop::collection::vec(bound_client(), 1..=3),
    ) {
        let text = bound_scenario(sharing, duration_s, &clients);
        let gpu = h100();
        let s = Scenario::parse("bounds.toml", &text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let w = s.bind(&gpu).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let r = run_bounded(&w, MAX_STEPS).map_err(|m| TestCaseError::fail(format!("{m}\n{text}")))?;
        for c in &r.clients {
            let i: usize = c.name[1..].parse().expect("clients are named c<i>");
            let think_us = clients[i].0;
            if think_us > duration_s * 1e6 * (1.0 + 1e-9) + 1.0 {
                prop_assert!(
                    c.requests_completed <= 1,
                    "{} completed {} requests with think_us = {:?} beyond a horizon of {:?} s\n{}",
                    c.name, c.requests_completed, think_us, duration_s, text
                );
            }
        }
    }

    /// Property 3: the bundled profile with one parameter's value replaced by an extreme never
    /// panics the profile parser; its errors have a message and a real field (but for the known
    /// bug); an accepted profile binds and runs a small scenario (invariants, time monotone and
    /// within the horizon).
    #[test]
    fn mutated_profiles(
        at in any::<Index>(),
        value in prop::sample::select(profile_extremes()),
        sharing in prop::sample::select(SHARINGS.to_vec()),
    ) {
        let (text, what) = mutate_profile(at, &value);
        exercise_profile(&text, &what, sharing)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Bugs found
// ---------------------------------------------------------------------------------------------
//
// 1. Fixed while this campaign was written (sim/src/input_error.rs): for TOML type and range
//    errors, `InputError::field` was the value the deserialiser's message quotes, not the field:
//    `regs_per_thread = -1` gave "field `-1`: invalid value: integer `-1`, expected u32". The four
//    tests below are its regressions.
// 2. Fixed (sim/src/profile.rs, sim/src/sharing/timeslice.rs): a time slice or context switch of
//    2^64 ns or more was accepted and wrapped simulated time. Regressions at the end.

/// The smallest scenario, with `line` added to its only kernel.
fn minimal_scenario(line: &str) -> String {
    let head = "gpu = \"h100-sxm\"\nsharing = \"streams\"\n\n[[clients]]\nname = \"c\"\n\n";
    format!("{head}[[clients.kernels]]\nname = \"k\"\ngrid = 1\nblock = 32\n{line}\n")
}

fn assert_real_field(text: &str, last: &str) {
    let e = Scenario::parse("s.toml", text).expect_err("the scenario is invalid");
    assert!(!e.message.trim().is_empty(), "{e:?}");
    check_field_path(&e.field, &[1]).unwrap_or_else(|m| panic!("{m}\nerror: {e}"));
    assert_eq!(e.field.rsplit('.').next(), Some(last), "{e}");
}

/// Was "field `-1`: invalid value: integer `-1`, expected u32".
#[test]
fn out_of_range_integer_names_its_field() {
    assert_real_field(&minimal_scenario("regs_per_thread = -1"), "regs_per_thread");
}

/// Was "field `0.5`: invalid type: floating point `0.5`, expected a positive whole number or a
/// list [x, y, z] of them".
#[test]
fn wrong_type_names_its_field() {
    let text = minimal_scenario("regs_per_thread = 32").replace("block = 32", "block = 0.5");
    assert_real_field(&text, "block");
}

/// Was "field `fp64`: unknown variant `fp64`, expected one of `fp32`, ...".
#[test]
fn unknown_variant_names_its_field() {
    assert_real_field(&minimal_scenario("regs_per_thread = 32\nop = \"fp64\""), "op");
}

/// Was "field `-1`: invalid value: integer `-1`, expected u32" for `count = { value = -1, ... }`.
#[test]
fn profile_out_of_range_names_its_field() {
    let text = H100.replacen("count = { value = 132", "count = { value = -1", 1);
    let e = GpuProfile::from_toml("p.toml", &text).expect_err("the profile is invalid");
    check_profile_field(&e.field).unwrap_or_else(|m| panic!("{m}\nerror: {e}"));
    assert_eq!(e.field.rsplit('.').next(), Some("count"), "{e}");
}

/// Two time-sliced clients; the first comes back for a second request while the second runs.
const TWO_SLICED_CLIENTS: &str = r#"
gpu = "h100-sxm"
sharing = "timeslice"

[[clients]]
name = "a"
requests = 2

[[clients.kernels]]
name = "k"
grid = 132
block = 1024
regs_per_thread = 32
flops_per_block = 1e7

[[clients]]
name = "b"
requests = 1

[[clients.kernels]]
name = "k"
grid = 132
block = 1024
regs_per_thread = 32
flops_per_block = 1e7
"#;

/// The bundled H100 profile with `param`'s value replaced.
fn with_profile_value(param: &str, value: &str) -> String {
    let from = format!("{param} = {{ value = ");
    let start = H100.find(&from).expect("the parameter exists") + from.len();
    let end = start + H100[start..].find(',').expect("a source follows");
    format!("{}{value}{}", &H100[..start], &H100[end..])
}

fn run_with_profile_value(param: &str, value: &str) -> Result<Report, String> {
    let text = with_profile_value(param, value);
    let gpu = GpuProfile::from_toml("p.toml", &text).expect("the profile accepts the value");
    let w = Scenario::parse("s.toml", TWO_SLICED_CLIENTS).unwrap().bind(&gpu).unwrap();
    run_bounded(&w, MAX_STEPS)
}

/// Found by this campaign: a time slice or context switch of 2^64 ns or more (1e17 us, inf) was
/// accepted and wrapped the time slicer's sums ("step 12: time went back from 59729 ns to 59728
/// ns"). Profiles now bound every time they state, and the slicer's sums saturate.
#[test]
fn huge_profile_times_are_refused() {
    for (param, value) in [("timeslice_us", "1e17"), ("context_switch_us", "inf"), ("timeslice_us", "1e308")] {
        let e = GpuProfile::from_toml("p.toml", &with_profile_value(param, value)).expect_err("refused");
        assert_eq!(e.field, format!("sharing.{param}"), "{e}");
        assert!(e.line > 0, "{e}");
    }
}

/// The longest times a profile accepts run without wrapping.
#[test]
fn longest_profile_times_run() {
    run_with_profile_value("timeslice_us", "1e9").unwrap();
    run_with_profile_value("context_switch_us", "1e9").unwrap();
}
