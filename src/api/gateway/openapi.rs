//! `/openapi.json`: an OpenAPI 3 document generated from the same descriptors and
//! annotations the bridge routes by, so the two cannot disagree. The `buf.validate.field`
//! rules of the proto become the schemas' `pattern`, `minLength`, `maxLength`, `minimum` and
//! `maximum`, so that clients know in advance what the server refuses.

use std::collections::BTreeMap;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value as Reflected,
};
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
        .map(|name| {
            let schema = input.get_field_by_name(name).map_or_else(
                || json!({ "type": "string" }),
                |f| field_schema(&f, schemas),
            );
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect();
    if rule.body == BodyRule::None {
        for field in input.fields().filter(|f| !path_fields.contains(&f.name())) {
            let mut parameter = json!({ "name": field.name(), "in": "query", "schema": field_schema(&field, schemas) });
            if field_rules(&field).is_some_and(|r| is_required(&r)) {
                parameter["required"] = Value::Bool(true);
            }
            parameters.push(parameter);
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
        // The path binding wins over a body copy, so the body schema leaves path fields out.
        BodyRule::All => {
            let mut schema = object_schema(&input, &path_fields, schemas);
            // The bridge refuses unknown body fields. Only request bodies say so: response
            // schemas stay open so that clients keep working when a field is added.
            schema["additionalProperties"] = Value::Bool(false);
            Some(schema)
        }
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
        let schema = object_schema(message, &[], schemas);
        schemas.insert(name.clone(), schema);
    }
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Returns the object schema of a message without the `skip` fields; fields whose rules say
/// `required` must be present.
fn object_schema(
    message: &MessageDescriptor,
    skip: &[&str],
    schemas: &mut BTreeMap<String, Value>,
) -> Value {
    let fields: Vec<FieldDescriptor> = message
        .fields()
        .filter(|f| !skip.contains(&f.name()))
        .collect();
    let properties: serde_json::Map<String, Value> = fields
        .iter()
        .map(|f| (f.json_name().to_owned(), field_schema(f, schemas)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| !f.is_list() && field_rules(f).is_some_and(|r| is_required(&r)))
        .map(FieldDescriptor::json_name)
        .collect();
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
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
            // A required enum refuses its zero value (`…_UNSPECIFIED`).
            let required = !field.is_list() && field_rules(field).is_some_and(|r| is_required(&r));
            let names: Vec<String> = e
                .values()
                .filter(|v| !(required && v.number() == 0))
                .map(|v| v.name().to_owned())
                .collect();
            json!({ "type": "string", "enum": names })
        }
        Kind::Message(m) => message_ref(&m, schemas),
    };
    let rules = field_rules(field);
    if field.is_list() {
        let items = rules
            .as_ref()
            .and_then(|r| set_message(r, "repeated"))
            .and_then(|r| set_message(&r, "items"));
        json!({ "type": "array", "items": constrained(single, items.as_ref()) })
    } else {
        constrained(single, rules.as_ref())
    }
}

/// Returns a field's `buf.validate.field` rules, when it has any.
fn field_rules(field: &FieldDescriptor) -> Option<DynamicMessage> {
    let extension = field
        .parent_pool()
        .get_extension_by_name("buf.validate.field")?;
    let options = field.options();
    if !options.has_extension(&extension) {
        return None;
    }
    match options.get_extension(&extension).into_owned() {
        Reflected::Message(rules) => Some(rules),
        _ => None,
    }
}

/// Returns a set message-typed field of `message` (a oneof member such as `string`).
fn set_message(message: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    if !message.has_field_by_name(name) {
        return None;
    }
    match message.get_field_by_name(name)?.into_owned() {
        Reflected::Message(m) => Some(m),
        _ => None,
    }
}

/// Returns a set scalar field of `message`.
fn set_value(message: &DynamicMessage, name: &str) -> Option<Reflected> {
    if !message.has_field_by_name(name) {
        return None;
    }
    message.get_field_by_name(name).map(|v| v.into_owned())
}

fn is_required(rules: &DynamicMessage) -> bool {
    matches!(set_value(rules, "required"), Some(Reflected::Bool(true)))
}

/// Tells whether the rules hold only for a non-empty value (`IGNORE_IF_ZERO_VALUE`).
fn ignores_empty(rules: &DynamicMessage) -> bool {
    matches!(set_value(rules, "ignore"), Some(Reflected::EnumNumber(1)))
}

/// Adds the rules that JSON Schema can state to a scalar schema.
fn constrained(mut schema: Value, rules: Option<&DynamicMessage>) -> Value {
    let (Some(rules), Some(map)) = (rules, schema.as_object_mut()) else {
        return schema;
    };
    let optional = ignores_empty(rules);
    let mut min_length = (is_required(rules) && !optional).then_some(1u64);
    let mut max_length = None;
    if let Some(string) = set_message(rules, "string") {
        if let Some(Reflected::String(pattern)) = set_value(&string, "pattern") {
            // An empty value skips the rules, so the schema admits it beside the pattern.
            let pattern = if optional {
                format!("^$|{pattern}")
            } else {
                pattern
            };
            map.insert("pattern".into(), Value::String(pattern));
        }
        if let Some(Reflected::List(known)) = set_value(&string, "in") {
            let mut values: Vec<Value> = optional.then(|| json!("")).into_iter().collect();
            values.extend(known.iter().filter_map(|v| v.as_str()).map(|v| json!(v)));
            map.insert("enum".into(), Value::Array(values));
        }
        let number = |name| match set_value(&string, name) {
            Some(Reflected::U64(n)) => Some(n),
            _ => None,
        };
        if let Some(len) = number("len") {
            min_length = Some(len);
            max_length = Some(len);
        }
        if let Some(min) = number("min_len") {
            min_length = Some(min_length.map_or(min, |m| m.max(min)));
        }
        // Bytes bound characters from above: a text of at most N bytes has at most N
        // characters. JSON Schema cannot say more; the server still counts bytes.
        for max in [number("max_len"), number("max_bytes")]
            .into_iter()
            .flatten()
        {
            max_length = Some(max_length.map_or(max, |m: u64| m.min(max)));
        }
    }
    if optional {
        min_length = None;
    }
    let free_text = map.get("type") == Some(&json!("string")) && !map.contains_key("enum");
    if let Some(min) = min_length.filter(|_| free_text) {
        map.insert("minLength".into(), min.into());
    }
    if let Some(max) = max_length {
        map.insert("maxLength".into(), max.into());
    }
    if let Some(int) = set_message(rules, "int32") {
        let bound = |name| match set_value(&int, name) {
            Some(Reflected::I32(n)) => Some(n),
            _ => None,
        };
        if let Some(n) = bound("gte") {
            map.insert("minimum".into(), n.into());
        }
        if let Some(n) = bound("gt") {
            map.insert("minimum".into(), n.into());
            map.insert("exclusiveMinimum".into(), true.into());
        }
        if let Some(n) = bound("lte") {
            map.insert("maximum".into(), n.into());
        }
        if let Some(n) = bound("lt") {
            map.insert("maximum".into(), n.into());
            map.insert("exclusiveMaximum".into(), true.into());
        }
    }
    schema
}
