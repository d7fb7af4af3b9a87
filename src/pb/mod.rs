//! Protobuf types of every surface, generated at build time from `proto/` (our own subset of
//! ZITADEL's messages: names and field numbers are the wire format's). Each message has both
//! its binary form (prost) and protojson (pbjson serde), so REST, Connect, gRPC-Web and gRPC
//! all decode into, and encode from, the same types. `google.protobuf.Struct` is
//! [`JsonStruct`], which keeps JSON exactly as sent, and `google.protobuf.Timestamp` is
//! [`Timestamp`], which writes protojson's form.
#![allow(
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

mod json_struct;
mod timestamp;

pub use json_struct::JsonStruct;
pub use timestamp::Timestamp;

pub mod zitadel {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/zitadel.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/zitadel.v1.serde.rs"));
    }
    pub mod action {
        pub mod v2 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.action.v2.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.action.v2.serde.rs"));
        }
    }
    pub mod admin {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.admin.v1.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.admin.v1.serde.rs"));
        }
    }
    pub mod change {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.change.v1.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.change.v1.serde.rs"));
        }
    }
    pub mod event {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.event.v1.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.event.v1.serde.rs"));
        }
    }
    pub mod management {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.management.v1.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.management.v1.serde.rs"));
        }
    }
    pub mod filter {
        pub mod v2 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.filter.v2.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.filter.v2.serde.rs"));
        }
    }
    pub mod internal_permission {
        pub mod v2 {
            include!(concat!(
                env!("OUT_DIR"),
                "/zitadel.internal_permission.v2.rs"
            ));
            include!(concat!(
                env!("OUT_DIR"),
                "/zitadel.internal_permission.v2.serde.rs"
            ));
        }
    }
    pub mod metadata {
        pub mod v2 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.metadata.v2.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.metadata.v2.serde.rs"));
        }
    }
    pub mod object {
        pub mod v2 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.object.v2.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.object.v2.serde.rs"));
        }
        pub mod v3alpha {
            include!(concat!(env!("OUT_DIR"), "/zitadel.object.v3alpha.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.object.v3alpha.serde.rs"));
        }
    }
    pub mod user {
        pub mod v2 {
            include!(concat!(env!("OUT_DIR"), "/zitadel.user.v2.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.user.v2.serde.rs"));
        }
        pub mod v3alpha {
            include!(concat!(env!("OUT_DIR"), "/zitadel.user.v3alpha.rs"));
            include!(concat!(env!("OUT_DIR"), "/zitadel.user.v3alpha.serde.rs"));
        }
    }
    pub mod resources {
        pub mod object {
            pub mod v3alpha {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/zitadel.resources.object.v3alpha.rs"
                ));
                include!(concat!(
                    env!("OUT_DIR"),
                    "/zitadel.resources.object.v3alpha.serde.rs"
                ));
            }
        }
        pub mod user {
            pub mod v3alpha {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/zitadel.resources.user.v3alpha.rs"
                ));
                include!(concat!(
                    env!("OUT_DIR"),
                    "/zitadel.resources.user.v3alpha.serde.rs"
                ));
            }
        }
    }
}

/// userd's own services.
pub mod userd {
    pub mod webhooks {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/userd.webhooks.v1.rs"));
            include!(concat!(env!("OUT_DIR"), "/userd.webhooks.v1.serde.rs"));
        }
    }
}
