//! Protobuf types of the RPC surfaces, generated at build time from `proto/` (our own subset of
//! ZITADEL's messages: names and field numbers are the wire format's). Each message has both
//! its binary form (prost) and protojson (pbjson serde), so a binary request can be read as the
//! same JSON the REST and Connect JSON paths take.
#![allow(
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

pub mod zitadel {
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
