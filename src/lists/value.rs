//! One field value in, its stored form out: the validation and conversion of every field
//! type (DESIGN §10), the slug autokey, argon2id passwords, rendered markdown, clean HTML.
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::model::{Field, FieldType};

/// Longest password accepted (argon2 would take any length; a hostile client should not).
pub const MAX_PASSWORD: usize = 1024;

/// Converts `input` (from a script, a form or a default) into what is stored for `field`.
/// `Ok(None)` means "absent": nothing, null, or an empty string from a form.
/// `hash` is false for defaults, which are checked without hashing anything.
///
/// # Errors
/// A short phrase that follows the field's label: `must be a number`.
pub fn convert(field: &Field, input: &Value, hash: bool) -> Result<Option<Value>, String> {
    if input.is_null() || input.as_str().is_some_and(|s| s.is_empty() && field.kind != FieldType::Json) {
        return Ok(None);
    }
    let text = || input.as_str().ok_or_else(|| "must be text".to_string());
    let stored = match field.kind {
        FieldType::Text | FieldType::Textarea => Value::String(text()?.to_string()),
        FieldType::Html => Value::String(clean_html(text()?)),
        FieldType::Markdown => {
            let source = match input {
                Value::Object(m) => m.get("md").and_then(Value::as_str).ok_or("must be markdown text")?,
                _ => text()?,
            };
            json!({ "md": source, "html": render_markdown(source) })
        }
        FieldType::Email => {
            let email = text()?.trim().to_lowercase();
            if !valid_email(&email) {
                return Err("must be an email address".into());
            }
            Value::String(email)
        }
        FieldType::Url => {
            let raw = text()?.trim();
            match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Value::String(raw.to_string()),
                _ => return Err("must be a web address starting with http:// or https://".into()),
            }
        }
        FieldType::Password => {
            let plain = text()?;
            if plain.len() > MAX_PASSWORD {
                return Err(format!("must be at most {MAX_PASSWORD} characters"));
            }
            if !hash {
                return Ok(None);
            }
            Value::String(hash_password(plain))
        }
        FieldType::Boolean => Value::Bool(match input {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "on" | "yes" | "1" => true,
                "false" | "off" | "no" | "0" => false,
                _ => return Err("must be true or false".into()),
            },
            _ => return Err("must be true or false".into()),
        }),
        FieldType::Number => match input {
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => input.clone(),
            Value::String(s) => parse_number(s.trim()).ok_or("must be a number")?,
            _ => return Err("must be a number".into()),
        },
        FieldType::Date => Value::String(parse_date(text()?).ok_or("must be a date like 2024-05-31")?),
        FieldType::Datetime => {
            Value::String(parse_datetime(text()?).ok_or("must be a date and time like 2024-05-31T09:30:00Z")?)
        }
        FieldType::Select => {
            let choice = match input {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err("must be one of the options".into()),
            };
            if !field.options.contains(&choice) {
                return Err(format!("must be one of: {}", field.options.join(", ")));
            }
            Value::String(choice)
        }
        FieldType::Relationship => {
            let one = |v: &Value| -> Result<String, String> {
                let id = match v {
                    Value::String(s) => s.trim().to_string(),
                    Value::Object(m) => m.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                    _ => String::new(),
                };
                if valid_id(&id) { Ok(id) } else { Err("must be an item's id".into()) }
            };
            if field.many {
                let items: Vec<Value> = match input {
                    Value::Array(a) => a.iter().filter(|v| !v.is_null() && v.as_str() != Some("")).cloned().collect(),
                    other => vec![other.clone()],
                };
                let mut ids: Vec<String> = Vec::new();
                for v in &items {
                    let id = one(v)?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                if ids.is_empty() {
                    return Ok(None);
                }
                json!(ids)
            } else {
                Value::String(one(input)?)
            }
        }
        FieldType::Json => input.clone(),
    };
    Ok(Some(stored))
}

/// What a filter compares a field with: the value in stored form, without hashing.
///
/// # Errors
/// The value could never match the field (`price` compared with `"abc"`).
pub fn filter_value(field: &Field, input: &Value) -> Result<Value, String> {
    match field.kind {
        FieldType::Password => Err("cannot be searched".into()),
        // A filter compares the markdown source, and looks for text in HTML as it is.
        FieldType::Markdown | FieldType::Html | FieldType::Text | FieldType::Textarea => match input {
            Value::String(_) => Ok(input.clone()),
            _ => Err("must be compared with text".into()),
        },
        FieldType::Relationship => {
            let single = Field { many: false, ..field.clone() };
            Ok(convert(&single, input, false)?.unwrap_or(Value::Null))
        }
        FieldType::Select => match input {
            Value::String(_) => Ok(input.clone()),
            _ => Err("must be compared with text".into()),
        },
        _ => Ok(convert(field, input, false)?.unwrap_or(Value::Null)),
    }
}

/// An item id: 24 lower-case hex digits — a millisecond clock, a counter and randomness —
/// so ids made by one process sort in creation order (`sort("id")`).
pub fn new_id() -> String {
    use std::sync::Mutex;
    static LAST: Mutex<(u64, u16)> = Mutex::new((0, 0));
    let now = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64 & 0xffff_ffff_ffff;
    let (millis, seq) = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        *last = if now > last.0 {
            (now, 0)
        } else if last.1 == u16::MAX {
            (last.0 + 1, 0)
        } else {
            (last.0, last.1 + 1)
        };
        *last
    };
    let random: [u8; 4] = rand::random();
    format!("{millis:012x}{seq:04x}{}", hex::encode(random))
}

pub fn valid_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `Hello, World! Ça va?` → `hello-world-ca-va`.
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = fold_accent(c);
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 100 {
            break;
        }
    }
    out.trim_end_matches('-').to_string()
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'a',
        'ç' | 'Ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        other => other,
    }
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && email.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
        && !domain.contains('@')
}

fn parse_number(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f: f64 = text.parse().ok()?;
    serde_json::Number::from_f64(f).filter(|_| f.is_finite()).map(Value::Number)
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");
const LOCAL: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
const LOCAL_SECONDS: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
const STORED: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `YYYY-MM-DD` (a datetime's day, or `now`'s).
fn parse_date(text: &str) -> Option<String> {
    let text = text.trim();
    if text == "now" || text == "today" {
        return OffsetDateTime::now_utc().date().format(DATE).ok();
    }
    if let Ok(d) = Date::parse(text, DATE) {
        return d.format(DATE).ok();
    }
    parse_datetime(text).map(|s| s[..10].to_string())
}

/// RFC 3339, an HTML `datetime-local` value (taken as UTC), a bare date (midnight UTC) or
/// `now`, stored as `YYYY-MM-DDTHH:MM:SS.mmmZ` so that text order is time order.
fn parse_datetime(text: &str) -> Option<String> {
    let text = text.trim();
    let at = if text == "now" {
        OffsetDateTime::now_utc()
    } else if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        t
    } else if let Ok(t) =
        PrimitiveDateTime::parse(text, LOCAL_SECONDS).or_else(|_| PrimitiveDateTime::parse(text, LOCAL))
    {
        t.assume_utc()
    } else {
        Date::parse(text, DATE).ok()?.midnight().assume_utc()
    };
    at.to_offset(UtcOffset::UTC).format(STORED).ok()
}

/// An argon2id hash in PHC form, with a fresh salt.
pub fn hash_password(plain: &str) -> String {
    use argon2::{PasswordHash, PasswordHasher};
    let hash: Result<PasswordHash, _> = argon2::Argon2::default().hash_password(plain.as_bytes());
    hash.map(|h| h.to_string()).unwrap_or_default()
}

/// Whether `plain` matches a stored argon2id hash.
pub fn verify_password(plain: &str, stored: &str) -> bool {
    use argon2::PasswordVerifier;
    plain.len() <= MAX_PASSWORD && argon2::Argon2::default().verify_password(plain.as_bytes(), stored).is_ok()
}

/// A hash to verify against when there is none to check (an unknown email, an account
/// without a password), so that every refusal costs one argon2 verification.
static DECOY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("keystone-rs decoy password"));

/// [`verify_password`] against `stored`, or against a decoy when there is none: `false`
/// then, in about the time a real check takes.
pub fn verify_or_decoy(plain: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(hash) => verify_password(plain, hash),
        None => {
            let _ = verify_password(plain, &DECOY_HASH);
            false
        }
    }
}

/// Computes the decoy hash now (in the background at server start), so that the first
/// refusal is not slower than the others.
pub fn warm_decoy() {
    std::sync::LazyLock::force(&DECOY_HASH);
}

/// Markdown to HTML, sanitised: markdown may carry raw HTML, which must not carry scripts.
pub fn render_markdown(source: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(source, pulldown_cmark::Options::all());
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    clean_html(&html)
}

/// HTML with scripts, event handlers and dangerous URLs removed (ammonia's safe defaults).
pub fn clean_html(html: &str) -> String {
    ammonia::clean(html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::model::parse;

    fn field(kind: &str, extra: &str) -> Field {
        let source = format!("[fields]\nf = {{ type = \"{kind}\"{extra} }}\n");
        parse("T", "models/T.toml", &source).unwrap().fields.remove(0)
    }

    fn ok(kind: &str, input: Value) -> Value {
        convert(&field(kind, ""), &input, true).unwrap().unwrap()
    }

    fn bad(kind: &str, input: Value) -> String {
        convert(&field(kind, ""), &input, true).unwrap_err()
    }

    #[test]
    fn each_type_converts_what_forms_and_scripts_send() {
        assert_eq!(ok("number", json!("42")), json!(42));
        assert_eq!(ok("number", json!("2.5")), json!(2.5));
        assert_eq!(bad("number", json!("abc")), "must be a number");
        assert_eq!(ok("boolean", json!("on")), json!(true));
        assert_eq!(ok("email", json!(" Ann@Example.COM ")), json!("ann@example.com"));
        assert!(bad("email", json!("not-an-email")).contains("email"));
        assert!(bad("url", json!("javascript:alert(1)")).contains("http"));
        assert_eq!(ok("date", json!("2024-05-31")), json!("2024-05-31"));
        assert_eq!(ok("datetime", json!("2024-05-31T10:30:00+02:00")), json!("2024-05-31T08:30:00.000Z"));
        assert_eq!(ok("datetime", json!("2024-05-31T10:30")), json!("2024-05-31T10:30:00.000Z"));
        assert!(bad("date", json!("31/05/2024")).contains("date"));
        assert_eq!(convert(&field("text", ""), &json!(""), true).unwrap(), None);
    }

    #[test]
    fn select_takes_only_its_options() {
        let f = field("select", ", options = [\"draft\", \"published\"]");
        assert_eq!(convert(&f, &json!("draft"), true).unwrap(), Some(json!("draft")));
        assert_eq!(convert(&f, &json!("gone"), true).unwrap_err(), "must be one of: draft, published");
    }

    #[test]
    fn html_and_markdown_lose_their_scripts() {
        assert_eq!(ok("html", json!("<p onclick=\"x()\">hi<script>alert(1)</script></p>")), json!("<p>hi</p>"));
        let md = ok("markdown", json!("# Title\n\n<script>alert(1)</script>*yes*"));
        assert_eq!(md["md"], json!("# Title\n\n<script>alert(1)</script>*yes*"));
        assert!(md["html"].as_str().unwrap().contains("<h1>Title</h1>"), "{md}");
        assert!(!md["html"].as_str().unwrap().contains("script"), "{md}");
    }

    #[test]
    fn passwords_are_argon2id_hashes_that_verify() {
        let stored = ok("password", json!("correct horse"));
        let stored = stored.as_str().unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify_password("correct horse", stored));
        assert!(!verify_password("wrong", stored));
    }

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slugify("Hello, World! Ça va?"), "hello-world-ca-va");
        assert_eq!(slugify("  --  "), "");
        assert_eq!(slugify("日本 2024"), "2024");
    }

    #[test]
    fn ids_are_24_hex_digits_in_creation_order() {
        let a = new_id();
        assert!(valid_id(&a), "{a}");
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids made one after another sort in that order");
        assert!(!valid_id("'; drop table x; --"));
    }
}
