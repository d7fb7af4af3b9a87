//! userd: a self-hostable user-lifecycle server that speaks ZITADEL's user API on the wire.
//!
//! A tour, from the wire inwards:
//! - [`http`] parses requests (v3alpha and v2 REST; Connect, gRPC-Web and gRPC for the RPC
//!   services, with the protobuf types of [`pb`]; HTTP/1.1 and HTTP/2 on one port), checks their shape,
//!   authenticates the caller (through [`auth`]) and turns each change into a message for the
//!   shard that owns the user. Every protocol is a codec in front of `http::ops`.
//! - [`shard`] runs one `UserActor` per shard: the only writer of its users. It decides every
//!   change with the pure state machine in [`domain`], writes the new record and its event in one
//!   sled batch, and answers only once a flush (shared by every shard) covers the change.
//! - [`store`] is the sled layout: one tree per shard, big-endian keys, versioned bincode values.
//! - [`error`] holds the one table of ZITADEL's error ids and texts; `http::error` maps it to the wire.
//! - [`config`] reads `config.toml`, `USERD_<SECTION>__<KEY>` variables and flags, in that order.
//! - [`check`] verifies a data directory offline; [`import`] bulk-loads one; [`metrics`] counts
//!   what `/debug/metrics` shows.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_debug_implementations)]

pub mod auth;
pub mod check;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod id;
pub mod import;
pub mod metrics;
pub mod pb;
pub mod shard;
pub mod startup;
pub mod store;
