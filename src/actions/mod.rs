//! The write side: interface hot-plug, address allocation from a libvirt network's DHCP
//! range, and volume attachment, each done through libvirt and answered with what the
//! inventory then shows. Off unless the operator enables it (see `serve`); the HTTP
//! layer decides who may call, this module what may be done.

mod addresses;
mod error;
mod interfaces;
mod random;
mod service;
mod settings;
mod volumes;

pub use addresses::Allocation;
pub use error::ActionError;
pub use interfaces::{Attached, InterfaceRequest};
pub use service::Actions;
pub use settings::{ActionSettings, DEFAULT_WAIT};
pub use volumes::{PoolVolumeInfo, VolumeAttached};
