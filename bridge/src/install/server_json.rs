//! MCP Registry `server.json` (the official schema, camelCase since 2025-09-29): the ways a server
//! can be run — `packages` (npm, pypi, oci, mcpb, …) and `remotes` (Streamable HTTP, SSE) — each
//! turned into the inputs it needs and, once those are given, an exact argv, environment and URL,
//! built without a shell.
//!
//! Package arguments become arguments in order: a positional one is its value (or the user's
//! input, or its default); a named one is its name followed by its value. `{variable}` in a value
//! is replaced from that argument's `variables`. Environment variables marked `isSecret` and
//! secret headers are named for the secret store, never put in the launch. Runtime arguments are
//! for the `runtimeHint` (npx, uvx, docker) that Harbor does not use for packages it installs,
//! so they are left out.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Package;

pub use harbor_protocol::api::install::{Described, Field, RunOption};

/// How to run an option with the user's values.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Install {
        package: Package,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Variable → value, for the secret store.
        secrets: BTreeMap<String, String>,
    },
    Remote {
        url: String,
        headers: BTreeMap<String, String>,
        /// Variable → value, for the secret store.
        secrets: BTreeMap<String, String>,
    },
    /// An OCI image run with the Docker runtime (hardened; no network until the user allows it).
    Container {
        image: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Variable → value, for the secret store.
        secrets: BTreeMap<String, String>,
    },
    /// An `.mcpb` bundle to download and check; its own manifest says how it runs.
    Bundle { url: String, sha256: String },
}

/// Reads a `server.json` document.
pub fn describe(document: &Value) -> Result<Described, String> {
    let text = |key: &str| document[key].as_str().map(str::to_owned);
    let name = text("name").ok_or("server.json has no \"name\"")?;
    let mut options = Vec::new();
    for package in document["packages"].as_array().into_iter().flatten() {
        let kind = package["registryType"].as_str().ok_or("a package has no \"registryType\"")?.to_owned();
        let target = package["identifier"].as_str().ok_or("a package has no \"identifier\"")?.to_owned();
        let mut fields = Vec::new();
        for (n, argument) in package["packageArguments"].as_array().into_iter().flatten().enumerate() {
            fields.extend(argument_fields(&format!("arg:{n}"), argument));
        }
        for variable in package["environmentVariables"].as_array().into_iter().flatten() {
            let name = variable["name"].as_str().ok_or("an environment variable has no \"name\"")?;
            if variable["value"].is_string() && variable["variables"].is_null() {
                continue;
            }
            fields.push(field(&format!("env:{name}"), name, variable));
        }
        let transport = package["transport"]["type"].as_str().unwrap_or("stdio");
        let unsupported = match kind.as_str() {
            "npm" | "pypi" if transport == "stdio" => None,
            "npm" | "pypi" => Some(format!(
                "its {transport} transport needs the package to serve HTTP itself; Harbor runs packages over stdio"
            )),
            "oci" if transport == "stdio" => None,
            "oci" => Some(format!("its {transport} transport is not supported; Harbor runs images over stdio")),
            "mcpb" if package["fileSha256"].is_string() => None,
            "mcpb" => Some("the bundle has no fileSha256, and Harbor does not run downloads it cannot check".into()),
            other => Some(format!("{other} packages are not supported")),
        };
        options.push(RunOption { index: options.len(), kind, target, fields, unsupported });
    }
    for remote in document["remotes"].as_array().into_iter().flatten() {
        let kind = remote["type"].as_str().unwrap_or("streamable-http").to_owned();
        let url = remote["url"].as_str().ok_or("a remote has no \"url\"")?.to_owned();
        let mut fields: Vec<Field> = variables(&remote["variables"]);
        for header in remote["headers"].as_array().into_iter().flatten() {
            let name = header["name"].as_str().ok_or("a header has no \"name\"")?;
            if header["value"].is_string()
                && !header["value"].as_str().unwrap_or_default().contains('{')
                && header["isSecret"] != true
            {
                continue;
            }
            fields.push(field(&format!("header:{name}"), name, header));
        }
        let unsupported =
            (kind == "sse").then(|| "SSE remotes are not supported; Harbor speaks Streamable HTTP".to_owned());
        options.push(RunOption { index: options.len(), kind, target: url, fields, unsupported });
    }
    if options.is_empty() {
        return Err("server.json names no packages and no remotes".into());
    }
    Ok(Described {
        name,
        description: text("description").unwrap_or_default(),
        version: text("version").unwrap_or_default(),
        options,
    })
}

fn field(key: &str, fallback: &str, input: &Value) -> Field {
    Field {
        key: key.to_owned(),
        label: input["description"].as_str().or(input["valueHint"].as_str()).unwrap_or(fallback).to_owned(),
        required: input["isRequired"] == true,
        secret: input["isSecret"] == true,
        default: input["default"].as_str().map(str::to_owned),
        choices: input["choices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
    }
}

fn variables(map: &Value) -> Vec<Field> {
    map.as_object().into_iter().flatten().map(|(name, input)| field(&format!("var:{name}"), name, input)).collect()
}

/// The fields of one package argument: its own value when it takes one from the user, and the
/// variables its value refers to.
fn argument_fields(key: &str, argument: &Value) -> Vec<Field> {
    let mut fields = variables(&argument["variables"]);
    if argument["value"].is_null() {
        let fallback = argument["name"].as_str().or(argument["valueHint"].as_str()).unwrap_or("value");
        fields.insert(0, field(key, fallback, argument));
    }
    fields
}

/// The plan for option `index` with the user's `values` (keyed as [`Field::key`]).
pub fn plan(document: &Value, index: usize, values: &BTreeMap<String, String>) -> Result<Plan, String> {
    let described = describe(document)?;
    let option = described.options.get(index).ok_or_else(|| format!("server.json has no option {index}"))?;
    if let Some(why) = &option.unsupported {
        return Err(format!("option {index} ({} {}): {why}", option.kind, option.target));
    }
    let mut missing = Vec::new();
    let mut value_of = |field: &Field| -> Option<String> {
        let given = values.get(&field.key).filter(|v| !v.is_empty()).cloned().or_else(|| field.default.clone());
        match &given {
            None if field.required => missing.push(field.label.clone()),
            Some(value) if !field.choices.is_empty() && !field.choices.contains(value) => {
                missing.push(format!("{} (one of {})", field.label, field.choices.join(", ")))
            }
            _ => {}
        }
        given
    };
    let resolved: BTreeMap<String, Option<String>> =
        option.fields.iter().map(|f| (f.key.clone(), value_of(f))).collect();
    if !missing.is_empty() {
        return Err(format!("needed: {}", missing.join("; ")));
    }
    let fill = |text: &str| -> String {
        let mut out = text.to_owned();
        for (key, value) in &resolved {
            if let (Some(name), Some(value)) = (key.strip_prefix("var:"), value) {
                out = out.replace(&format!("{{{name}}}"), value);
            }
        }
        out
    };
    let secret_keys: Vec<&str> = option.fields.iter().filter(|f| f.secret).map(|f| f.key.as_str()).collect();
    if index < document["packages"].as_array().map_or(0, Vec::len) {
        let package = &document["packages"][index];
        if option.kind == "mcpb" {
            let sha256 = package["fileSha256"].as_str().unwrap_or_default().to_owned();
            return Ok(Plan::Bundle { url: option.target.clone(), sha256 });
        }
        let mut args = Vec::new();
        for (n, argument) in package["packageArguments"].as_array().into_iter().flatten().enumerate() {
            let value = match argument["value"].as_str() {
                Some(fixed) => Some(fill(fixed)),
                None => resolved.get(&format!("arg:{n}")).cloned().flatten().map(|v| fill(&v)),
            };
            let Some(value) = value else { continue };
            match (argument["type"].as_str(), argument["name"].as_str()) {
                (Some("named"), Some(name)) => {
                    args.push(name.to_owned());
                    args.push(value);
                }
                _ => args.push(value),
            }
        }
        let mut env = BTreeMap::new();
        let mut secrets = BTreeMap::new();
        for variable in package["environmentVariables"].as_array().into_iter().flatten() {
            let name = variable["name"].as_str().unwrap_or_default().to_owned();
            let key = format!("env:{name}");
            if secret_keys.contains(&key.as_str()) {
                if let Some(value) = resolved.get(&key).cloned().flatten() {
                    secrets.insert(name, value);
                }
                continue;
            }
            let value = match variable["value"].as_str() {
                Some(fixed) => Some(fill(fixed)),
                None => resolved.get(&key).cloned().flatten(),
            };
            if let Some(value) = value {
                env.insert(name, value);
            }
        }
        let version = package["version"].as_str().map(str::to_owned);
        let identifier = option.target.clone();
        if option.kind == "oci" {
            // The identifier may carry its tag (or digest); else the version is the tag.
            let tagged = identifier.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@'));
            let image = match version {
                Some(version) if !tagged => format!("{identifier}:{version}"),
                _ => identifier,
            };
            return Ok(Plan::Container { image, args, env, secrets });
        }
        let package = match option.kind.as_str() {
            "npm" => Package::Npm { package: identifier, version },
            _ => Package::Pypi { package: identifier, version },
        };
        return Ok(Plan::Install { package, args, env, secrets });
    }
    let remote_index = index - document["packages"].as_array().map_or(0, Vec::len);
    let remote = &document["remotes"][remote_index];
    let mut headers = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for header in remote["headers"].as_array().into_iter().flatten() {
        let name = header["name"].as_str().unwrap_or_default().to_owned();
        let key = format!("header:{name}");
        if secret_keys.contains(&key.as_str()) {
            if let Some(value) = resolved.get(&key).cloned().flatten() {
                secrets.insert(name, value);
            }
            continue;
        }
        let value = resolved.get(&key).cloned().flatten().or_else(|| header["value"].as_str().map(&fill));
        if let Some(value) = value {
            headers.insert(name, fill(&value));
        }
    }
    Ok(Plan::Remote { url: fill(&option.target), headers, secrets })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/registry/server.json")).unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_option_is_described_with_its_inputs() {
        let described = describe(&document()).unwrap();
        let kinds: Vec<&str> = described.options.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, ["npm", "pypi", "oci", "mcpb", "streamable-http", "sse"]);
        let npm = &described.options[0];
        let keys: Vec<&str> = npm.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["arg:0", "arg:1", "var:region", "env:WEATHER_API_KEY", "env:LOG_LEVEL"]);
        assert!(npm.fields[0].required && npm.fields[3].secret);
        assert_eq!(npm.fields[1].choices, ["metric", "imperial"]);
        assert!(described.options[2].unsupported.is_none(), "an oci image runs with the Docker runtime");
        assert!(described.options[3].unsupported.is_none(), "an mcpb with its checksum is supported");
        assert!(described.options[4].unsupported.is_none());
    }

    #[test]
    fn an_npm_option_becomes_an_exact_argv_with_secrets_named_apart() {
        let given = [("arg:0", "/data/weather"), ("arg:1", "imperial"), ("env:WEATHER_API_KEY", "k-1")];
        let plan = plan(&document(), 0, &values(&given)).unwrap();
        let Plan::Install { package, args, env, secrets } = plan else { panic!("not an install") };
        assert_eq!(package, Package::Npm { package: "@example/weather-mcp".into(), version: Some("1.4.0".into()) });
        assert_eq!(args, ["/data/weather", "--units", "imperial", "--region", "eu", "--stdio"]);
        assert_eq!(env, BTreeMap::from([("LOG_LEVEL".into(), "info".into()), ("FIXED_MODE".into(), "server".into())]));
        assert_eq!(secrets, BTreeMap::from([("WEATHER_API_KEY".into(), "k-1".into())]));
    }

    #[test]
    fn required_inputs_and_choices_are_checked() {
        let error = plan(&document(), 0, &values(&[("arg:1", "kelvin")])).unwrap_err();
        assert!(error.contains("Folder for cached forecasts") && error.contains("one of metric, imperial"), "{error}");
        let Plan::Container { image, .. } = plan(&document(), 2, &BTreeMap::new()).unwrap() else {
            panic!("not a container")
        };
        assert_eq!(image, "ghcr.io/example/weather-mcp:1.4.0", "the tag is in the identifier");
        assert!(plan(&document(), 9, &BTreeMap::new()).is_err());
        let Plan::Bundle { url, sha256 } = plan(&document(), 3, &BTreeMap::new()).unwrap() else {
            panic!("not a bundle")
        };
        assert!(url.ends_with("weather.mcpb") && sha256.starts_with("fe333e"));
    }

    #[test]
    fn a_remote_fills_its_url_variables_and_keeps_secret_headers_apart() {
        assert!(plan(&document(), 4, &BTreeMap::new()).unwrap_err().contains("Your tenant name"));
        let plan =
            plan(&document(), 4, &values(&[("var:tenant", "acme"), ("header:Authorization", "Bearer t")])).unwrap();
        assert_eq!(
            plan,
            Plan::Remote {
                url: "https://acme.weather.example.com/mcp".into(),
                headers: BTreeMap::from([("X-Client".into(), "harbor".into())]),
                secrets: BTreeMap::from([("Authorization".into(), "Bearer t".into())]),
            }
        );
    }
}
