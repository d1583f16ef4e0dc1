//! The sidebar's panels, one file each.

pub mod connection;
pub mod servers;
