//! MPS: a client's active thread percentage becomes a cap on the SMs its blocks may occupy at
//! once, rounded down to the hardware's granularity (never below one granule). It is a limit,
//! not a reservation: the engine enforces it at placement and other clients may use those SMs.
//! Calibrated on an H100 and an H200 (driver 580): whole TPCs, and never fewer than 8 SMs.

pub fn sm_cap(percentage: f64, sm_count: u32, granularity: u32, min_sms: u32) -> u32 {
    let g = granularity.max(1);
    let raw = (percentage / 100.0 * sm_count as f64 + 1e-9).floor() as u32;
    ((raw / g) * g).max(min_sms).clamp(g.min(sm_count), sm_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_down_to_granules() {
        assert_eq!(sm_cap(100.0, 132, 2, 2), 132);
        assert_eq!(sm_cap(50.0, 132, 2, 2), 66);
        assert_eq!(sm_cap(33.0, 132, 2, 2), 42); // 43.56 -> 43 -> 42
        assert_eq!(sm_cap(1.0, 132, 2, 2), 2); // never below one granule
        assert_eq!(sm_cap(25.0, 132, 8, 8), 32);
        assert_eq!(sm_cap(0.1, 132, 8, 8), 8);
        // What an H100 showed: 1-5% -> 8 SMs, 8% -> 10, 10% -> 12, 66% -> 86.
        for (p, n) in [(1.0, 8), (5.0, 8), (8.0, 10), (10.0, 12), (66.0, 86), (75.0, 98)] {
            assert_eq!(sm_cap(p, 132, 2, 8), n, "{p}%");
        }
    }
}
