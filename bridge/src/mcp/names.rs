//! Names: server ids, namespaced tool names (`serverId/toolName`) and their model-safe form
//! (`serverId__toolName`).
//!
//! Models are stricter than MCP about function names: OpenAI and Ollama accept
//! `^[a-zA-Z0-9_-]{1,64}$`. [`model_name`] turns a namespaced name into that form — unchanged
//! when it already fits, else sanitized, cut and given a short hash so two tools never collide.
//! Turning a model name back is a lookup in the tool registry, which holds both forms.

/// The longest function name OpenAI and Ollama accept.
pub const MODEL_NAME_MAX: usize = 64;

/// The longest server id.
pub const SERVER_ID_MAX: usize = 32;

/// The server id web pages' own tools (WebMCP) are listed under: `page/<name>`.
pub const RESERVED: &str = "page";

/// The server id the chat's own tools are listed under (`harbor/load_skill`). New servers may not
/// take it; one stored under it before keeps working, and the chat then offers no tool of its own.
pub const HARBOR: &str = "harbor";

/// Checks a server id: 1–32 of `a-z 0-9 - _`, starting with a letter or digit, with no `__`
/// (the separator of model-safe names).
pub fn check_server_id(id: &str) -> Result<(), String> {
    let valid_chars = id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let starts_well = id.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if id == RESERVED {
        return Err(format!("server id {id:?} is Harbor's own: web pages' tools are listed under it; choose another"));
    }
    if id == HARBOR {
        return Err(format!("server id {id:?} is Harbor's own: its chat's tools are listed under it; choose another"));
    }
    if id.is_empty() || id.len() > SERVER_ID_MAX || !valid_chars || !starts_well || id.contains("__") {
        return Err(format!(
            "server id {id:?} is not valid: use 1 to {SERVER_ID_MAX} lowercase letters, digits, '-' or '_', starting with a letter or digit, without '__'"
        ));
    }
    Ok(())
}

/// Suggests a valid id for a name (for example a package name): lowercase, invalid characters
/// replaced, cut to length.
pub fn suggest_server_id(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut id: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    id.truncate(SERVER_ID_MAX);
    let id = id.trim_end_matches('-').to_owned();
    match id.as_str() {
        "" => "server".into(),
        RESERVED | HARBOR => format!("{id}-server"),
        _ => id,
    }
}

/// `serverId/toolName`.
pub fn namespaced(server: &str, tool: &str) -> String {
    format!("{server}/{tool}")
}

/// Splits `serverId/toolName` at the first `/` (tool names may contain more).
pub fn split_namespaced(name: &str) -> Option<(&str, &str)> {
    name.split_once('/').filter(|(server, tool)| !server.is_empty() && !tool.is_empty())
}

/// Whether `name` is a name every model provider takes for a tool: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn model_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MODEL_NAME_MAX
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The model-safe name of `server`'s `tool`.
pub fn model_name(server: &str, tool: &str) -> String {
    let plain = format!("{server}__{tool}");
    if model_safe(&plain) {
        return plain;
    }
    let safe: String = plain.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    // Keep the separator: sanitizing cannot create a second `__` before it, as ids have none.
    let safe = format!("{server}__{}", &safe[server.len() + 2..]);
    let hash = format!("{:08x}", fnv1a(plain.as_bytes()) as u32);
    let room = MODEL_NAME_MAX - hash.len() - 1;
    let mut head = safe;
    head.truncate(room.min(head.len()));
    format!("{head}_{hash}")
}

/// For `(server, name)` pairs: each name alone where no other pair has it and it is model-safe,
/// else `None` (the caller keeps the model-safe `server__name`).
pub fn plain_where_unique<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Vec<Option<String>> {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for (_, name) in pairs.clone() {
        *counts.entry(name).or_default() += 1;
    }
    pairs
        .map(|(_, name)| (counts[name] == 1 && model_safe(name) && !name.contains("__")).then(|| name.to_owned()))
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids() {
        for ok in ["time", "server-everything", "fs_2", "a"] {
            assert!(check_server_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Time", "-x", "a__b", "a/b", "a b", &"x".repeat(33), "page", "harbor"] {
            assert!(check_server_id(bad).is_err(), "{bad}");
        }
        assert_eq!(suggest_server_id("@modelcontextprotocol/server-everything"), "server-everything");
        assert_eq!(suggest_server_id("mcp_server_time"), "mcp-server-time");
        assert!(check_server_id(&suggest_server_id("@@@")).is_ok());
        assert_eq!(suggest_server_id("harbor"), "harbor-server");
        // Web pages' tools are listed under `page`: no server takes it.
        assert!(check_server_id("page").is_err());
        assert_eq!(suggest_server_id("page"), "page-server");
    }

    #[test]
    fn model_names_are_safe_unique_and_plain_when_possible() {
        assert_eq!(model_name("time", "get_current_time"), "time__get_current_time");
        let odd = model_name("fs", "read.file/v2");
        assert!(model_safe(&odd), "{odd}");
        assert!(odd.starts_with("fs__read_file_v2"));
        let long_a = model_name("server-everything", &"a".repeat(80));
        let long_b = model_name("server-everything", &format!("{}b", "a".repeat(79)));
        assert!(model_safe(&long_a) && model_safe(&long_b));
        assert_ne!(long_a, long_b, "cut names stay distinct");
        assert!(long_a.starts_with("server-everything__"));
    }

    #[test]
    fn plain_names_only_where_no_other_server_has_them() {
        let pairs = [("a", "echo"), ("b", "echo"), ("a", "add"), ("b", "read.file"), ("b", "x__y")];
        let plain = plain_where_unique(pairs.iter().copied());
        assert_eq!(plain, vec![None, None, Some("add".to_owned()), None, None]);
    }

    #[test]
    fn namespaced_names_split_at_the_first_slash() {
        assert_eq!(split_namespaced("fs/dir/read"), Some(("fs", "dir/read")));
        assert_eq!(split_namespaced(&namespaced("time", "now")), Some(("time", "now")));
        assert_eq!(split_namespaced("nothing"), None);
        assert_eq!(split_namespaced("/x"), None);
    }
}
