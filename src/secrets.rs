//! Token secrets: generation, hashing and verification (DESIGN invariant 2).
//!
//! Hub-generated tokens are 32 lowercase hex characters (128 random bits, like upstream's
//! `uuid4().hex`) and are stored as SHA-256 digests: with that much entropy a slow hash buys
//! nothing and costs a CPU hotspot (jupyterhub#1253). Tokens an operator writes into the
//! config may be weak, so they get PBKDF2-HMAC-SHA256 with a random salt; a replica caches a
//! successful check in memory (keyed by the token's SHA-256) so it pays the slow hash once.

use hmac::{Hmac, Mac};
use rafthub_raft::state::model::TokenHash;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// PBKDF2 iterations for operator-supplied tokens.
const SLOW_ROUNDS: u32 = 16_384;

/// A new random token: 32 lowercase hex characters.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A new random OAuth code or access token: 30 characters of `[A-Za-z0-9]` (oauthlib's form).
pub fn new_oauth_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..30)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect()
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The lookup key stored in clear: the first four characters.
pub fn prefix(token: &str) -> &str {
    let end = token
        .char_indices()
        .nth(4)
        .map(|(i, _)| i)
        .unwrap_or(token.len());
    &token[..end]
}

fn pbkdf2(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes any key length");
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..rounds {
        let mut mac = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes any key length");
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// `pbkdf2-sha256$<rounds>$<salt hex>$<digest hex>`.
pub fn slow_hash(token: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let d = pbkdf2(token.as_bytes(), &salt, SLOW_ROUNDS);
    format!(
        "pbkdf2-sha256${SLOW_ROUNDS}${}${}",
        hex::encode(salt),
        hex::encode(d)
    )
}

fn verify_slow(token: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [algo, rounds, salt, digest] = parts.as_slice() else {
        return false;
    };
    if *algo != "pbkdf2-sha256" {
        return false;
    }
    let (Ok(rounds), Ok(salt), Ok(digest)) = (
        rounds.parse::<u32>(),
        hex::decode(salt),
        hex::decode(digest),
    ) else {
        return false;
    };
    if rounds == 0 || rounds > 10_000_000 {
        return false;
    }
    let d = pbkdf2(token.as_bytes(), &salt, rounds);
    bool::from(d.as_slice().ct_eq(&digest))
}

/// Whether `token` matches `hash`. `sha` is `sha256_hex(token)`, computed once by the caller.
pub fn verify(token: &str, sha: &str, hash: &TokenHash) -> bool {
    match hash {
        TokenHash::Sha256(h) => bool::from(h.as_bytes().ct_eq(sha.as_bytes())),
        TokenHash::Slow(s) => verify_slow(token, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1.
        let d = pbkdf2(b"passwd", b"salt", 1);
        assert_eq!(hex::encode(&d[..16]), "55ac046e56e3089fec1691c22544b605");
    }

    #[test]
    fn hashes_verify_and_reject() {
        let t = new_token();
        assert_eq!(t.len(), 32);
        let sha = sha256_hex(&t);
        assert!(verify(&t, &sha, &TokenHash::Sha256(sha.clone())));
        assert!(!verify("x", &sha256_hex("x"), &TokenHash::Sha256(sha)));
        let slow = slow_hash("operator-token");
        assert!(verify("operator-token", "", &TokenHash::Slow(slow.clone())));
        assert!(!verify("operator-tokem", "", &TokenHash::Slow(slow)));
        assert_eq!(prefix("abcdef"), "abcd");
        assert_eq!(prefix("ab"), "ab");
        assert_eq!(new_oauth_secret().len(), 30);
    }
}
