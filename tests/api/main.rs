//! The one integration-test binary: every test drives the real `userd` binary over HTTP.

mod auth;
mod concurrency;
mod errors;
mod helpers;
mod lifecycle;
mod model;
mod persistence;
mod search;
