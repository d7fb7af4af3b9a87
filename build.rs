//! Generates the protobuf types of the surfaces from `proto/` (prost for the binary form,
//! pbjson for protojson, with `null` read as a field's default), with protox so no `protoc`
//! is needed. `google.protobuf.Struct` and
//! `Timestamp` map to userd's own `pb` types, which write JSON the way protojson does. The descriptors are kept too:
//! `/openapi.json` is generated from them.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "zitadel/user/v2/user_service.proto",
    "zitadel/user/v3alpha/user_service.proto",
    "zitadel/resources/user/v3alpha/user_service.proto",
    "zitadel/internal_permission/v2/internal_permission_service.proto",
    "zitadel/admin/v1/admin.proto",
    "zitadel/management/v1/management.proto",
    "zitadel/action/v2/action_service.proto",
    "userd/webhooks/v1/deliveries.proto",
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
        .build(&[".zitadel", ".userd"])?;
    for entry in std::fs::read_dir(&out)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(".serde.rs") {
            let code = std::fs::read_to_string(&path)?;
            std::fs::write(&path, null_is_default(&code))?;
        }
    }
    Ok(())
}

/// Protojson reads `null` as a field's default; pbjson's generated code refuses it for scalar
/// and repeated fields (`Some(map_.next_value()?)`). Read those fields as `Option`s instead, so
/// `null` leaves the field unset, as ZITADEL's own gateway does.
fn null_is_default(code: &str) -> String {
    let mut code = code.replace("Some(map_.next_value()?)", "map_.next_value()?");
    for wrapper in ["NumberDeserialize", "BytesDeserialize"] {
        code = code.replace(
            &format!("Some(map_.next_value::<::pbjson::private::{wrapper}<_>>()?.0)"),
            &format!(
                "map_.next_value::<::std::option::Option<::pbjson::private::{wrapper}<_>>>()?.map(|x| x.0)"
            ),
        );
    }
    // Enums: `Some(map_.next_value::<E>()? as i32)`.
    let (open, close) = ("Some(map_.next_value::<", ">()? as i32)");
    let mut out = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        match after.find(close) {
            Some(end) if !after[..end].contains('\n') => {
                out.push_str(&rest[..start]);
                out.push_str(&format!(
                    "map_.next_value::<::std::option::Option<{}>>()?.map(|x| x as i32)",
                    &after[..end]
                ));
                rest = &after[end + close.len()..];
            }
            _ => {
                out.push_str(&rest[..start + open.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
