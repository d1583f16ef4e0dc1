//! The fields of a form a server asks the user to fill in (MCP elicitation's `requestedSchema`).
//!
//! MCP restricts that schema to a flat object of primitive properties: text (with an optional
//! `format`), numbers and integers, booleans, single choices (`enum`, `oneOf` of titled
//! constants, or the legacy `enum` + `enumNames`) and multiple choices (an `array` whose `items`
//! are an `enum` or an `anyOf` of titled constants). [`fields`] reads such a schema into
//! [`Field`]s, which the sidebar renders, the command line asks one by one, and the bridge uses
//! to check what the user answered before the server sees it ([`check`]). A field's `default`
//! is offered as its initial value, as SEP-1034 asks of clients. A schema outside that subset is
//! refused with the property it cannot show, never shown half.

use serde_json::{Map, Value};

/// One property of the form.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The property's key in the answer.
    pub name: String,
    /// What the user reads: the schema's `title`, else the key.
    pub title: String,
    pub description: Option<String>,
    pub required: bool,
    pub kind: FieldKind,
    /// The schema's `default`, when it fits the field.
    pub default: Option<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    Text {
        format: Option<String>,
        min_length: Option<u64>,
        max_length: Option<u64>,
    },
    Number {
        integer: bool,
        minimum: Option<f64>,
        maximum: Option<f64>,
    },
    Boolean,
    /// One of the options.
    Choice {
        options: Vec<Choice>,
    },
    /// Any number of the options.
    Choices {
        options: Vec<Choice>,
        min_items: Option<u64>,
        max_items: Option<u64>,
    },
}

/// An option of a choice: the value the server gets and what the user reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// The fields of `schema`: the required ones first, each group in the order the bridge keeps
/// an object's keys (by name: a server's own order does not survive JSON parsing here).
pub fn fields(schema: &Value) -> Result<Vec<Field>, String> {
    let mut fields = read_fields(schema)?;
    fields.sort_by_key(|f| !f.required);
    Ok(fields)
}

fn read_fields(schema: &Value) -> Result<Vec<Field>, String> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return match schema.get("properties") {
            None => Ok(Vec::new()),
            Some(_) => Err("the form's `properties` is not an object".into()),
        };
    };
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    properties
        .iter()
        .map(|(name, property)| {
            let kind = kind(property).map_err(|why| format!("the form's field {name:?} {why}"))?;
            let text = |key: &str| property.get(key).and_then(Value::as_str).map(str::to_owned);
            let mut field = Field {
                name: name.clone(),
                title: text("title").unwrap_or_else(|| name.clone()),
                description: text("description"),
                required: required.contains(&name.as_str()),
                kind,
                default: None,
            };
            field.default = property.get("default").filter(|d| field.check(d).is_ok()).cloned();
            Ok(field)
        })
        .collect()
}

fn kind(property: &Value) -> Result<FieldKind, String> {
    let number = |key: &str| property.get(key).and_then(Value::as_f64);
    let count = |key: &str| property.get(key).and_then(Value::as_u64);
    match property.get("type").and_then(Value::as_str) {
        Some("string") => {
            if let Some(options) = titled(property.get("oneOf")) {
                return Ok(FieldKind::Choice { options });
            }
            if let Some(values) = strings(property.get("enum")) {
                let names = strings(property.get("enumNames")).filter(|n| n.len() == values.len());
                let labels = names.unwrap_or_else(|| values.clone());
                let options = values.into_iter().zip(labels).map(|(value, label)| Choice { value, label }).collect();
                return Ok(FieldKind::Choice { options });
            }
            let format = property.get("format").and_then(Value::as_str).map(str::to_owned);
            Ok(FieldKind::Text { format, min_length: count("minLength"), max_length: count("maxLength") })
        }
        Some(kind @ ("number" | "integer")) => {
            Ok(FieldKind::Number { integer: kind == "integer", minimum: number("minimum"), maximum: number("maximum") })
        }
        Some("boolean") => Ok(FieldKind::Boolean),
        Some("array") => {
            let items = property.get("items");
            let options = titled(items.and_then(|i| i.get("anyOf")))
                .or_else(|| strings(items.and_then(|i| i.get("enum"))).map(|values| untitled(&values)))
                .ok_or("is a list whose items are not a set of options")?;
            Ok(FieldKind::Choices { options, min_items: count("minItems"), max_items: count("maxItems") })
        }
        Some(other) => Err(format!("has type {other:?}, which a form cannot ask for")),
        None => Err("has no type".into()),
    }
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value?.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
}

fn untitled(values: &[String]) -> Vec<Choice> {
    values.iter().map(|v| Choice { value: v.clone(), label: v.clone() }).collect()
}

/// `[{const, title}, …]`.
fn titled(value: Option<&Value>) -> Option<Vec<Choice>> {
    value?
        .as_array()?
        .iter()
        .map(|option| {
            let value = option.get("const")?.as_str()?.to_owned();
            let label = option.get("title").and_then(Value::as_str).unwrap_or(&value).to_owned();
            Some(Choice { value, label })
        })
        .collect()
}

impl Field {
    /// Whether `value` is a valid answer for this field.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let title = &self.title;
        match &self.kind {
            FieldKind::Text { min_length, max_length, .. } => {
                let text = value.as_str().ok_or_else(|| format!("{title} must be text"))?;
                let length = text.chars().count() as u64;
                if min_length.is_some_and(|min| length < min) || max_length.is_some_and(|max| length > max) {
                    return Err(format!("{title} must be {} characters long", bounds(*min_length, *max_length)));
                }
                Ok(())
            }
            FieldKind::Number { integer, minimum, maximum } => {
                let number = value.as_f64().ok_or_else(|| format!("{title} must be a number"))?;
                if *integer && !(value.is_i64() || value.is_u64()) {
                    return Err(format!("{title} must be a whole number"));
                }
                if minimum.is_some_and(|min| number < min) || maximum.is_some_and(|max| number > max) {
                    let (min, max) = (minimum.map(|m| m.to_string()), maximum.map(|m| m.to_string()));
                    return Err(format!("{title} must be {}", range(min, max)));
                }
                Ok(())
            }
            FieldKind::Boolean => value.as_bool().map(|_| ()).ok_or_else(|| format!("{title} must be yes or no")),
            FieldKind::Choice { options } => match value.as_str() {
                Some(v) if options.iter().any(|o| o.value == v) => Ok(()),
                _ => Err(format!("{title} must be one of {}", listed(options))),
            },
            FieldKind::Choices { options, min_items, max_items } => {
                let picked = value.as_array().ok_or_else(|| format!("{title} must be a list"))?;
                if let Some(bad) = picked.iter().find(|p| !options.iter().any(|o| Some(o.value.as_str()) == p.as_str()))
                {
                    return Err(format!("{title}: {bad} is not one of {}", listed(options)));
                }
                let count = picked.len() as u64;
                if min_items.is_some_and(|min| count < min) || max_items.is_some_and(|max| count > max) {
                    return Err(format!("pick {} of {title}", bounds(*min_items, *max_items)));
                }
                Ok(())
            }
        }
    }

    /// What the user typed for this field, as the value the server gets: `None` for nothing
    /// typed. A choice may be typed as its value or its label; several choices comma-separated.
    pub fn parse(&self, typed: &str) -> Result<Option<Value>, String> {
        let typed = typed.trim();
        if typed.is_empty() {
            return Ok(None);
        }
        let title = &self.title;
        let choose = |options: &[Choice], word: &str| {
            options
                .iter()
                .find(|o| o.value == word || o.label.eq_ignore_ascii_case(word))
                .map(|o| Value::String(o.value.clone()))
                .ok_or_else(|| format!("{title}: {word:?} is not one of {}", listed(options)))
        };
        let value = match &self.kind {
            FieldKind::Text { .. } => Value::String(typed.to_owned()),
            FieldKind::Number { integer: true, .. } => {
                typed.parse::<i64>().map(Value::from).map_err(|_| format!("{title} must be a whole number"))?
            }
            FieldKind::Number { integer: false, .. } => typed
                .parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
                .ok_or_else(|| format!("{title} must be a number"))?,
            FieldKind::Boolean => match typed.to_ascii_lowercase().as_str() {
                "y" | "yes" | "true" | "1" | "on" => Value::Bool(true),
                "n" | "no" | "false" | "0" | "off" => Value::Bool(false),
                _ => return Err(format!("{title}: answer yes or no")),
            },
            FieldKind::Choice { options } => choose(options, typed)?,
            FieldKind::Choices { options, .. } => Value::Array(
                typed
                    .split(',')
                    .map(str::trim)
                    .filter(|w| !w.is_empty())
                    .map(|w| choose(options, w))
                    .collect::<Result<_, _>>()?,
            ),
        };
        self.check(&value)?;
        Ok(Some(value))
    }
}

fn listed(options: &[Choice]) -> String {
    options.iter().map(|o| o.label.as_str()).collect::<Vec<_>>().join(", ")
}

fn bounds(min: Option<u64>, max: Option<u64>) -> String {
    range(min.map(|m| m.to_string()), max.map(|m| m.to_string()))
}

fn range(min: Option<String>, max: Option<String>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("between {min} and {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => "valid".into(),
    }
}

/// The form's defaults: its initial answer.
pub fn defaults(fields: &[Field]) -> Map<String, Value> {
    fields.iter().filter_map(|f| Some((f.name.clone(), f.default.clone()?))).collect()
}

/// Whether `content` answers the form: every required field there, every value valid, and no
/// field the form did not ask for.
pub fn check(fields: &[Field], content: &Map<String, Value>) -> Result<(), String> {
    if let Some(extra) = content.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
        return Err(format!("the form has no field {extra:?}"));
    }
    for field in fields {
        match content.get(&field.name) {
            Some(value) => field.check(value)?,
            None if field.required => return Err(format!("{} is required", field.title)),
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The conformance suite's SEP-1034 form, and the spec's other shapes.
    fn form() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "default": 30, "minimum": 0, "maximum": 150},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
                "verified": {"type": "boolean", "default": true},
                "size": {"type": "string", "oneOf": [{"const": "s", "title": "Small"}, {"const": "l", "title": "Large"}]},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}, "maxItems": 2},
                "email": {"type": "string", "format": "email", "title": "Email", "minLength": 3}
            },
            "required": ["email"]
        })
    }

    #[test]
    fn defaults_fill_the_answer_and_only_fitting_ones() {
        let fields = fields(&form()).unwrap();
        assert_eq!(fields.len(), 8);
        assert_eq!(fields[0].name, "email", "what the form requires comes first");
        let defaults = defaults(&fields);
        assert_eq!(
            Value::Object(defaults.clone()),
            json!({"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": true})
        );
        // A default that does not fit its own field is not offered.
        let bad = json!({"properties": {"n": {"type": "integer", "default": "thirty"}}});
        assert_eq!(super::fields(&bad).unwrap()[0].default, None);
        // The defaults alone leave the required email missing.
        assert_eq!(check(&fields, &defaults).unwrap_err(), "Email is required");
    }

    #[test]
    fn what_a_user_types_becomes_the_fields_value_or_a_reason() {
        let fields = fields(&form()).unwrap();
        let by = |name: &str| fields.iter().find(|f| f.name == name).unwrap();
        assert_eq!(by("age").parse(" 41 ").unwrap(), Some(json!(41)));
        assert!(by("age").parse("41.5").unwrap_err().contains("whole number"));
        assert!(by("age").parse("200").unwrap_err().contains("between 0 and 150"));
        assert_eq!(by("score").parse("2.5").unwrap(), Some(json!(2.5)));
        assert_eq!(by("verified").parse("no").unwrap(), Some(json!(false)));
        assert_eq!(by("size").parse("large").unwrap(), Some(json!("l")), "a label picks its value");
        assert!(by("size").parse("medium").unwrap_err().contains("Small, Large"));
        assert_eq!(by("tags").parse("a, c").unwrap(), Some(json!(["a", "c"])));
        assert!(by("tags").parse("a,b,c").unwrap_err().contains("at most 2"));
        assert!(by("email").parse("x").unwrap_err().contains("at least 3"));
        assert_eq!(by("name").parse("   ").unwrap(), None, "nothing typed is no value");
    }

    #[test]
    fn a_hostile_answer_is_refused_with_the_field_it_breaks() {
        let fields = fields(&form()).unwrap();
        let answer = |extra: Value| {
            let mut content = json!({"email": "a@b.c"}).as_object().unwrap().clone();
            content.extend(extra.as_object().unwrap().clone());
            check(&fields, &content)
        };
        assert!(answer(json!({})).is_ok());
        assert!(answer(json!({"admin": true})).unwrap_err().contains("no field \"admin\""));
        assert!(answer(json!({"status": "root"})).unwrap_err().contains("one of active, inactive"));
        assert!(answer(json!({"verified": "yes"})).is_err());
        assert!(answer(json!({"age": 1.5})).is_err());
        assert!(answer(json!({"tags": ["a", "z"]})).is_err());
    }

    #[test]
    fn a_schema_outside_the_spec_is_refused_naming_the_field() {
        let nested = json!({"properties": {"address": {"type": "object"}}});
        assert!(fields(&nested).unwrap_err().contains("\"address\" has type \"object\""));
        let untyped = json!({"properties": {"x": {}}});
        assert!(fields(&untyped).unwrap_err().contains("no type"));
        assert_eq!(fields(&json!({"type": "object"})).unwrap(), vec![]);
    }
}
