//! `/openapi.json`: an OpenAPI 3 document generated from the same descriptors and
//! annotations the bridge routes by, so the two cannot disagree.

use std::collections::BTreeMap;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Value, json};

use super::rules::{BodyRule, Rule, rules};

/// Returns the OpenAPI document of every annotated RPC.
pub fn document(pool: &DescriptorPool) -> Value {
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    let mut schemas = BTreeMap::new();
    for rule in rules(pool) {
        let operation = operation(&rule, &mut schemas);
        paths
            .entry(rule.template.openapi_path())
            .or_default()
            .insert(rule.method.as_str().to_lowercase(), operation);
    }
    schemas.insert(
        "Error".to_owned(),
        json!({
            "type": "object",
            "properties": {
                "code": { "type": "integer", "format": "int32", "description": "The gRPC status code." },
                "message": { "type": "string" },
                "details": { "type": "array", "items": { "type": "object" } },
            },
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "relreg",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The JSON bridge of relreg's ReleaseAdmin and ReleaseCatalog gRPC services.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
        "security": [{}, { "bearer": [] }],
    })
}

fn operation(rule: &Rule, schemas: &mut BTreeMap<String, Value>) -> Value {
    let input = rule.input();
    let path_fields: Vec<&str> = rule.template.fields().collect();
    let mut parameters: Vec<Value> = path_fields
        .iter()
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if rule.body == BodyRule::None {
        for field in input.fields().filter(|f| !path_fields.contains(&f.name())) {
            parameters.push(json!({ "name": field.name(), "in": "query", "schema": field_schema(&field, schemas) }));
        }
    }
    let mut op = json!({
        "operationId": format!("{}_{}", rule.rpc.parent_service().name(), rule.rpc.name()),
        "tags": [rule.rpc.parent_service().name()],
        "parameters": parameters,
        "responses": {
            "200": { "description": "OK", "content": { "application/json": { "schema": message_ref(&rule.output(), schemas) } } },
            "default": { "description": "An error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
        },
    });
    let body = match &rule.body {
        BodyRule::None => None,
        BodyRule::All => Some(message_ref(&input, schemas)),
        BodyRule::Field(name) => input
            .get_field_by_name(name)
            .map(|f| field_schema(&f, schemas)),
    };
    if let (Some(schema), Some(map)) = (body, op.as_object_mut()) {
        map.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": schema } } }),
        );
    }
    op
}

fn message_ref(message: &MessageDescriptor, schemas: &mut BTreeMap<String, Value>) -> Value {
    if let Some(schema) = well_known(message.full_name()) {
        return schema;
    }
    let name = message.full_name().to_owned();
    if !schemas.contains_key(&name) {
        schemas.insert(name.clone(), Value::Null); // placeholder against recursion
        let properties: serde_json::Map<String, Value> = message
            .fields()
            .map(|f| (f.json_name().to_owned(), field_schema(&f, schemas)))
            .collect();
        schemas.insert(
            name.clone(),
            json!({ "type": "object", "properties": properties }),
        );
    }
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn well_known(full_name: &str) -> Option<Value> {
    match full_name {
        "google.protobuf.Timestamp" => Some(json!({ "type": "string", "format": "date-time" })),
        "google.protobuf.Struct" => Some(json!({ "type": "object", "additionalProperties": true })),
        "google.protobuf.Value" | "google.protobuf.Any" => Some(json!({})),
        _ => None,
    }
}

fn field_schema(field: &FieldDescriptor, schemas: &mut BTreeMap<String, Value>) -> Value {
    if let (true, Kind::Message(entry)) = (field.is_map(), field.kind()) {
        let value = entry.map_entry_value_field();
        return json!({ "type": "object", "additionalProperties": field_schema(&value, schemas) });
    }
    let single = match field.kind() {
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::String => json!({ "type": "string" }),
        Kind::Bytes => json!({ "type": "string", "format": "byte" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => {
            json!({ "type": "integer", "format": "int32" })
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({ "type": "string", "format": "int64" })
        }
        Kind::Float | Kind::Double => json!({ "type": "number" }),
        Kind::Enum(e) => {
            json!({ "type": "string", "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>() })
        }
        Kind::Message(m) => message_ref(&m, schemas),
    };
    if field.is_list() {
        json!({ "type": "array", "items": single })
    } else {
        single
    }
}
