//! The variables the config dialects write in commands, arguments, env values, URLs and headers:
//! `${env:NAME}` (Cursor, VS Code), `${NAME}` and `${NAME:-default}` (Claude Code),
//! `${input:id}` (VS Code's prompted inputs), `${workspaceFolder}` and `${userHome}`.
//!
//! What can be known at import time is filled in; what cannot (an unset variable, a VS Code input)
//! is left in place and reported, so the preview can say what the user must provide.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a config's variables resolve against.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub env: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    /// The project folder of a project config.
    pub workspace: Option<PathBuf>,
}

/// What a string needs that import could not fill in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Missing {
    /// VS Code input ids (`${input:id}`).
    pub inputs: Vec<String>,
    /// Environment variables that are not set.
    pub env: Vec<String>,
    /// `${workspaceFolder}` in a config that has no project folder.
    pub workspace: bool,
}

impl Missing {
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.env.is_empty() && !self.workspace
    }

    pub fn merge(&mut self, other: Missing) {
        for input in other.inputs {
            if !self.inputs.contains(&input) {
                self.inputs.push(input);
            }
        }
        for name in other.env {
            if !self.env.contains(&name) {
                self.env.push(name);
            }
        }
        self.workspace |= other.workspace;
    }
}

/// `text` with the variables it can fill in filled in.
pub fn expand(text: &str, context: &Context, missing: &mut Missing) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let whole = &rest[start..start + 2 + end + 1];
        out.push_str(&resolve(name, context, missing).unwrap_or_else(|| whole.to_owned()));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn resolve(name: &str, context: &Context, missing: &mut Missing) -> Option<String> {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    if let Some(input) = name.strip_prefix("input:") {
        missing.inputs.push(input.to_owned());
        return None;
    }
    if name == "workspaceFolder" {
        let folder = path(&context.workspace);
        missing.workspace |= folder.is_none();
        return folder;
    }
    if name == "userHome" {
        return path(&context.home);
    }
    let (variable, default) = match name.strip_prefix("env:") {
        Some(variable) => (variable, None),
        None => match name.split_once(":-") {
            Some((variable, default)) => (variable, Some(default)),
            None => (name, None),
        },
    };
    if !variable.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || variable.is_empty() {
        return None;
    }
    match (context.env.get(variable), default) {
        (Some(value), _) => Some(value.clone()),
        (None, Some(default)) => Some(default.to_owned()),
        (None, None) => {
            missing.env.push(variable.to_owned());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialects_variables_are_filled_or_reported() {
        let context = Context {
            env: BTreeMap::from([("TOKEN".into(), "t0k".into())]),
            home: Some("/home/ada".into()),
            workspace: Some("/work/site".into()),
        };
        let mut missing = Missing::default();
        assert_eq!(expand("${env:TOKEN}-${TOKEN}", &context, &mut missing), "t0k-t0k");
        assert_eq!(expand("${PORT:-8080}", &context, &mut missing), "8080");
        assert_eq!(
            expand("${userHome}/notes ${workspaceFolder}", &context, &mut missing),
            "/home/ada/notes /work/site"
        );
        assert!(missing.is_empty());
        assert_eq!(
            expand("Bearer ${input:gh-token} ${env:NOPE}", &context, &mut missing),
            "Bearer ${input:gh-token} ${env:NOPE}"
        );
        assert_eq!(missing.inputs, ["gh-token"]);
        assert_eq!(missing.env, ["NOPE"]);
        let mut no_workspace = Missing::default();
        expand("${workspaceFolder}", &Context::default(), &mut no_workspace);
        assert!(no_workspace.workspace);
    }
}
