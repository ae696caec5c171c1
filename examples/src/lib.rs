#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod crashkernel;
pub mod files;
pub mod filter;
pub mod kdump_config;
pub mod kexec_load;
pub mod size;
pub mod vmcore_capture;
pub mod vmcore_dmesg;
pub mod vmcore_info;
pub mod vmcore_inspect;
