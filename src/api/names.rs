//! User and server names: validation, normalization and URL quoting as upstream does them.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Python's `quote(name, safe='@~')`: unreserved characters plus `@` and `~` stay as they are.
const NAME_QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

pub fn quote_name(name: &str) -> String {
    utf8_percent_encode(name, NAME_QUOTE).to_string()
}

/// `Authenticator.normalize_username`: lowercase.
pub fn normalize_username(name: &str) -> String {
    name.to_lowercase()
}

/// Python's `str.strip()`: Unicode whitespace plus the separators U+001C..U+001F, which
/// Python counts as whitespace and Rust does not.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// `Authenticator.validate_username`: non-empty, no `/`, no leading or trailing whitespace,
/// and not only dots, also once percent-decoded: `.`, `..` or `%2e%2e` would make the user's
/// URL `/user/../` resolve elsewhere.
pub fn valid_username(name: &str) -> bool {
    let only_dots = |s: &str| !s.is_empty() && s.bytes().all(|b| b == b'.');
    !name.is_empty()
        && !name.contains('/')
        && name == py_strip(name)
        // The `Unicode(255)` column of upstream's database (PostgreSQL and MySQL count
        // characters; SQLite does not check), not 255 bytes: 128 accented letters are fine.
        && name.chars().count() <= 255
        && !only_dots(name)
        && !only_dots(&percent_decode_str(name).decode_utf8_lossy())
}

/// 6.x rules for new named servers: 1-30 characters of `[a-z0-9-]`, starting with a letter,
/// ending with a letter or digit, no double hyphen.
pub fn valid_server_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 30
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !name.contains("--")
}

/// 6.x display names: 1-255 printable characters, single spaces, no edge spaces.
pub fn valid_display_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 255
        && name == name.trim()
        && !name.contains("  ")
        && name.chars().all(|c| !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(quote_name("a b@c~d/é"), "a%20b@c~d%2F%C3%A9");
        assert!(valid_username("alice"));
        assert!(valid_username("a.b") && valid_username(".alice"));
        assert!(
            valid_username(&"é".repeat(255)),
            "255 characters, 510 bytes"
        );
        assert!(!valid_username(&"a".repeat(256)));
        let bad_names = [
            "", " alice", "a/b", "alice ", "\u{1f}a", ".", "..", "%2e%2E", ".%2e",
        ];
        for bad in bad_names {
            assert!(!valid_username(bad), "{bad:?}");
        }
        for ok in ["gpu", "gpu-1", "a"] {
            assert!(valid_server_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1gpu",
            "gpu-",
            "Gpu",
            "g--pu",
            "g_pu",
            "abcdefghijklmnopqrstuvwxyzabcde",
        ] {
            assert!(!valid_server_name(bad), "{bad}");
        }
        assert!(valid_display_name("My GPU box"));
        assert!(
            !valid_display_name(" x") && !valid_display_name("a  b") && !valid_display_name("")
        );
    }
}
