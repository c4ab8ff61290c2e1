//! Text a container controls — process names, paths, profile names, syscall names read from a
//! profile, messages quoting them — printed on a terminal. A control character in it would act
//! instead of showing (ESC starts sequences that move the cursor, clear the screen, retitle the
//! window, or, on some terminals, answer back as typed input), so every one is printed escaped.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` acts on a terminal or reorders or hides text instead of showing: C0, DEL and C1
/// controls, and the zero-width and bidirectional format characters.
fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

/// `text` with each control character as `\xNN` or `\u{NNNN}`, and `\` as `\\` (so that an
/// escape cannot be faked).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || is_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if is_control(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text with the control characters JSON leaves raw (DEL, C1, format characters) as
/// `\uNNNN`: the same JSON document, safe on a terminal. (JSON escapes C0 itself.)
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_control_left_raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 12);
    for c in json.chars() {
        if is_control_left_raw(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Outside strings JSON has only layout whitespace, inside them it escapes everything below
/// U+0020; what is left is at or above it.
fn is_control_left_raw(c: char) -> bool {
    is_control(c) && c >= '\u{20}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("nginx: worker"), "nginx: worker");
        assert!(matches!(escape("café"), Cow::Borrowed(_)));
        assert_eq!(escape("\u{1b}]0;pwned\u{7}"), "\\x1b]0;pwned\\x07");
        assert_eq!(
            escape("a\nb\rc\0d\u{7f}e\u{9b}f"),
            "a\\x0ab\\x0dc\\x00d\\x7fe\\x9bf"
        );
        assert_eq!(escape("evil\u{202e}gnp.exe"), "evil\\u{202e}gnp.exe");
        assert_eq!(
            escape("\\x1b"),
            "\\\\x1b",
            "a literal backslash cannot pose as an escape"
        );
    }

    #[test]
    fn json_stays_the_same_json() {
        let value = serde_json::json!({"comm": "a\u{1b}[2J\u{9b}31m\u{7f}\u{202e}z"});
        let text = serde_json::to_string(&value).unwrap();
        let safe = escape_json(&text);
        assert!(!safe.chars().any(is_control), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        assert!(escape_json(&pretty).contains('\n'), "layout is kept");
    }
}
