//! Weighted max-min fair sharing (water-filling) of one capacity among demands: each item gets
//! min(demand, level x weight), with the level set so that the capacity is used up, or every
//! demand met. Issue slots and DRAM bandwidth are both shared this way.

/// One claimant. `alloc` is written.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Claim {
    pub demand: f64,
    pub weight: f64,
    pub alloc: f64,
}

/// Shares `capacity` among `claims`. Allocation-free once `unsettled` (scratch) has grown; each
/// round visits only the claims still unsettled, in their order (so the sums, and the result,
/// do not depend on how the rounds are carried out).
pub fn water_fill(capacity: f64, claims: &mut [Claim], unsettled: &mut Vec<u32>) {
    // The demands' total and the first round's weight in one pass (each summed in claim order).
    let (mut total, mut weight) = (0.0, 0.0);
    for c in claims.iter() {
        total += c.demand.max(0.0);
        weight += c.weight.max(1e-12);
    }
    if total <= capacity {
        for c in claims.iter_mut() {
            c.alloc = c.demand.max(0.0);
        }
        return;
    }
    unsettled.clear();
    unsettled.extend(0..claims.len() as u32);
    let mut left = capacity.max(0.0);
    loop {
        if weight <= 0.0 {
            break;
        }
        let level = left / weight;
        // Settle every claim whose demand is below its fair share at this level; the weight of
        // those left is summed on the way, in their order, for the next round.
        let before = unsettled.len();
        let mut next_weight = 0.0;
        unsettled.retain(|&i| {
            let c = &mut claims[i as usize];
            if c.demand.max(0.0) <= level * c.weight.max(1e-12) {
                c.alloc = c.demand.max(0.0);
                left -= c.alloc;
                false
            } else {
                next_weight += c.weight.max(1e-12);
                true
            }
        });
        if unsettled.len() == before {
            for &i in unsettled.iter() {
                let c = &mut claims[i as usize];
                c.alloc = level * c.weight.max(1e-12);
            }
            break;
        }
        weight = next_weight;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claim(d: f64, w: f64) -> Claim {
        Claim { demand: d, weight: w, alloc: 0.0 }
    }

    #[test]
    fn under_capacity_everyone_is_served() {
        let mut c = [claim(1.0, 1.0), claim(2.0, 1.0)];
        water_fill(10.0, &mut c, &mut Vec::new());
        assert_eq!((c[0].alloc, c[1].alloc), (1.0, 2.0));
    }

    #[test]
    fn small_demand_settles_first() {
        let mut c = [claim(1.0, 1.0), claim(10.0, 1.0), claim(10.0, 2.0)];
        water_fill(7.0, &mut c, &mut Vec::new());
        assert!((c[0].alloc - 1.0).abs() < 1e-12);
        assert!((c[1].alloc - 2.0).abs() < 1e-12);
        assert!((c[2].alloc - 4.0).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn conserves_and_respects_demands(cap in 0.0f64..100.0, ds in proptest::collection::vec((0.0f64..50.0, 0.1f64..5.0), 1..8)) {
            let mut c: Vec<Claim> = ds.iter().map(|&(d, w)| claim(d, w)).collect();
            water_fill(cap, &mut c, &mut Vec::new());
            let total_demand: f64 = ds.iter().map(|d| d.0).sum();
            let used: f64 = c.iter().map(|c| c.alloc).sum();
            prop_assert!((used - cap.min(total_demand)).abs() < 1e-6 * (1.0 + cap));
            for x in &c {
                prop_assert!(x.alloc <= x.demand + 1e-9 && x.alloc >= 0.0);
            }
        }
    }
}
