//! Streams: all members are streams of one process, so they share one context and one SM space.
//! Their kernels co-reside under the in-context rules (the newcomer issue share and carve-out
//! growth of one process); no caps; launches pay the plain launch latency.

use super::{Arrangement, Mode};
use crate::profile::GpuProfile;
use crate::spec::{Partition, SpecError};

pub(crate) struct Streams;

impl Mode for Streams {
    fn check(&self, p: &Partition) -> Result<(), SpecError> {
        super::no_mps_percentages(p)
    }

    fn arrange(&self, p: &Partition, partition_sms: u32, gpu: &GpuProfile) -> Arrangement {
        super::one_context(p, partition_sms, gpu)
    }
}
