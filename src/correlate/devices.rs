//! The host's devices as correlation looks them up.

use std::collections::HashMap;

use crate::netlink::HostDevice;

/// The host's devices by name: what a record is matched against.
pub(crate) type Devices = HashMap<String, HostDevice>;
