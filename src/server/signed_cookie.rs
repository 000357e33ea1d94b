//! The signed session cookie, read and written without a cookie jar: its value is
//! `base64(HMAC-SHA256(key, id)) + id`, byte for byte the `cookie` crate's signed format (so a
//! cookie either signed still verifies with the other), with the key's HMAC state computed
//! once at start rather than for every request, and the values it verified remembered.
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use http::HeaderMap;
use sha2::Sha256;

/// Length of the base64 digest that starts a signed value (32 bytes, padded).
const DIGEST_LEN: usize = 44;

/// Signed values remembered as verified at most (a visitor's cookie is verified once, not at
/// every request); when full, all are forgotten and it fills again.
const MAX_VERIFIED: usize = 8192;
/// A longer signed value is verified every time (session ids are far shorter).
const MAX_VERIFIED_LEN: usize = 256;

/// Signs and verifies cookie values with one key.
#[derive(Clone)]
pub struct Signer {
    /// HMAC-SHA256 with the key already absorbed: cloned for each value.
    keyed: Hmac<Sha256>,
    /// Whole signed values whose signature was right. Only what this key signed gets in, so
    /// a forged value is checked (and refused) every time.
    verified: Arc<Mutex<HashSet<Box<str>>>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// `key`: the signing half of a `cookie::Key` (`Key::signing()`).
    pub fn new(key: &[u8]) -> Self {
        Signer { keyed: Hmac::new_from_slice(key).expect("HMAC takes a key of any length"), verified: Arc::default() }
    }

    /// `value` with its signature in front.
    pub fn sign(&self, value: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(value.as_bytes());
        let mut signed = String::with_capacity(DIGEST_LEN + value.len());
        STANDARD.encode_string(mac.finalize().into_bytes(), &mut signed);
        signed.push_str(value);
        signed
    }

    /// The value a signed value carries, if its signature is right (compared in constant time).
    pub fn verify<'a>(&self, signed: &'a str) -> Option<&'a str> {
        if !signed.is_char_boundary(DIGEST_LEN) {
            return None;
        }
        let (digest, value) = signed.split_at(DIGEST_LEN);
        let verified = || self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified().contains(signed) {
            return Some(value);
        }
        let mut bytes = [0u8; 48];
        let len = STANDARD.decode_slice(digest, &mut bytes).ok()?;
        let mut mac = self.keyed.clone();
        mac.update(value.as_bytes());
        mac.verify_slice(&bytes[..len]).ok()?;
        if signed.len() <= MAX_VERIFIED_LEN {
            let mut verified = verified();
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(signed.into());
        }
        Some(value)
    }
}

/// The value of the last cookie called `name` in the request's `Cookie` headers, percent-decoded
/// (the `cookie` crate's reading: pairs split at `;`, name and value trimmed; a pair that does
/// not decode to text is skipped).
pub fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    let mut found = None;
    for header in headers.get_all(http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else { continue };
            if percent_decoded(key.trim()).is_some_and(|key| key == name)
                && let Some(value) = percent_decoded(value.trim())
            {
                found = Some(value);
            }
        }
    }
    found
}

/// `text` percent-decoded, if that is UTF-8 (a `%` not followed by two hex digits stays, as in
/// `percent_encoding`). Borrowed when there is nothing to decode; a slice at a time otherwise:
/// `percent_encoding`'s byte-by-byte decoding was a tenth of a page's session work (issue 11).
fn percent_decoded(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(Cow::Borrowed(text));
    }
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16)).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        out.extend_from_slice(&rest[..at]);
        if let (Some(high), Some(low)) = (hex(rest.get(at + 1)), hex(rest.get(at + 2))) {
            out.push(high << 4 | low);
            rest = &rest[at + 3..];
        } else {
            out.push(b'%');
            rest = &rest[at + 1..];
        }
    }
    out.extend_from_slice(rest);
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// `value` percent-encoded as the `cookie` crate encodes a cookie value (RFC 6265's cookie
/// octets plus a few more are kept).
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, COOKIE_SET).to_string()
}

/// The characters the `cookie` crate percent-encodes in names and values.
const COOKIE_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'#')
    .add(b'?')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|')
    .add(b'%')
    .add(b'(')
    .add(b')')
    .add(b',');

#[cfg(test)]
mod tests {
    use super::*;
    use cookie::{Cookie, CookieJar, Key};

    fn key() -> Key {
        Key::from(&[7u8; 64])
    }

    /// What the `cookie` crate sends for a signed cookie (name=value only).
    fn crate_signed(name: &str, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(&key()).add(Cookie::new(name.to_string(), value.to_string()));
        jar.get(name).unwrap().stripped().encoded().to_string()
    }

    #[test]
    fn signs_as_the_cookie_crate_does_and_verifies_what_it_signed() {
        let signer = Signer::new(key().signing());
        for value in ["", "abc", "eyJpZCI6MX0_-xyz0123456789A", "x/y=z+w"] {
            let ours = format!("keystone.sid={}", encode(&signer.sign(value)));
            assert_eq!(ours, crate_signed("keystone.sid", value), "{value}");
            let mut headers = HeaderMap::new();
            headers.insert(http::header::COOKIE, crate_signed("keystone.sid", value).parse().unwrap());
            let found = find(&headers, "keystone.sid").unwrap();
            assert_eq!(signer.verify(&found), Some(value));
        }
    }

    #[test]
    fn refuses_forged_truncated_and_foreign_values() {
        let signer = Signer::new(key().signing());
        let signed = signer.sign("session-id");
        assert_eq!(signer.verify(&signed), Some("session-id"));
        assert_eq!(signer.verify(&signed.replace("session-id", "session-ie")), None);
        assert_eq!(signer.verify(&signed[..40]), None);
        assert_eq!(signer.verify(""), None);
        assert_eq!(signer.verify("é".repeat(30).as_str()), None);
        let other = Signer::new(Key::from(&[8u8; 64]).signing());
        assert_eq!(other.verify(&signed), None);
        // Asked again (now remembered as verified), the answers are the same.
        assert_eq!(signer.verify(&signed), Some("session-id"));
        assert_eq!(signer.verify(&signed.replace("session-id", "session-ie")), None);
        assert_eq!(other.verify(&signed), None);
    }

    #[test]
    fn the_verified_values_remembered_stay_bounded() {
        let signer = Signer::new(key().signing());
        for n in 0..MAX_VERIFIED * 2 + 5 {
            let signed = signer.sign(&format!("id-{n}"));
            assert_eq!(signer.verify(&signed), Some(format!("id-{n}").as_str()));
            assert!(signer.verified.lock().unwrap().len() <= MAX_VERIFIED);
        }
        let long = signer.sign(&"x".repeat(MAX_VERIFIED_LEN));
        assert!(signer.verify(&long).is_some());
        assert!(!signer.verified.lock().unwrap().contains(long.as_str()), "too long to keep");
    }

    #[test]
    fn percent_decoding_agrees_with_percent_encoding() {
        let cases = ["plain", "sec%3Dond", "%3d%3D", "50%", "%4", "%zz%41", "a%2", "%E2%9C%93ok", "%FF", "%C3", "%%41"];
        for text in cases {
            let expected = percent_encoding::percent_decode_str(text).decode_utf8().ok();
            assert_eq!(percent_decoded(text), expected, "{text}");
        }
    }

    #[test]
    fn finds_the_last_cookie_of_that_name_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(http::header::COOKIE, "a=1; keystone.sid=first".parse().unwrap());
        headers.append(http::header::COOKIE, " keystone.sid = sec%3Dond ;b=2; =x; junk".parse().unwrap());
        assert_eq!(find(&headers, "keystone.sid").as_deref(), Some("sec=ond"));
        assert_eq!(find(&headers, "b").as_deref(), Some("2"));
        assert_eq!(find(&headers, "missing"), None);
        headers.append(http::header::COOKIE, "keystone.sid=%FF".parse().unwrap());
        assert_eq!(find(&headers, "keystone.sid").as_deref(), Some("sec=ond"), "a value that is not UTF-8 is skipped");
    }
}
