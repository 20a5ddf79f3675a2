//! Hub cookies: the signed login cookie (Tornado's v2 signed-value format, so a hub migrated
//! from upstream keeps its users logged in when it reuses the cookie secret), the plain
//! session-id cookie, and XSRF tokens bound to the session.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const LOGIN_COOKIE: &str = "jupyterhub-hub-login";
pub const SESSION_COOKIE: &str = "jupyterhub-session-id";
pub const XSRF_COOKIE: &str = "_xsrf";
/// Login cookies expire after 14 days (`cookie_max_age_days`).
pub const MAX_AGE_DAYS: i64 = 14;

fn mac(secret: &[u8], data: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(data);
    hex::encode(m.finalize().into_bytes())
}

fn field(s: &str) -> String {
    format!("{}:{}", s.len(), s)
}

/// Tornado `create_signed_value(secret, name, value, version=2)`.
pub fn sign(secret: &[u8], name: &str, value: &str, now_secs: i64) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    let to_sign = format!(
        "2|{}|{}|{}|{}|",
        field("0"),
        field(&now_secs.to_string()),
        field(name),
        field(&b64)
    );
    let sig = mac(secret, to_sign.as_bytes());
    format!("{to_sign}{sig}")
}

/// Tornado `decode_signed_value` (v2): the value if the signature is valid, the name matches
/// and the cookie is at most `max_age_days` old.
pub fn verify(
    secret: &[u8],
    name: &str,
    signed: &str,
    now_secs: i64,
    max_age_days: i64,
) -> Option<String> {
    let rest = signed.strip_prefix("2|")?;
    let mut parts = Vec::new();
    let mut s = rest;
    for _ in 0..4 {
        let (len, tail) = s.split_once(':')?;
        let len: usize = len.parse().ok()?;
        if tail.len() < len + 1 || tail.as_bytes()[len] != b'|' {
            return None;
        }
        parts.push(&tail[..len]);
        s = &tail[len + 1..];
    }
    let sig = s;
    let to_sign = &signed[..signed.len() - sig.len()];
    if !bool::from(
        mac(secret, to_sign.as_bytes())
            .as_bytes()
            .ct_eq(sig.as_bytes()),
    ) {
        return None;
    }
    if parts[2] != name {
        return None;
    }
    let ts: i64 = parts[1].parse().ok()?;
    if ts < now_secs - max_age_days * 86_400 {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(parts[3])
        .ok()?;
    String::from_utf8(raw).ok()
}

/// The value of cookie `name` in the request.
pub fn get<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Whether the hub's cookies get `Secure` (upstream's `_set_cookie`): the public URL is https,
/// or without one the request came over https, by the last `X-Forwarded-Proto` value as
/// Tornado reads it (the proxy sets it; TLS ends there).
pub fn secure(public_url: Option<&str>, headers: &HeaderMap) -> bool {
    if let Some(u) = public_url {
        return u.starts_with("https://");
    }
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` header value.
pub fn set(
    name: &str,
    value: &str,
    path: &str,
    http_only: bool,
    secure: bool,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut s = format!("{name}={value}; Path={path}; SameSite=Lax");
    if http_only {
        s.push_str("; HttpOnly");
    }
    if secure {
        s.push_str("; Secure");
    }
    if let Some(a) = max_age {
        s.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Clears a cookie.
pub fn clear(name: &str, path: &str) -> HeaderValue {
    set(name, "", path, true, false, Some(0))
}

/// The XSRF token of a session: an HMAC of the session id, so it cannot be forged without the
/// cookie secret and is the same on every replica.
/// The XSRF token of a browser session and of who is logged in there (the login cookie's
/// id; empty before login), as upstream's `session_id:user` token id: a token a cross-site
/// attacker obtained for their own session (and tossed into the victim's browser together
/// with that session's cookie) does not pass once the victim's login cookie is present, and
/// the token changes at login.
pub fn xsrf_token(secret: &[u8], session_id: &str, login_id: &str) -> String {
    mac(secret, format!("xsrf:{session_id}:{login_id}").as_bytes())[..32].to_string()
}

pub fn xsrf_ok(secret: &[u8], session_id: &str, login_id: &str, presented: &str) -> bool {
    bool::from(
        xsrf_token(secret, session_id, login_id)
            .as_bytes()
            .ct_eq(presented.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_round_trip_and_reject_tampering() {
        let k = b"0123456789abcdef0123456789abcdef";
        let v = sign(k, LOGIN_COOKIE, "cookie-id-1", 1_700_000_000);
        assert!(v.starts_with("2|1:0|10:1700000000|20:jupyterhub-hub-login|"));
        assert_eq!(
            verify(k, LOGIN_COOKIE, &v, 1_700_000_100, 14).as_deref(),
            Some("cookie-id-1")
        );
        assert_eq!(verify(k, "other-name", &v, 1_700_000_100, 14), None);
        assert_eq!(
            verify(b"another-secret", LOGIN_COOKIE, &v, 1_700_000_100, 14),
            None
        );
        assert_eq!(
            verify(
                k,
                LOGIN_COOKIE,
                &v.replace("Y29v", "Y29w"),
                1_700_000_100,
                14
            ),
            None
        );
        // Expired after 14 days.
        assert_eq!(
            verify(k, LOGIN_COOKIE, &v, 1_700_000_000 + 15 * 86_400, 14),
            None
        );
        assert_eq!(verify(k, LOGIN_COOKIE, "garbage", 0, 14), None);
    }

    #[test]
    fn matches_tornado_reference_signature() {
        // tornado.web.create_signed_value(b"secret", "name", "value", version=2) with
        // time.time() patched to 1300000000 (tornado 6.x, from the test venv).
        let v = sign(b"secret", "name", "value", 1_300_000_000);
        assert_eq!(
            v,
            "2|1:0|10:1300000000|4:name|8:dmFsdWU=|dde970934c3dca1ee18c228683b8f88369d856f5b9b7f0fd5eab44aa165210bd"
        );
        assert_eq!(
            verify(b"secret", "name", &v, 1_300_000_000, 31).as_deref(),
            Some("value")
        );
    }

    #[test]
    fn cookies_parse_from_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; _xsrf=abc; jupyterhub-session-id=\"s1\""),
        );
        assert_eq!(get(&h, "_xsrf"), Some("abc"));
        assert_eq!(get(&h, SESSION_COOKIE), Some("s1"));
        assert_eq!(get(&h, "nope"), None);
    }
}
