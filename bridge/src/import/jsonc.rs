//! JSON with comments and trailing commas (VS Code's and Zed's settings files) read as JSON: `//`
//! and `/* */` comments and commas before `}` or `]` are removed outside strings, and the rest is
//! parsed strictly.

/// `text` without comments and trailing commas.
pub fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            in_string = c != '"';
            i += 1;
            continue;
        }
        if let Some(end) = comment_end(&chars, i) {
            i = end;
            continue;
        }
        // A comma whose next token (past spaces and comments) closes an object or list.
        if c == ',' && matches!(chars.get(next_token(&chars, i + 1)), Some('}') | Some(']')) {
            i += 1;
            continue;
        }
        in_string = c == '"';
        out.push(c);
        i += 1;
    }
    out
}

/// Where the comment starting at `i` ends, if one starts there.
fn comment_end(chars: &[char], i: usize) -> Option<usize> {
    match (chars.get(i), chars.get(i + 1)) {
        (Some('/'), Some('/')) => Some(chars[i..].iter().position(|c| *c == '\n').map_or(chars.len(), |p| i + p)),
        (Some('/'), Some('*')) => {
            let rest = &chars[i + 2..];
            Some(rest.windows(2).position(|w| w == ['*', '/']).map_or(chars.len(), |p| i + 2 + p + 2))
        }
        _ => None,
    }
}

/// The index of the next character that is neither space nor comment.
fn next_token(chars: &[char], mut i: usize) -> usize {
    loop {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        match comment_end(chars, i) {
            Some(end) => i = end,
            None => return i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_go_and_strings_stay() {
        let text = r#"{
            // a comment
            "url": "http://x/y", /* block */ "a": [1, 2,],
            "s": "// not a comment, }",
            "b": { "c": 1, // trailing
            },
        }"#;
        let value: serde_json::Value = serde_json::from_str(&strip(text)).unwrap();
        assert_eq!(value["url"], "http://x/y");
        assert_eq!(value["s"], "// not a comment, }");
        assert_eq!(value["a"], serde_json::json!([1, 2]));
        assert_eq!(value["b"]["c"], 1);
    }
}
