//! Generates the protobuf types of the surfaces from `proto/` (prost for the binary form,
//! pbjson for protojson), with protox so no `protoc` is needed. `google.protobuf.Struct` and
//! `Timestamp` map to userd's own `pb` types, which write JSON the way protojson does. The descriptors are kept too:
//! `/openapi.json` is generated from them.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "zitadel/user/v2/user_service.proto",
    "zitadel/user/v3alpha/user_service.proto",
    "zitadel/resources/user/v3alpha/user_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let descriptor_path = out.join("descriptors.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;
    prost_build::Config::new()
        .compile_well_known_types()
        .enable_type_names()
        .extern_path(".google.protobuf.Struct", "crate::pb::JsonStruct")
        .extern_path(".google.protobuf.Timestamp", "crate::pb::Timestamp")
        .extern_path(".google.protobuf", "::pbjson_types")
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_fds(descriptors)?;
    let bytes = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&bytes)?
        .ignore_unknown_fields()
        .build(&[".zitadel"])?;
    Ok(())
}
