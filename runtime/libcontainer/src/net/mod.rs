//! The container's network devices: `linux.netDevices` (`net_devices`), moved by the parent
//! through a minimal rtnetlink client (`netlink`).

pub mod net_devices;
pub mod netlink;
