//! `bposhield-agent`: the endpoint agent of bposhield (docs/agent.md).
//!
//! It blocks USB storage, phones and cameras on call-floor desktops with the USBGuard
//! rule language (R1), assesses the host against Wazuh-format baselines (R4), and
//! reports both to the server through a bounded on-disk queue. The engines live in
//! `bposhield-endpoint`; this crate is the Linux plumbing: sysfs, uevents, the state
//! directory, the server client and the service loop.

pub mod client;
pub mod config;
pub mod queue;
pub mod service;
pub mod state;
pub mod uevent;
pub mod usb;
