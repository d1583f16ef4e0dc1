//! REST APIs as services: an OpenAPI 3.x document made into an MCP server's tools.
//!
//! Each operation of the document becomes a tool: its name is the `operationId` (or the method
//! and path), its description the summary, its input schema an object of the path, query and
//! header parameters plus `body` for a JSON request body — every `$ref` inside the document
//! resolved (a cycle is cut after [`MAX_DEPTH`] levels). A `GET`/`HEAD` is read-only, a `DELETE`
//! destructive, as the tools' annotations say. [`server`] serves them over stdio as an MCP server
//! (`harbor-bridge openapi-server`), so a service is a Harbor server like any other: supervised,
//! namespaced, behind the one policy pipeline, its calls audited, its timeouts the registry's;
//! each endpoint also has its own [`breaker`], and the service may serve skills (SEP-2640) that
//! say how to use it.

pub mod breaker;
pub mod server;

use serde_json::{json, Map, Value};

/// How deep `$ref`s are followed before a cycle is cut.
pub const MAX_DEPTH: usize = 16;

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub location: Location,
    pub required: bool,
}

/// One operation as a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub name: String,
    pub method: http::Method,
    /// The path template, as the document writes it (`/pets/{petId}`).
    pub path: String,
    pub description: String,
    pub params: Vec<Param>,
    /// Whether it takes a JSON body, and whether the body is required.
    pub body: Option<bool>,
    pub input_schema: Value,
}

impl Operation {
    /// The tool's annotations: read-only for a GET or HEAD, destructive for a DELETE.
    pub fn annotations(&self) -> Value {
        let read_only = matches!(self.method, http::Method::GET | http::Method::HEAD);
        json!({
            "readOnlyHint": read_only,
            "destructiveHint": self.method == http::Method::DELETE,
            "idempotentHint": read_only || matches!(self.method, http::Method::PUT | http::Method::DELETE),
            "openWorldHint": true,
        })
    }
}

/// How the service wants its callers to prove who they are (`components.securitySchemes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Basic,
    ApiKey { name: String, location: Location },
    ClientCredentials { token_url: String, scopes: Vec<String> },
}

/// A document read into what the server needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub title: String,
    /// The first server URL (relative ones resolved against where the document came from).
    pub base: Option<String>,
    pub operations: Vec<Operation>,
    pub schemes: Vec<Scheme>,
    /// Operations left out, and why (a form body, say).
    pub skipped: Vec<String>,
}

/// Reads an OpenAPI 3.0 or 3.1 document (JSON or YAML text).
pub fn parse(text: &str) -> Result<Service, String> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| format!("the document is not JSON or YAML: {e}"))?;
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or_default();
    if !version.starts_with("3.") {
        return Err(match doc.get("swagger") {
            Some(_) => "this is a Swagger 2.0 document; Harbor reads OpenAPI 3.0 and 3.1".to_owned(),
            None => "this is not an OpenAPI 3.x document (no `openapi: 3.x`)".to_owned(),
        });
    }
    let title = doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("REST API").to_owned();
    let base = doc.pointer("/servers/0/url").and_then(Value::as_str).map(str::to_owned);
    let mut service = Service { title, base, operations: Vec::new(), schemes: schemes(&doc), skipped: Vec::new() };
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err("the document has no `paths`".into());
    };
    for (path, item) in paths {
        let item = resolve(&doc, item, 0);
        let shared: Vec<Value> = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            let Some(op) = item.get(method) else { continue };
            match operation(&doc, path, method, op, &shared) {
                Ok(mut operation) => {
                    let base_name = operation.name.clone();
                    let mut n = 2;
                    while service.operations.iter().any(|o| o.name == operation.name) {
                        operation.name = format!("{}_{n}", base_name.chars().take(60).collect::<String>());
                        n += 1;
                    }
                    service.operations.push(operation);
                }
                Err(why) => service.skipped.push(format!("{} {path}: {why}", method.to_uppercase())),
            }
        }
    }
    if service.operations.is_empty() {
        return Err(format!("the document has no operation Harbor can call ({})", service.skipped.join("; ")));
    }
    Ok(service)
}

fn operation(doc: &Value, path: &str, method: &str, op: &Value, shared: &[Value]) -> Result<Operation, String> {
    let op = resolve(doc, op, 0);
    let name = op
        .get("operationId")
        .and_then(Value::as_str)
        .map(tool_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| tool_name(&format!("{method}_{path}")));
    let description = [op.get("summary"), op.get("description")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut params = Vec::new();
    // The operation's own parameters replace the path's of the same name and place.
    let own: Vec<Value> = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut all: Vec<Value> = own.iter().map(|p| resolve(doc, p, 0)).collect();
    for inherited in shared.iter().map(|p| resolve(doc, p, 0)) {
        if !all.iter().any(|p| p["name"] == inherited["name"] && p["in"] == inherited["in"]) {
            all.push(inherited);
        }
    }
    for param in all {
        let name = param["name"].as_str().ok_or("a parameter has no name")?.to_owned();
        let location = match param["in"].as_str() {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            Some("cookie") => continue,
            other => return Err(format!("parameter {name:?} is in {other:?}")),
        };
        let is_required = location == Location::Path || param["required"] == true;
        let mut schema = param.get("schema").map(|s| resolve(doc, s, 0)).unwrap_or_else(|| json!({}));
        if let (Some(text), Some(object)) = (param["description"].as_str(), schema.as_object_mut()) {
            object.entry("description").or_insert(json!(text));
        }
        if is_required {
            required.push(json!(name));
        }
        properties.insert(name.clone(), schema);
        params.push(Param { name, location, required: is_required });
    }
    let mut body = None;
    if let Some(request) = op.get("requestBody").map(|b| resolve(doc, b, 0)) {
        let content = request.get("content").and_then(Value::as_object).cloned().unwrap_or_default();
        let json_type = content.keys().find(|t| t.starts_with("application/json") || t.ends_with("+json"));
        match json_type {
            Some(json_type) => {
                let schema = content[json_type].get("schema").map(|s| resolve(doc, s, 0)).unwrap_or_else(|| json!({}));
                let is_required = request["required"] == true;
                if properties.contains_key("body") {
                    return Err("a parameter is named `body`, which the request body's argument is".into());
                }
                if is_required {
                    required.push(json!("body"));
                }
                properties.insert("body".into(), schema);
                body = Some(is_required);
            }
            None if request["required"] == true => {
                let types: Vec<&String> = content.keys().collect();
                return Err(format!("its request body is {types:?}; Harbor sends JSON bodies only"));
            }
            None => {}
        }
    }
    let input_schema = json!({ "type": "object", "properties": properties, "required": required });
    let method = method.to_uppercase().parse::<http::Method>().map_err(|e| e.to_string())?;
    Ok(Operation { name, method, path: path.to_owned(), description, params, body, input_schema })
}

/// A tool name models take: `[A-Za-z0-9_-]`, at most 64 characters.
fn tool_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect::<String>()
        .trim_matches('_')
        .chars()
        .take(64)
        .collect();
    let mut collapsed = String::with_capacity(name.len());
    for c in name.chars() {
        if !(c == '_' && collapsed.ends_with('_')) {
            collapsed.push(c);
        }
    }
    collapsed
}

/// `value` with every local `$ref` replaced by what it points at, `depth` levels in.
pub fn resolve(doc: &Value, value: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return json!({ "description": "(a schema that refers to itself; cut here)" });
    }
    match value {
        Value::Object(object) => {
            if let Some(target) = object.get("$ref").and_then(Value::as_str) {
                let found = target.strip_prefix('#').and_then(|pointer| doc.pointer(pointer));
                return match found {
                    Some(found) => resolve(doc, found, depth + 1),
                    // A reference to another document is left as it is: nothing is fetched.
                    None => value.clone(),
                };
            }
            Value::Object(object.iter().map(|(k, v)| (k.clone(), resolve(doc, v, depth + 1))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(doc, v, depth + 1)).collect()),
        other => other.clone(),
    }
}

fn schemes(doc: &Value) -> Vec<Scheme> {
    let Some(all) = doc.pointer("/components/securitySchemes").and_then(Value::as_object) else { return Vec::new() };
    all.values()
        .map(|s| resolve(doc, s, 0))
        .filter_map(|s| match s["type"].as_str()? {
            "http" => match s["scheme"].as_str()?.to_ascii_lowercase().as_str() {
                "bearer" => Some(Scheme::Bearer),
                "basic" => Some(Scheme::Basic),
                _ => None,
            },
            "apiKey" => Some(Scheme::ApiKey {
                name: s["name"].as_str()?.to_owned(),
                location: match s["in"].as_str()? {
                    "query" => Location::Query,
                    "header" => Location::Header,
                    _ => return None,
                },
            }),
            "oauth2" => {
                let flow = s.pointer("/flows/clientCredentials")?;
                Some(Scheme::ClientCredentials {
                    token_url: flow["tokenUrl"].as_str()?.to_owned(),
                    scopes: flow["scopes"].as_object().map(|s| s.keys().cloned().collect()).unwrap_or_default(),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETS: &str = r##"
openapi: 3.1.0
info: { title: Pets }
servers: [{ url: "http://127.0.0.1:9/v1" }]
components:
  securitySchemes:
    token: { type: http, scheme: bearer }
    key: { type: apiKey, in: header, name: X-Api-Key }
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: { type: string }
        friend: { $ref: "#/components/schemas/Pet" }
  parameters:
    PetId: { name: petId, in: path, required: true, schema: { type: integer }, description: The pet. }
paths:
  /pets:
    get:
      operationId: listPets
      summary: Every pet.
      parameters: [{ name: limit, in: query, schema: { type: integer } }]
    post:
      operationId: create pet!
      requestBody:
        required: true
        content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } }
  /pets/{petId}:
    parameters: [{ $ref: "#/components/parameters/PetId" }]
    get: { operationId: getPet }
    delete: { summary: Remove a pet. }
  /upload:
    post:
      requestBody:
        required: true
        content: { multipart/form-data: { schema: { type: object } } }
"##;

    #[test]
    fn each_operation_becomes_a_tool_with_its_parameters_and_body() {
        let service = parse(PETS).unwrap();
        let names: Vec<&str> = service.operations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["listPets", "create_pet", "getPet", "delete_pets_petId"]);
        assert_eq!(service.base.as_deref(), Some("http://127.0.0.1:9/v1"));
        let list = &service.operations[0];
        assert_eq!(list.input_schema["properties"]["limit"]["type"], "integer");
        assert_eq!(list.input_schema["required"], json!([]));
        assert_eq!(list.annotations()["readOnlyHint"], true);
        let create = &service.operations[1];
        assert_eq!(create.body, Some(true));
        assert_eq!(create.input_schema["required"], json!(["body"]));
        assert_eq!(create.input_schema["properties"]["body"]["properties"]["name"]["type"], "string");
        let get = &service.operations[2];
        assert_eq!(get.params, [Param { name: "petId".into(), location: Location::Path, required: true }]);
        assert_eq!(get.input_schema["properties"]["petId"]["description"], "The pet.");
        assert_eq!(service.operations[3].annotations()["destructiveHint"], true);
        assert!(service.skipped.iter().any(|s| s.contains("/upload") && s.contains("JSON")), "{:?}", service.skipped);
        assert!(service.schemes.contains(&Scheme::Bearer), "{:?}", service.schemes);
        let key = Scheme::ApiKey { name: "X-Api-Key".into(), location: Location::Header };
        assert!(service.schemes.contains(&key), "{:?}", service.schemes);
    }

    #[test]
    fn a_schema_that_refers_to_itself_is_cut_not_followed_forever() {
        let service = parse(PETS).unwrap();
        let body = &service.operations[1].input_schema["properties"]["body"];
        let mut depth = 0;
        let mut node = body;
        while let Some(friend) = node.pointer("/properties/friend") {
            node = friend;
            depth += 1;
        }
        assert!(depth > 0 && depth <= MAX_DEPTH, "{depth}");
    }

    #[test]
    fn documents_harbor_cannot_use_say_why() {
        assert!(parse("swagger: '2.0'\npaths: {}\n").unwrap_err().contains("Swagger 2.0"));
        assert!(parse("openapi: 3.0.0\ninfo: {title: x}\n").unwrap_err().contains("no `paths`"));
        assert!(parse("{not yaml").is_err());
        assert_eq!(tool_name("a b/c::d"), "a_b_c_d");
    }
}
