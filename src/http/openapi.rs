//! `/openapi.json` (OpenAPI 3.1) and `/docs` (a browsable reference) for every REST operation.
//!
//! Generated, not written: the operations come from `rest::OPERATIONS` (the table the routes
//! are registered from), and every request and answer schema from the protobuf descriptors the
//! build compiled (the same messages the handlers decode and encode), read with `prost-reflect`
//! and written the way protojson reads and writes them. Only the error body is described by
//! hand: it is userd's own JSON, not a protobuf message.

use super::rest::{Body, OPERATIONS};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Message schemas by full name, filled as messages are reached.
struct Schemas(BTreeMap<String, Value>);

impl Schemas {
    /// A reference to `message`'s schema, describing it (and what it reaches) first.
    fn message(&mut self, message: &MessageDescriptor) -> Value {
        match message.full_name() {
            "google.protobuf.Timestamp" => return json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Struct" => return json!({"type": "object"}),
            _ => {}
        }
        let name = message.full_name().to_string();
        if !self.0.contains_key(&name) {
            // Reserve the name first: messages may reach themselves (filter trees).
            self.0.insert(name.clone(), Value::Null);
            let mut properties = Map::new();
            for field in message.fields() {
                let schema = self.field(&field);
                properties.insert(field.json_name().to_string(), schema);
            }
            self.0.insert(
                name.clone(),
                json!({"type": "object", "properties": properties}),
            );
        }
        schema_ref(&name)
    }

    fn field(&mut self, field: &FieldDescriptor) -> Value {
        let one = self.kind(&field.kind());
        if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => entry
                    .get_field_by_name("value")
                    .map_or(json!({}), |v| self.kind(&v.kind())),
                _ => json!({}),
            };
            json!({"type": "object", "additionalProperties": value})
        } else if field.is_list() {
            json!({"type": "array", "items": one})
        } else {
            one
        }
    }

    /// How protojson writes a value of `kind`: 64-bit integers as strings (numbers are read
    /// too), enums by name.
    fn kind(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "minimum": 0}),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"oneOf": [
                {"type": "string", "pattern": "^-?[0-9]+$"}, {"type": "integer"}
            ]}),
            Kind::Uint64 | Kind::Fixed64 => json!({"oneOf": [
                {"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer", "minimum": 0}
            ]}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Enum(e) => {
                let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
                json!({"type": "string", "enum": names})
            }
            Kind::Message(m) => self.message(m),
        }
    }
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "integer", "format": "int32", "description": "gRPC status code"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "required": ["@type"], "properties": {"@type": {"type": "string"}}}}
        }
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_ref("Error")}}})
}

/// The whole OpenAPI 3.1 document.
pub fn document() -> Value {
    let pool = match DescriptorPool::decode(DESCRIPTORS) {
        Ok(pool) => pool,
        Err(e) => {
            log::error!("the built-in descriptors do not decode: {e}");
            DescriptorPool::new()
        }
    };
    let mut schemas = Schemas(BTreeMap::new());
    let mut message = |name: String| match pool.get_message_by_name(&name) {
        Some(m) => schemas.message(&m),
        None => json!({"type": "object"}),
    };
    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut operation = json!({
            "operationId": op.id,
            "summary": op.summary,
            "description": op.description,
            "security": [{"bearer": []}],
            "responses": {
                op.success.to_string(): {
                    "description": if op.id == "ReactivateUser" { "User successfully reactivated" } else { "OK" },
                    "content": {"application/json": {"schema": message((op.response)())}}
                },
                "400": error_response("Invalid request, or the user's state does not allow the change"),
                "401": error_response("Missing or invalid bearer token"),
                "403": error_response("Returned when the user does not have permission to access the resource."),
                "404": error_response("Returned when the resource does not exist."),
                "default": error_response("An unexpected error response.")
            }
        });
        let mut parameters = Vec::new();
        if op.path.contains("{userId}") {
            parameters.push(json!({
                "name": "userId", "in": "path", "required": true,
                "description": "unique identifier of the user.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200}
            }));
        }
        for (name, what) in [
            ("tokenId", "personal access token"),
            ("keyId", "key"),
            ("id", "target"),
            ("targetId", "target"),
        ] {
            if op.path.contains(&format!("{{{name}}}")) {
                parameters.push(json!({
                    "name": name, "in": "path", "required": true,
                    "description": format!("the {what}'s id."),
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200}
                }));
            }
        }
        if op.path.contains("{position}") {
            parameters.push(json!({
                "name": "position", "in": "path", "required": true,
                "description": "the delivery's place in its target's queue.",
                "schema": {"type": "string", "pattern": "^[0-9]{1,20}$"}
            }));
        }
        // The one method that takes fields from the query string (it has no body).
        if op.id == "DeleteUserMetadata" {
            parameters.push(json!({
                "name": "keys", "in": "query", "required": true, "explode": true,
                "description": "the metadata keys to delete; every one must be set.",
                "schema": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
            }));
        }
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        match op.body {
            Body::None => {}
            // A DELETE's body is accepted (and checked) but is not part of the API.
            Body::Ignored if op.method == "delete" => {}
            Body::Ignored => {
                operation["requestBody"] = json!({
                    "required": false,
                    "description": "Optional; the path's userId wins over any in the body.",
                    "content": {"application/json": {"schema": {"type": "object"}}}
                });
            }
            Body::Message => {
                operation["requestBody"] = json!({
                    "required": true,
                    "content": {"application/json": {"schema": message((op.request)())}}
                });
            }
        }
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(op.method.to_string(), operation);
        }
    }
    let mut components: Map<String, Value> = schemas.0.into_iter().collect();
    components.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "userd",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A self-hostable user-lifecycle server that speaks ZITADEL's user API (v3alpha and v2 REST)."
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        }
    })
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `/docs`: a self-contained HTML reference generated from the same table (no network access).
pub fn docs_page() -> String {
    let mut rows = String::new();
    for op in OPERATIONS {
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{} <code>{}</code></td></tr>\n",
            op.method.to_uppercase(),
            escape_html(op.path),
            escape_html(op.summary),
            escape_html(op.description),
            op.success,
            (op.response)()
        ));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>userd API</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}</style>\
         </head><body><h1>userd API</h1><p>ZITADEL's user API, REST surface. Every request needs \
         <code>Authorization: Bearer &lt;JWT&gt;</code>; errors are <code>{{\"code\", \"message\", \"details\"}}</code>. \
         The machine-readable document is <a href=\"/openapi.json\">/openapi.json</a>.</p>\
         <table><tr><th>method</th><th>path</th><th>summary</th><th>description</th><th>success</th></tr>\n{rows}</table></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but not described"
            );
        }
        let user = &schemas["zitadel.user.v3alpha.User"]["properties"];
        assert_eq!(user["schemaId"], json!({"type": "string"}));
        assert_eq!(user["data"], json!({"type": "object"}));
    }
}
