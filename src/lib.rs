//! wg-failsafe's library: everything but the command line (src/main.rs), so that the
//! fuzz targets (fuzz/) reach the parsers of outside input the binary uses.
//!
//! The work is in `failsafe` (the sequences), `system` (what they act on), and `decide`
//! and `health` (pure judgement); `netlink`, `wireguard`, `probe`, `dns` and `edgeos`
//! speak to the kernel and the router; `config` and `state` are the files. Every call
//! into libc is in `os`, the one module allowed `unsafe`.
#![deny(unsafe_code)]

pub mod budget;
pub mod check;
pub mod config;
pub mod conntrack;
pub mod daemon;
pub mod decide;
pub mod decimal;
pub mod dns;
pub mod edgeos;
pub mod endpoint;
pub mod error;
pub mod failsafe;
pub mod health;
pub mod history;
pub mod hook;
pub mod init;
pub mod judge;
pub mod lock;
pub mod log;
pub mod metrics;
pub mod model;
pub mod net;
pub mod netlink;
pub mod os;
pub mod ownership;
pub mod probe;
pub mod record;
pub mod rounds;
pub mod state;
pub mod status;
pub mod system;
pub mod traffic;
pub mod trust;
pub mod undo;
pub mod wireguard;
