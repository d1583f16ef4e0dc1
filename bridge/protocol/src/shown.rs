//! How text from MCP servers is shown to the user: tool names and descriptions with their
//! invisible characters made visible, and a skeleton for telling whether two names imitate each
//! other ("shadowing": `send_emaіl` with a Cyrillic `і` beside the real `send_email`).
//!
//! The bridge and the sidebar both show server text, so this lives here once.

/// Whether `c` takes no space or reorders text (zero-width, bidi controls, tag characters…).
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF
        | 0xFFA0 | 0xFFF0..=0xFFFB | 0xE0000..=0xE0FFF)
        || (c.is_control() && !matches!(c, '\n' | '\t'))
}

fn marker(c: char) -> String {
    format!("⟦U+{:04X}⟧", c as u32)
}

/// `text` with every invisible character shown as `⟦U+XXXX⟧`.
pub fn visible(text: &str) -> String {
    text.chars().map(|c| if invisible(c) { marker(c) } else { c.to_string() }).collect()
}

/// A tool or server name as shown: like [`visible`], and any character outside ASCII shown as
/// its code point too, since names are ASCII in practice and a look-alike letter is the trick.
pub fn visible_name(name: &str) -> String {
    name.chars().map(|c| if invisible(c) || !c.is_ascii() { marker(c) } else { c.to_string() }).collect()
}

/// Whether `text` holds anything [`visible_name`] would mark.
pub fn is_suspicious_name(name: &str) -> bool {
    name.chars().any(|c| invisible(c) || !c.is_ascii())
}

/// What a name looks like, for comparing names that imitate each other: lower case, look-alike
/// letters and digits folded to the ASCII letter they imitate, invisible characters and
/// separators dropped.
pub fn skeleton(name: &str) -> String {
    name.chars()
        .filter(|c| !invisible(*c) && !matches!(c, '_' | '-' | '.' | ' '))
        .map(|c| {
            let c = match c as u32 {
                // Fullwidth ASCII.
                0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            };
            match c {
                'а' | 'α' | 'ɑ' => 'a',
                'в' | 'β' => 'b',
                'с' | 'ϲ' => 'c',
                'ԁ' => 'd',
                'е' | 'ε' | 'ё' => 'e',
                'һ' => 'h',
                'і' | 'ι' | 'ї' | '1' | '|' | 'ӏ' => 'l',
                'ј' => 'j',
                'κ' | 'к' => 'k',
                'м' => 'm',
                'п' | 'η' => 'n',
                'о' | 'ο' | 'σ' | '0' => 'o',
                'р' | 'ρ' => 'p',
                'ԛ' => 'q',
                'г' => 'r',
                'ѕ' | '5' => 's',
                'т' | 'τ' => 't',
                'υ' | 'ս' => 'u',
                'ν' | 'ѵ' => 'v',
                'ш' | 'ω' => 'w',
                'х' | 'χ' => 'x',
                'у' | 'γ' => 'y',
                'z' | 'ᴢ' => 'z',
                c => c.to_ascii_lowercase(),
            }
        })
        // `i` and `l` look alike in many fonts: fold both.
        .map(|c| if c == 'i' { 'l' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_shown_and_look_alikes_share_a_skeleton() {
        assert_eq!(visible("read\u{200B}_file"), "read⟦U+200B⟧_file");
        assert_eq!(visible("Ignore\u{202E}txt.exe"), "Ignore⟦U+202E⟧txt.exe");
        assert_eq!(visible("Lit les fichiers — déjà"), "Lit les fichiers — déjà", "ordinary text is left alone");
        assert_eq!(visible_name("send_emaіl"), "send_ema⟦U+0456⟧l");
        assert!(is_suspicious_name("send_emaіl") && !is_suspicious_name("send_email"));
        assert_eq!(skeleton("send_emaіl"), skeleton("send_email"));
        assert_eq!(skeleton("Read-File"), skeleton("read_file"));
        assert_eq!(skeleton("ｒｅａｄ_file"), skeleton("read_file"));
        assert_ne!(skeleton("read_file"), skeleton("write_file"));
    }
}
