//! Path and routespec handling shared by the trie, the table and the data path.
//!
//! Two forms matter:
//! * a *canonical spec* is the CHP key form: percent-decoded once, a leading
//!   `/`, no trailing `/` (except the root `/`). `GET /api/routes` lists these.
//! * a *request path* is the raw (still percent-encoded) path of a request. It
//!   is first normalised (dot-segments resolved, RFC 3986 §5.2.4) and that
//!   normalised form is both looked up and forwarded, so the path a target
//!   receives is always the one the route was chosen for.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Canonical CHP key of a routespec given in the hub's escaped form
/// (`/user/a%40b/` → `/user/a@b`). Decodes exactly once, like CHP's
/// `decodeURIComponent` on the API path; invalid escapes are kept literally.
pub fn canonical_spec(raw: &str) -> String {
    trim_spec(&decode(raw))
}

/// CHP's `trimPrefix`: force a leading `/`, strip trailing `/` (root stays `/`).
/// Idempotent; does not decode, so it is safe on already-canonical specs.
pub fn trim_spec(spec: &str) -> String {
    let trimmed = spec.trim_end_matches('/');
    if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// CHP's `stringToPath`: the segments of a canonical spec, outer slashes
/// removed. `/` has no segments; inner empty segments (`//`) are kept.
pub fn spec_segments(spec: &str) -> Vec<&str> {
    let s = spec.trim_matches('/');
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('/').collect()
    }
}

/// Lookup segments of a normalised request path: each segment decoded on its
/// own, so an encoded `%2F` can never create a segment boundary that the
/// target would not see. Lossy UTF-8 is fine: this is only a lookup key.
pub fn request_segments(path: &str) -> Vec<Cow<'_, str>> {
    spec_segments(path).into_iter().map(decode).collect()
}

fn decode(s: &str) -> Cow<'_, str> {
    percent_decode_str(s).decode_utf8_lossy()
}

/// Host for host routing: port stripped (IPv6 brackets kept), lowercased.
pub fn host_key(host: &str) -> String {
    let h = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        host.split(':').next().unwrap_or(host)
    };
    h.to_ascii_lowercase()
}

#[derive(Debug, PartialEq)]
enum Dot {
    One,
    Two,
}

fn dot_kind(seg: &str) -> Option<Dot> {
    // ".", "..", and their %2e / %2E spellings (WHATWG URL treats them alike).
    if seg.len() > 6 || !(seg.starts_with('.') || seg.starts_with('%')) {
        return None;
    }
    match seg.to_ascii_lowercase().replace("%2e", ".").as_str() {
        "." => Some(Dot::One),
        ".." => Some(Dot::Two),
        _ => None,
    }
}

/// Resolve `.` and `..` segments of an absolute request path (RFC 3986
/// §5.2.4). `..` never climbs above the root. Paths without dot-segments
/// are returned borrowed. The caller guarantees `path` starts with `/`.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let body = path.strip_prefix('/').unwrap_or(path);
    if !body.split('/').any(|s| dot_kind(s).is_some()) {
        return Cow::Borrowed(path);
    }
    let segs: Vec<&str> = body.split('/').collect();
    let last = segs.len() - 1;
    let mut out: Vec<&str> = Vec::with_capacity(segs.len());
    for (i, seg) in segs.iter().enumerate() {
        match dot_kind(seg) {
            Some(kind) => {
                if kind == Dot::Two {
                    out.pop();
                }
                if i == last {
                    // "/a/.." → "/a/": a trailing dot-segment leaves a slash.
                    out.push("");
                }
            }
            None => out.push(seg),
        }
    }
    Cow::Owned(format!("/{}", out.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_specs() {
        let cases = [
            ("/user/alice/", "/user/alice"),
            ("/user/alice", "/user/alice"),
            ("user/alice/", "/user/alice"),
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/user/a%40b/", "/user/a@b"),
            ("/user/a%2540/", "/user/a%40"),
            ("/user/bad%zz/", "/user/bad%zz"),
            (
                "alice.example.org/user/alice/",
                "/alice.example.org/user/alice",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_spec(raw), want, "raw {raw:?}");
            assert_eq!(trim_spec(want), want, "idempotent {want:?}");
        }
    }

    #[test]
    fn segments() {
        assert!(spec_segments("/").is_empty());
        assert_eq!(spec_segments("/user/alice"), ["user", "alice"]);
        assert_eq!(spec_segments("/user//alice/"), ["user", "", "alice"]);
        assert_eq!(
            request_segments("/user/a%40b/x%2Fy"),
            ["user", "a@b", "x/y"]
        );
    }

    #[test]
    fn dot_segments() {
        let cases = [
            ("/user/alice/x", "/user/alice/x"),
            ("/user/alice/../bob/", "/user/bob/"),
            ("/user/alice/%2e%2e/bob/", "/user/bob/"),
            ("/user/alice/.%2E/bob", "/user/bob"),
            ("/user/alice/./x", "/user/alice/x"),
            ("/user/alice/.", "/user/alice/"),
            ("/user/alice/..", "/user/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/..", "/"),
            ("/", "/"),
            ("/a//b/../c", "/a//c"),
            ("/a/...", "/a/..."),
            ("/a/.x/..y", "/a/.x/..y"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw), want, "raw {raw:?}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(host_key("Alice.Example.org:8000"), "alice.example.org");
        assert_eq!(host_key("example.org"), "example.org");
        assert_eq!(host_key("[::1]:8000"), "[::1]");
    }
}
