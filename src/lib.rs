//! userd: a self-hostable user server that speaks ZITADEL's user API on the wire.
//!
//! A tour, following a request inwards (each layer imports only the ones below it):
//! - [`http`] is the transport: REST routes (`http::rest`), the RPC protocols (Connect,
//!   gRPC-Web, gRPC; HTTP/1.1 and HTTP/2 on one port), request ids, and the one mapping of errors
//!   to each wire form. [`import`] is the offline surface for bulk loads.
//! - [`api`] holds the services userd speaks (ZITADEL's v2 and v3alpha user services): each
//!   method converts the generated [`pb`] messages to and from the core's typed requests.
//! - [`app`] is the application core: typed requests, authentication ([`auth`]) and
//!   authorization decided once for every surface, and the path to the shards and the store.
//! - [`shard`] runs one `UserActor` per shard, the only writer of its users: it decides every
//!   change with the pure state machine in [`domain`] and commits groups of them, with the
//!   webhook deliveries they owe ([`webhooks`]: targets, executions, the delivery worker).
//! - [`store`] is the storage seam (the `Backend` trait) and its implementations, sled
//!   (embedded: commit log, listing indexes, `check`, bulk import) and PostgreSQL; both keep
//!   the outbox of webhook deliveries with the changes.
//! - Below them all: [`domain`] (states, events, filters, access; no IO), [`error`] (the one
//!   table of ZITADEL's error ids), [`config`], [`id`] and [`metrics`].
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_debug_implementations)]

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod id;
pub mod import;
pub mod metrics;
pub mod notify;
pub mod pb;
pub mod shard;
pub mod startup;
pub mod store;
pub mod webhooks;
