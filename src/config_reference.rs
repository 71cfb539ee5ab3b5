//! `urna config reference`: the reference of `station.toml` and `registry.toml`, generated from
//! the config types' own schemas (their serde attributes and doc comments, through schemars), so
//! that it cannot drift from what the station and the registry accept. The rendering is written
//! by hand because no crate renders a JSON schema as a TOML key reference;
//! `hw-docs/config-reference.md` is its output.

use serde_json::{Map, Value};

/// A Markdown reference of the configuration whose root type has `schema`, titled `title`.
pub fn markdown(title: &str, file: &str, schema: &schemars::Schema) -> String {
    let root = schema.as_value();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = format!("## {title} (`{file}`)\n\n");
    if let Some(text) = root.get("description").and_then(Value::as_str) {
        out.push_str(&one_line(text));
        out.push_str("\n\n");
    }
    let mut walker = Walker {
        defs: &defs,
        out: &mut out,
    };
    walker.table("", root);
    out
}

struct Walker<'a> {
    defs: &'a Map<String, Value>,
    out: &'a mut String,
}

/// What a key holds, once references and `Option` are looked through.
enum Shape<'a> {
    /// A table of keys of its own.
    Table(&'a Value),
    /// An array of tables: `[[key]]`.
    Tables(&'a Value),
    /// A map of tables by name: `[key.NAME]`.
    Named(&'a Value),
    /// A plain value, described in words.
    Value(String),
}

impl<'a> Walker<'a> {
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix("#/$defs/")
                .and_then(|name| self.defs.get(name))
                .map_or(schema, |def| self.resolve(def)),
            None => schema,
        }
    }

    /// The schema inside an `Option`, or the schema itself.
    fn unwrap_option(&self, schema: &'a Value) -> (&'a Value, bool) {
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            let not_null: Vec<&Value> = any
                .iter()
                .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if not_null.len() == 1 && any.len() == 2 {
                return (self.resolve(not_null[0]), true);
            }
        }
        (self.resolve(schema), false)
    }

    fn shape(&self, schema: &'a Value) -> Shape<'a> {
        if schema.get("properties").is_some() {
            return Shape::Table(schema);
        }
        if let Some(items) = schema.get("items") {
            let item = self.resolve(items);
            if item.get("properties").is_some() {
                return Shape::Tables(item);
            }
            return Shape::Value(format!("list of {}", self.words(item)));
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            let value = self.resolve(values);
            if value.get("properties").is_some() {
                return Shape::Named(value);
            }
        }
        Shape::Value(self.words(schema))
    }

    /// A plain value's type in words: `integer`, `"a" | "b"`, `one of: kind = "tcp" …`.
    fn words(&self, schema: &Value) -> String {
        let schema = self.resolve(schema);
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return values
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(" \\| ");
        }
        if let Some(value) = schema.get("const") {
            return value.to_string();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(variants) = schema.get(key).and_then(Value::as_array) {
                return variants
                    .iter()
                    .map(|v| self.variant(self.resolve(v)))
                    .collect::<Vec<_>>()
                    .join(" \\| ");
            }
        }
        let mut kind = match schema.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect::<Vec<_>>()
                .join(" or "),
            _ => "value".to_owned(),
        };
        if let (Some(min), Some(max)) = (schema.get("minimum"), schema.get("maximum")) {
            kind.push_str(&format!(" ({min}–{max})"));
        }
        kind
    }

    /// One variant of an enum: a constant, or an inline table such as a connection kind.
    fn variant(&self, schema: &Value) -> String {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let fields = props
                .iter()
                .map(|(name, field)| match field.get("const") {
                    Some(tag) => format!("{name} = {tag}"),
                    None => name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            return format!("{{ {fields} }}");
        }
        self.words(schema)
    }

    fn table(&mut self, path: &str, schema: &'a Value) {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut nested = Vec::new();
        self.out
            .push_str("| key | type | default | what it is |\n|---|---|---|---|\n");
        for (name, property) in props {
            let (inner, optional) = self.unwrap_option(property);
            let description = property
                .get("description")
                .or_else(|| inner.get("description"))
                .and_then(Value::as_str)
                .map(one_line)
                .unwrap_or_default();
            let default = match property.get("default") {
                None if required.contains(&name.as_str()) => "required".to_owned(),
                Some(Value::Null) | None if optional => "none".to_owned(),
                Some(Value::Null) => "none".to_owned(),
                Some(Value::Object(map)) if map.is_empty() => "none".to_owned(),
                Some(value) => format!("`{}`", compact(value)),
                None => String::new(),
            };
            let key = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let kind = match self.shape(inner) {
                Shape::Table(table) => {
                    nested.push((format!("[{key}]"), key.clone(), table));
                    format!("table `[{key}]`")
                }
                Shape::Tables(table) => {
                    nested.push((format!("[[{key}]]"), key.clone(), table));
                    format!("tables `[[{key}]]`")
                }
                Shape::Named(table) => {
                    let named = format!("{key}.NAME");
                    nested.push((format!("[{named}]"), named.clone(), table));
                    format!("tables `[{named}]`")
                }
                Shape::Value(words) => words,
            };
            self.out.push_str(&format!(
                "| `{name}` | {kind} | {default} | {} |\n",
                description.replace('|', "\\|")
            ));
        }
        self.out.push('\n');
        for (heading, key, table) in nested {
            self.out.push_str(&format!("### `{heading}`\n\n"));
            if let Some(text) = table.get("description").and_then(Value::as_str) {
                self.out.push_str(&one_line(text));
                self.out.push_str("\n\n");
            }
            self.table(&key, table);
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn compact(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields = map
                .iter()
                .map(|(k, v)| format!("{k} = {}", compact(v)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("{{ {fields} }}")
        }
        other => other.to_string(),
    }
}

/// The whole reference, as `hw-docs/config-reference.md` holds it.
pub fn document() -> String {
    let mut out = String::from(
        "# Configuration reference

         Generated from the code by `urna config reference`; a test fails when this file and the          code differ. Every key is checked at start-up, and an unknown key is refused, naming it.

",
    );
    out.push_str(&markdown(
        "Station",
        "station.toml",
        &schemars::schema_for!(station::config::StationConfig),
    ));
    out.push_str(&markdown(
        "Registry",
        "registry.toml",
        &schemars::schema_for!(registry::ServerConfig),
    ));
    out
}
