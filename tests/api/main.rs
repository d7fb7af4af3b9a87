//! The one integration-test binary: every test drives the real `userd` binary over HTTP.

mod administrators;
mod auth;
mod backup;
mod codec;
mod concurrency;
mod crash;
mod credentials;
mod disk_full;
mod edits;
mod errors;
mod export;
mod faults;
mod hardening;
mod helpers;
mod history;
mod hostile;
mod import;
mod keys;
mod lifecycle;
mod listing;
mod machine;
mod metadata;
mod model;
mod multinode;
mod operations;
mod persistence;
mod reset;
mod rpc;
mod search;
mod seed;

mod v2;
mod webhooks;
