//! Checking a model's answer against a page's `responseConstraint` (a JSON Schema). The schema
//! is also sent to the model as structured output, which most servers enforce while decoding;
//! this check is what makes the promise hold for those that do not: an answer that does not
//! match is an error, never handed to the page as if it did.
//!
//! The keywords structured output uses are checked — `type` (one or a list, `integer` included),
//! `enum`, `const`, `properties`, `required`, `additionalProperties` (false or a schema),
//! `items`, `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum`,
//! `exclusiveMinimum`/`exclusiveMaximum`, `anyOf`/`oneOf`/`allOf`. Others (`pattern`, `format`,
//! `$ref`) are not checked and do not fail an answer.

use serde_json::Value;

/// Where `value` breaks `schema`, as a JSON Pointer and what is wrong; `None` when it matches.
pub fn violation(schema: &Value, value: &Value) -> Option<String> {
    check(schema, value, "")
}

fn check(schema: &Value, value: &Value, at: &str) -> Option<String> {
    let Some(rules) = schema.as_object() else {
        // `true` matches everything, `false` nothing.
        return (schema == &Value::Bool(false)).then(|| format!("{}: nothing is allowed here", place(at)));
    };
    let fail = |why: String| Some(format!("{}: {why}", place(at)));
    if let Some(kinds) = rules.get("type") {
        let kinds: Vec<&str> = match kinds {
            Value::String(kind) => vec![kind],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !kinds.is_empty() && !kinds.iter().any(|kind| is(kind, value)) {
            return fail(format!("expected {}, got {}", kinds.join(" or "), kind_of(value)));
        }
    }
    if let Some(allowed) = rules.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return fail(format!("{value} is not one of {}", Value::Array(allowed.clone())));
        }
    }
    if let Some(expected) = rules.get("const") {
        if expected != value {
            return fail(format!("expected {expected}"));
        }
    }
    let number = |key: &str| rules.get(key).and_then(Value::as_f64);
    let count = |key: &str| rules.get(key).and_then(Value::as_u64).map(|n| n as usize);
    match value {
        Value::Object(fields) => {
            for name in rules.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = name.as_str().filter(|n| !fields.contains_key(*n)) {
                    return fail(format!("{name:?} is required"));
                }
            }
            let properties = rules.get("properties").and_then(Value::as_object);
            for (name, field) in fields {
                let at = format!("{at}/{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(rule) => {
                        if let Some(why) = check(rule, field, &at) {
                            return Some(why);
                        }
                    }
                    None => match rules.get("additionalProperties") {
                        Some(Value::Bool(false)) => return fail(format!("{name:?} is not allowed")),
                        Some(rule @ Value::Object(_)) => {
                            if let Some(why) = check(rule, field, &at) {
                                return Some(why);
                            }
                        }
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if count("minItems").is_some_and(|min| items.len() < min) {
                return fail(format!("{} items, fewer than minItems", items.len()));
            }
            if count("maxItems").is_some_and(|max| items.len() > max) {
                return fail(format!("{} items, more than maxItems", items.len()));
            }
            if let Some(rule) = rules.get("items").filter(|r| r.is_object() || r.is_boolean()) {
                for (index, item) in items.iter().enumerate() {
                    if let Some(why) = check(rule, item, &format!("{at}/{index}")) {
                        return Some(why);
                    }
                }
            }
        }
        Value::String(text) => {
            let chars = text.chars().count();
            if count("minLength").is_some_and(|min| chars < min) {
                return fail(format!("{chars} characters, fewer than minLength"));
            }
            if count("maxLength").is_some_and(|max| chars > max) {
                return fail(format!("{chars} characters, more than maxLength"));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or_default();
            let bounds = [
                ("minimum", number("minimum").is_some_and(|m| n < m)),
                ("maximum", number("maximum").is_some_and(|m| n > m)),
                ("exclusiveMinimum", number("exclusiveMinimum").is_some_and(|m| n <= m)),
                ("exclusiveMaximum", number("exclusiveMaximum").is_some_and(|m| n >= m)),
            ];
            if let Some((bound, _)) = bounds.iter().find(|(_, broken)| *broken) {
                return fail(format!("{n} is outside its {bound}"));
            }
        }
        _ => {}
    }
    if let Some(all) = rules.get("allOf").and_then(Value::as_array) {
        if let Some(why) = all.iter().find_map(|rule| check(rule, value, at)) {
            return Some(why);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(choices) = rules.get(key).and_then(Value::as_array) {
            let matching = choices.iter().filter(|rule| check(rule, value, at).is_none()).count();
            if matching == 0 || (key == "oneOf" && matching > 1) {
                return fail(format!("matches {matching} of the {key} choices"));
            }
        }
    }
    None
}

fn is(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        _ => true,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Number(_) => "a number",
    }
}

fn place(at: &str) -> &str {
    if at.is_empty() {
        "the answer"
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_held_to_the_schema_a_page_gave() {
        let schema = json!({
            "type": "object",
            "properties": {
                "rating": {"type": "integer", "minimum": 0, "maximum": 5},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["good", "bad"]}, "maxItems": 2},
                "note": {"type": ["string", "null"], "maxLength": 10},
            },
            "required": ["rating"],
            "additionalProperties": false,
        });
        assert_eq!(violation(&schema, &json!({"rating": 4, "tags": ["good"], "note": null})), None);
        let broken = [
            (json!({"tags": []}), "\"rating\" is required"),
            (json!({"rating": 4.5}), "/rating: expected integer, got a number"),
            (json!({"rating": 9}), "/rating: 9 is outside its maximum"),
            (json!({"rating": 1, "tags": ["meh"]}), "/tags/0: \"meh\" is not one of"),
            (json!({"rating": 1, "tags": ["good", "good", "bad"]}), "/tags: 3 items, more than maxItems"),
            (json!({"rating": 1, "note": "far too long a note"}), "/note: 19 characters"),
            (json!({"rating": 1, "extra": true}), "\"extra\" is not allowed"),
            (json!([1]), "the answer: expected object, got an array"),
        ];
        for (answer, says) in broken {
            let why = violation(&schema, &answer).unwrap_or_else(|| panic!("{answer} passed"));
            assert!(why.contains(says), "{answer}: {why}");
        }
        let either = json!({"oneOf": [{"type": "string"}, {"type": "number", "minimum": 0}]});
        assert_eq!(violation(&either, &json!(3)), None);
        assert!(violation(&either, &json!(-3)).is_some());
        assert_eq!(violation(&json!({"pattern": "^x$", "format": "email"}), &json!("y")), None, "not checked");
    }
}
