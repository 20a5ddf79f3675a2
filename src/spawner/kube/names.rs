//! Object names and label values exactly as KubeSpawner 7 computes them (`slugs.py` and
//! `KubeSpawner._expand_user_properties`), so pods and PVCs made by zero-to-jupyterhub for
//! the same user are found under the same names. Pure: strings in, strings out.

use sha2::{Digest, Sha256};

/// Each slugged field is capped at this length (KubeSpawner's `_slug_max_length`).
const SLUG_MAX: usize = 48;
/// Length of the hash suffix.
const HASH_LEN: usize = 8;

fn sha_prefix(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            // 0xFF never starts a UTF-8 sequence: overlapping names cannot collide.
            h.update([0xffu8]);
        }
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())[..HASH_LEN].to_string()
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1035/1123 DNS label: 1..=63 of `[a-z0-9-]`, starting with a letter, ending
/// alphanumeric.
pub fn is_valid_object_name(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    s.len() <= 63
        && first.is_ascii_lowercase()
        && is_lower_alnum(last)
        && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

/// Label value: empty, or up to 63 of `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn is_valid_label(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let (first, last) = (
        s.chars().next().unwrap_or('-'),
        s.chars().last().unwrap_or('-'),
    );
    s.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `_extract_safe_name`: lowercase, runs of anything else become one `-`, trimmed to
/// `max` characters, starting with a letter, never empty.
fn extract_safe_name(name: &str, max: usize) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in name.to_lowercase().chars() {
        if is_lower_alnum(c) {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    // Only ASCII remains, so byte slicing is character slicing.
    let mut s: String = out.trim_start_matches('-').chars().take(max).collect();
    s = s.trim_end_matches('-').to_string();
    if !s.is_empty() && !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("x-{}", &s[..s.len().min(max.saturating_sub(2))]);
    }
    if s.is_empty() {
        s = "x".into();
    }
    s
}

/// `strip_and_hash`: `{safe prefix}---{hash}` within `max`.
fn strip_and_hash(name: &str, max: usize) -> String {
    let keep = max.saturating_sub(HASH_LEN + 3).max(1);
    format!(
        "{}---{}",
        extract_safe_name(name, keep),
        sha_prefix(&[name])
    )
}

/// `safe_slug`: the name itself when it is already valid (and has no `--`), else a
/// stripped name plus a hash.
pub fn safe_slug(name: &str, is_valid: fn(&str) -> bool, max: Option<usize>) -> String {
    if !name.contains("--") && is_valid(name) && max.is_none_or(|m| name.len() <= m) {
        name.to_string()
    } else {
        strip_and_hash(name, max.unwrap_or(32))
    }
}

/// `multi_slug`: `{name1}--{name2}---{hash}`, one hash over all names.
pub fn multi_slug(names: &[&str], max: usize) -> String {
    let per_name = (max - (HASH_LEN + 1)) / names.len();
    let parts: Vec<String> = names
        .iter()
        .map(|n| extract_safe_name(n, per_name.saturating_sub(2)))
        .collect();
    format!("{}---{}", parts.join("--"), sha_prefix(names))
}

/// The legacy `escape` scheme (escapism with `-`), used to find PVCs made before
/// KubeSpawner 7 under their old names.
pub fn escape_slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if is_lower_alnum(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("-{b:x}"));
            }
        }
    }
    out
}

/// The template fields of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slugs {
    pub username: String,
    pub servername: String,
    pub user_server: String,
    pub unescaped_username: String,
    pub unescaped_servername: String,
    pub escaped_username: String,
    pub escaped_servername: String,
}

impl Slugs {
    /// KubeSpawner 7's "safe" scheme.
    pub fn new(user: &str, server: &str) -> Slugs {
        let username = safe_slug(user, is_valid_object_name, Some(SLUG_MAX));
        let servername = if server.is_empty() {
            String::new()
        } else {
            safe_slug(server, is_valid_object_name, Some(SLUG_MAX))
        };
        let user_server = if username.len() + servername.len() + 2 > SLUG_MAX {
            multi_slug(&[user, server], SLUG_MAX)
        } else if server.is_empty() {
            username.clone()
        } else {
            format!("{username}--{servername}")
        };
        Slugs {
            username,
            servername,
            user_server,
            unescaped_username: user.to_string(),
            unescaped_servername: server.to_string(),
            escaped_username: escape_slug(user),
            escaped_servername: escape_slug(server),
        }
    }

    /// The same fields under the pre-7 `escape` scheme.
    pub fn legacy(&self) -> Slugs {
        let user_server = if self.unescaped_servername.is_empty() {
            self.escaped_username.clone()
        } else {
            format!("{}--{}", self.escaped_username, self.escaped_servername)
        };
        Slugs {
            username: self.escaped_username.clone(),
            servername: self.escaped_servername.clone(),
            user_server,
            ..self.clone()
        }
    }

    /// Replaces `{username}`, `{servername}`, `{user_server}` (and the `unescaped_`,
    /// `escaped_` variants) in `template`; unknown fields stay as they are. A trailing `-`
    /// left by an empty field is stripped, as upstream does.
    pub fn expand(&self, template: &str) -> String {
        let out = self.expand_fields(template);
        if template.ends_with('-') {
            out
        } else {
            out.trim_end_matches('-').to_string()
        }
    }

    /// Field replacement without the trailing-`-` rule (for values inside manifests).
    pub fn expand_fields(&self, template: &str) -> String {
        if !template.contains('{') {
            return template.to_string();
        }
        let fields: [(&str, &str); 9] = [
            ("{username}", &self.username),
            ("{servername}", &self.servername),
            ("{user_server}", &self.user_server),
            ("{safe_username}", &self.username),
            ("{safe_servername}", &self.servername),
            ("{unescaped_username}", &self.unescaped_username),
            ("{unescaped_servername}", &self.unescaped_servername),
            ("{escaped_username}", &self.escaped_username),
            ("{escaped_servername}", &self.escaped_servername),
        ];
        let mut out = template.to_string();
        for (k, v) in fields {
            out = out.replace(k, v);
        }
        out
    }
}

/// Label values for `hub.jupyter.org/username` and `hub.jupyter.org/servername`.
pub fn label_value(name: &str) -> String {
    safe_slug(name, is_valid_label, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's own table (kubespawner tests/test_slugs.py::test_safe_slug).
    #[test]
    fn safe_slug_matches_kubespawner() {
        let x63 = "x".repeat(63);
        let x64 = "x".repeat(64);
        let x65 = "x".repeat(65);
        let table: &[(&str, &str)] = &[
            ("jupyter-alex", "jupyter-alex"),
            ("jupyter-Alex", "jupyter-alex---3a1c285c"),
            ("jupyter-üni", "jupyter-ni---a5aaf5dd"),
            ("endswith-", "endswith---165f1166"),
            ("user@email.com", "user-email-com---0925f997"),
            ("user-_@_emailß.com", "user-email-com---7e3a7efd"),
            ("has.dot", "has-dot---03e27fdf"),
            ("z9", "z9"),
            ("9z9", "x-9z9---224de202"),
            ("-start", "start---f587e2dc"),
            ("üser", "ser---73506260"),
            ("username--servername", "username-servername---d957f1de"),
            ("start---f587e2dc", "start-f587e2dc---cc5bb9c9"),
            (&x63, &x63),
            (&x64, "xxxxxxxxxxxxxxxxxxxxx---7ce10097"),
            (&x65, "xxxxxxxxxxxxxxxxxxxxx---9537c5fd"),
            ("", "x---e3b0c442"),
        ];
        for (name, want) in table {
            assert_eq!(safe_slug(name, is_valid_object_name, None), *want, "{name}");
        }
        let x = |n: usize| "x".repeat(n);
        assert_eq!(safe_slug(&x(16), is_valid_object_name, Some(16)), x(16));
        assert_eq!(
            safe_slug(&x(17), is_valid_object_name, Some(16)),
            "xxxxx---d04fd59f"
        );
        assert_eq!(
            safe_slug(&x(16), is_valid_object_name, Some(12)),
            "x---9c572959"
        );
    }

    /// Upstream's table for label values (test_safe_slug_label).
    #[test]
    fn label_slugs_match_kubespawner() {
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("x", "x"),
            ("a-b", "a-b"),
            ("9a", "9a"),
            ("9.", "x-9---99a1b84b"),
            ("AbC", "AbC"),
            ("AbC.", "abc---dbe8c5d1"),
            ("ab.c", "ab.c"),
            ("a@b.c", "a-b-c---d648b243"),
            ("-x", "x---a4209624"),
            ("x-", "x---c8b60efc"),
            ("some_user", "some_user"),
        ];
        for (name, want) in table {
            assert_eq!(label_value(name), *want, "{name}");
        }
    }

    /// `{user_server}` and friends, computed with kubespawner 7.1.0's slugs.py (and the
    /// tests test_pod_name_named_servers / test_pod_name_escaping).
    #[test]
    fn user_server_matches_kubespawner() {
        let a40 = "a".repeat(40);
        let b10 = "b".repeat(10);
        let x48 = "x".repeat(48);
        let x49 = "x".repeat(49);
        let table: &[(&str, &str, &str)] = &[
            ("alice", "", "alice"),
            ("user", "server", "user--server"),
            (
                "some_user",
                "test-server!",
                "some-user---7d3a4d4e--test-server---cb54a9af",
            ),
            ("some_user", "", "some-user---7d3a4d4e"),
            ("Alice@Example.com", "", "alice-example-com---f8db6f2f"),
            ("user-has-dash", "", "user-has-dash"),
            ("user-has", "dash", "user-has--dash"),
            (&a40, &b10, "aaaaaaaaaaaaaaaaa--bbbbbbbbbb---805176a2"),
            // 48 + 2 > 48: upstream multi-slugs even without a server name.
            (&x48, "", "xxxxxxxxxxxxxxxxx--x---e13c8ee2"),
            (&x49, "", "xxxxxxxxxxxxxxxxx--x---9b942dee"),
            ("üser", "naïve", "ser---73506260--na-ve---f86fd89d"),
            ("9lives", "", "x-9lives---bc867356"),
        ];
        for (user, server, want) in table {
            let s = Slugs::new(user, server);
            assert_eq!(s.user_server, *want, "{user}/{server}");
            assert_eq!(s.expand("jupyter-{user_server}"), format!("jupyter-{want}"));
        }
        assert_eq!(
            Slugs::new("some_user", "").expand("prefix-{user_server}-suffix"),
            "prefix-some-user---7d3a4d4e-suffix"
        );
    }

    #[test]
    fn legacy_escape_scheme_matches_escapism() {
        let table: &[(&str, &str)] = &[
            ("alice", "alice"),
            ("some_user", "some-5fuser"),
            ("Alice@Example.com", "-41lice-40-45xample-2ecom"),
            ("user-has-dash", "user-2dhas-2ddash"),
            ("üser", "-c3-bcser"),
            ("test-server!", "test-2dserver-21"),
        ];
        for (name, want) in table {
            assert_eq!(escape_slug(name), *want, "{name}");
        }
        let s = Slugs::new("some_user", "test-server!");
        assert_eq!(
            s.legacy().expand("claim-{user_server}"),
            "claim-some-5fuser--test-2dserver-21"
        );
    }

    #[test]
    fn templates_strip_a_dangling_dash_only_when_the_field_made_it() {
        let s = Slugs::new("alice", "");
        assert_eq!(s.expand("jupyter-{username}-{servername}"), "jupyter-alice");
        assert_eq!(s.expand("claim-{username}-"), "claim-alice-");
        assert_eq!(s.expand("x-{unknown}"), "x-{unknown}");
        assert!(is_valid_object_name(&s.expand("jupyter-{user_server}")));
    }
}
