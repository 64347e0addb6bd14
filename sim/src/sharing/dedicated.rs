//! Dedicated: one client alone on its partition (a GPU of its own in a scenario's layout).
//! One process, one context, no caps; launches pay the plain launch latency.

use super::{Arrangement, Mode};
use crate::profile::GpuProfile;
use crate::spec::{Partition, SpecError};

pub(crate) struct Dedicated;

impl Mode for Dedicated {
    fn check(&self, p: &Partition) -> Result<(), SpecError> {
        if p.members.len() > 1 {
            return Err(SpecError::new(
                format!("clients[{}]", p.members[1].client),
                "a dedicated partition holds one client",
            ));
        }
        super::no_mps_percentages(p)
    }

    fn arrange(&self, p: &Partition, partition_sms: u32, gpu: &GpuProfile) -> Arrangement {
        super::one_context(p, partition_sms, gpu)
    }
}
