//! `/openapi.json` (OpenAPI 3.1) and `/docs` (a browsable reference) for every REST endpoint.
//!
//! The document is built from [`OPERATIONS`], the table `http::routes` registers the REST
//! handlers from, so a path or method cannot be documented without being served (and the test
//! suite checks the reverse through the real server). Schemas follow the wire types in
//! `http::wire` and `http::v2`.

use serde_json::{json, Map, Value};

/// One documented REST operation.
#[derive(Debug)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub request: Option<&'static str>,
    pub success: u16,
    pub response: &'static str,
    pub description: &'static str,
}

/// A table row: method, path, operation id, summary, request schema, success status, response
/// schema, description.
macro_rules! op {
    ($method:expr, $path:expr, $id:expr, $summary:expr, $request:expr, $success:expr, $response:expr, $description:expr $(,)?) => {
        Operation {
            method: $method,
            path: $path,
            id: $id,
            summary: $summary,
            request: $request,
            success: $success,
            response: $response,
            description: $description,
        }
    };
}

/// Every REST operation userd serves.
pub const OPERATIONS: &[Operation] = &[
    op!("post", "/v3alpha/users", "CreateUser", "Create a user", Some("CreateUserRequest"), 201, "CreateUserResponse", "Creates a user in an organization; it starts ACTIVE with sequence 1."),
    op!("post", "/v3alpha/users/search", "SearchUsers", "Search users", Some("SearchUsersRequest"), 200, "SearchUsersResponse", "Lists the users the caller may read, newest first by default; deleted users are never listed."),
    op!("get", "/v3alpha/users/{userId}", "GetUserByID", "Get a user", None, 200, "GetUserResponse", "Returns a user; a deleted user is not found."),
    op!("delete", "/v3alpha/users/{userId}", "DeleteUser", "Delete a user", None, 200, "ChangeResponse", "Any live state to DELETED."),
    op!("post", "/v3alpha/users/{userId}/deactivate", "DeactivateUser", "Deactivate a user", Some("ChangeRequest"), 200, "ChangeResponse", "ACTIVE or LOCKED to INACTIVE."),
    op!("post", "/v3alpha/users/{userId}/reactivate", "ReactivateUser", "Reactivate a user", Some("ChangeRequest"), 200, "ChangeResponse", "Reactivate a previously deactivated user and change the state to 'active'. The user will be able to log in again. The endpoint returns an error if the user is not in the state 'deactivated'."),
    op!("post", "/v3alpha/users/{userId}/lock", "LockUser", "Lock a user", Some("ChangeRequest"), 200, "ChangeResponse", "ACTIVE or INITIAL to LOCKED."),
    op!("post", "/v3alpha/users/{userId}/unlock", "UnlockUser", "Unlock a user", Some("ChangeRequest"), 200, "ChangeResponse", "LOCKED to ACTIVE."),
    op!("post", "/v2/users/human", "AddHumanUser", "Add a human user (v2)", Some("AddHumanUserRequest"), 200, "AddHumanUserResponse", "Creates a human user; without a password and without a verified email it starts INITIAL."),
    op!("post", "/v2/users", "ListUsers", "List users (v2)", Some("ListUsersRequest"), 200, "ListUsersResponse", "Lists the users the caller may read."),
    op!("get", "/v2/users/{userId}", "GetUserByIDV2", "Get a user (v2)", None, 200, "V2GetUserByIDResponse", "Returns a user in v2's shape."),
    op!("delete", "/v2/users/{userId}", "DeleteUserV2", "Delete a user (v2)", None, 200, "ChangeResponse", "Any live state to DELETED."),
    op!("post", "/v2/users/{userId}/deactivate", "DeactivateUserV2", "Deactivate a user (v2)", Some("ChangeRequest"), 200, "ChangeResponse", "ACTIVE or LOCKED to INACTIVE."),
    op!("post", "/v2/users/{userId}/reactivate", "ReactivateUserV2", "Reactivate a user (v2)", Some("ChangeRequest"), 200, "ChangeResponse", "INACTIVE to ACTIVE."),
    op!("post", "/v2/users/{userId}/lock", "LockUserV2", "Lock a user (v2)", Some("ChangeRequest"), 200, "ChangeResponse", "ACTIVE or INITIAL to LOCKED."),
    op!("post", "/v2/users/{userId}/unlock", "UnlockUserV2", "Unlock a user (v2)", Some("ChangeRequest"), 200, "ChangeResponse", "LOCKED to ACTIVE."),
];

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn string() -> Value {
    json!({"type": "string"})
}

const STATES: [&str; 6] = [
    "USER_STATE_UNSPECIFIED",
    "USER_STATE_ACTIVE",
    "USER_STATE_INACTIVE",
    "USER_STATE_DELETED",
    "USER_STATE_LOCKED",
    "USER_STATE_INITIAL",
];

fn schemas() -> Value {
    let details = json!({
        "type": "object",
        "properties": {
            "sequence": {"type": "string", "description": "uint64 as a string: the user's event count"},
            "changeDate": {"type": "string", "format": "date-time"},
            "resourceOwner": {"type": "string"},
            "creationDate": {"type": "string", "format": "date-time"}
        }
    });
    let contact = json!({
        "type": "object",
        "properties": {
            "email": {"type": "object", "properties": {"address": string(), "isVerified": {"type": "boolean"}}},
            "phone": {"type": "object", "properties": {"number": string(), "isVerified": {"type": "boolean"}}}
        }
    });
    let list_details = json!({
        "type": "object",
        "properties": {"totalResult": string(), "timestamp": {"type": "string", "format": "date-time"}}
    });
    let uint_or_string = json!({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}]});
    json!({
        "Details": details,
        "ChangeRequest": {"type": "object", "description": "Optional; the path's userId wins over any in the body.", "properties": {"userId": string()}},
        "ChangeResponse": {"type": "object", "required": ["details"], "properties": {"details": schema_ref("Details")}},
        "Contact": contact,
        "CreateUserRequest": {
            "type": "object",
            "required": ["schemaId", "data"],
            "properties": {
                "userId": {"type": "string", "maxLength": 200},
                "organization": {"type": "object", "properties": {"orgId": string()}},
                "schemaId": {"type": "string", "minLength": 1, "maxLength": 200},
                "data": {"type": "object"},
                "contact": schema_ref("Contact")
            }
        },
        "CreateUserResponse": {"type": "object", "required": ["userId", "details"], "properties": {"userId": string(), "details": schema_ref("Details")}},
        "User": {
            "type": "object",
            "required": ["userId", "details", "state"],
            "properties": {
                "userId": string(),
                "details": schema_ref("Details"),
                "state": {"type": "string", "enum": STATES},
                "schemaId": string(),
                "data": {"type": "object"},
                "contact": schema_ref("Contact")
            }
        },
        "GetUserResponse": {"type": "object", "required": ["details", "user"], "properties": {"details": schema_ref("Details"), "user": schema_ref("User")}},
        "SearchUsersRequest": {
            "type": "object",
            "properties": {
                "query": {"type": "object", "properties": {"offset": uint_or_string, "limit": uint_or_string, "asc": {"type": "boolean"}}},
                "filters": {"type": "array", "items": {"type": "object", "properties": {
                    "stateFilter": {"type": "object", "properties": {"state": {"type": "string", "enum": STATES}}},
                    "organizationIdFilter": {"type": "object", "properties": {"organizationId": string()}}
                }}}
            }
        },
        "ListDetails": list_details,
        "SearchUsersResponse": {"type": "object", "properties": {"details": schema_ref("ListDetails"), "result": {"type": "array", "items": schema_ref("User")}}},
        "AddHumanUserRequest": {
            "type": "object",
            "required": ["profile", "email"],
            "properties": {
                "userId": string(),
                "username": string(),
                "organization": {"type": "object", "properties": {"orgId": string()}},
                "profile": {"type": "object", "required": ["givenName", "familyName"], "properties": {
                    "givenName": {"type": "string", "minLength": 1, "maxLength": 200},
                    "familyName": {"type": "string", "minLength": 1, "maxLength": 200},
                    "nickName": string(), "displayName": string(), "preferredLanguage": string(),
                    "gender": {"type": "string", "enum": ["GENDER_UNSPECIFIED", "GENDER_FEMALE", "GENDER_MALE", "GENDER_DIVERSE"]}
                }},
                "email": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string", "format": "email"}, "isVerified": {"type": "boolean"}}},
                "phone": {"type": "object", "properties": {"phone": string(), "isVerified": {"type": "boolean"}}},
                "password": {"type": "object", "required": ["password"], "properties": {"password": {"type": "string", "minLength": 1}, "changeRequired": {"type": "boolean"}}},
                "hashedPassword": {"type": "object", "required": ["hash"], "properties": {"hash": {"type": "string", "description": "An Argon2id hash in PHC format"}, "changeRequired": {"type": "boolean"}}}
            }
        },
        "AddHumanUserResponse": {"type": "object", "required": ["userId", "details"], "properties": {"userId": string(), "details": schema_ref("Details")}},
        "V2User": {
            "type": "object",
            "required": ["userId", "details", "state"],
            "properties": {
                "userId": string(), "details": schema_ref("Details"), "state": {"type": "string", "enum": STATES},
                "username": string(), "loginNames": {"type": "array", "items": string()}, "preferredLoginName": string(),
                "human": {"type": "object"}
            }
        },
        "V2GetUserByIDResponse": {"type": "object", "required": ["details", "user"], "properties": {"details": schema_ref("Details"), "user": schema_ref("V2User")}},
        "ListUsersRequest": {
            "type": "object",
            "properties": {
                "query": {"type": "object", "properties": {"offset": uint_or_string, "limit": uint_or_string, "asc": {"type": "boolean"}}},
                "queries": {"type": "array", "items": {"type": "object", "properties": {
                    "stateQuery": {"type": "object", "properties": {"state": {"type": "string", "enum": STATES}}},
                    "organizationIdQuery": {"type": "object", "properties": {"organizationId": string()}},
                    "inUserIdsQuery": {"type": "object", "properties": {"userIds": {"type": "array", "items": string()}}},
                    "userNameQuery": {"type": "object", "properties": {"userName": string(), "method": string()}}
                }}}
            }
        },
        "ListUsersResponse": {"type": "object", "properties": {"details": schema_ref("ListDetails"), "result": {"type": "array", "items": schema_ref("V2User")}}},
        "Error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "integer", "format": "int32", "description": "gRPC status code"},
                "message": string(),
                "details": {"type": "array", "items": {"type": "object", "required": ["@type"], "properties": {"@type": string()}}}
            }
        }
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_ref("Error")}}})
}

/// The whole OpenAPI 3.1 document.
pub fn document() -> Value {
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
                    "content": {"application/json": {"schema": schema_ref(op.response)}}
                },
                "400": error_response("Invalid request, or the user's state does not allow the change"),
                "401": error_response("Missing or invalid bearer token"),
                "403": error_response("Returned when the user does not have permission to access the resource."),
                "404": error_response("Returned when the resource does not exist."),
                "default": error_response("An unexpected error response.")
            }
        });
        if op.path.contains("{userId}") {
            operation["parameters"] = json!([{
                "name": "userId", "in": "path", "required": true,
                "description": "unique identifier of the user.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200}
            }]);
        }
        if let Some(request) = op.request {
            operation["requestBody"] = json!({
                "required": op.request != Some("ChangeRequest"),
                "content": {"application/json": {"schema": schema_ref(request)}}
            });
        }
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(op.method.to_string(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "userd",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A self-hostable user-lifecycle server that speaks ZITADEL's user API (v3alpha and v2 REST)."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
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
            op.response
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
