//! The admin's look: templates, stylesheet and script embedded in the binary, rendered with
//! minijinja (every value escaped), and the few pages that stand alone.
use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use minijinja::Environment;
use serde_json::{Map, Value, json};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("signin.html", include_str!("templates/signin.html")),
    ("message.html", include_str!("templates/message.html")),
    ("home.html", include_str!("templates/home.html")),
    ("list.html", include_str!("templates/list.html")),
    ("item.html", include_str!("templates/item.html")),
    ("delete.html", include_str!("templates/delete.html")),
    ("fields.html", include_str!("templates/fields.html")),
];
const CSS: &str = include_str!("assets/admin.css");
const JS: &str = include_str!("assets/admin.js");

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // Our own templates: a unit test renders each, so a mistake never ships.
        if let Err(err) = env.add_template(name, source) {
            crate::log::error(&format!("admin template {name}: {err}"));
        }
    }
    env
});

/// Renders one of the admin's templates; a failure is a 500 naming it (and logged).
pub fn render(name: &str, context: &Value, status: StatusCode) -> Response {
    match ENV.get_template(name).and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(context)))) {
        Ok(html) => super::html(status, html),
        Err(err) => {
            crate::log::error(&format!("admin template {name}: {err:#}"));
            message(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The admin page failed to render.")
        }
    }
}

/// A page with a heading and one paragraph.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render_plain(status, &json!({ "title": title, "text": text }))
}

fn render_plain(status: StatusCode, context: &Value) -> Response {
    match ENV
        .get_template("message.html")
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(context))))
    {
        Ok(html) => super::html(status, html),
        Err(_) => super::html(status, crate::server::pages::escape(&context.to_string())),
    }
}

/// The app has no user list: say what to add.
pub fn no_user_list(user_list: &str) -> Response {
    let context = json!({
        "title": "The Admin UI needs a user list",
        "text": format!("Add models/{user_list}.toml with the fields below, then an admin user: keystone-rs user add you@example.com --admin."),
        "code": format!("# models/{user_list}.toml\ntitle = \"name\"\n\n[fields]\nname     = {{ type = \"text\", required = true }}\nemail    = {{ type = \"email\", required = true, unique = true }}\npassword = {{ type = \"password\", required = true }}\nis_admin = {{ type = \"boolean\" }}"),
    });
    render_plain(StatusCode::SERVICE_UNAVAILABLE, &context)
}

/// A signed-in user who is not an admin.
pub fn not_admin(base: &str, user: &Map<String, Value>, csrf: &str) -> Response {
    let who = user.get("email").and_then(Value::as_str).unwrap_or("this account");
    let context = json!({
        "title": "Admins only",
        "text": format!("You are signed in as {who}, which is not an admin account. Sign out and sign in as an admin to use the Admin UI."),
        "signout": format!("{base}/signout"),
        "csrf_token": csrf,
    });
    render_plain(StatusCode::FORBIDDEN, &context)
}

/// The sign-in form.
pub fn signin(
    base: &str,
    csrf: &str,
    email: &str,
    from: &str,
    error: Option<&str>,
    flashes: Value,
    status: StatusCode,
) -> Response {
    let context = json!({
        "base": base, "csrf_token": csrf, "email": email, "from": from, "error": error, "flashes": flashes,
    });
    render("signin.html", &context, status)
}

/// `static/admin.css` and `static/admin.js`, for anyone (they hold nothing private).
pub fn asset(rest: &str, headers: &HeaderMap) -> Option<Response> {
    let (body, kind) = match rest {
        "static/admin.css" => (CSS, "text/css; charset=utf-8"),
        "static/admin.js" => (JS, "application/javascript; charset=utf-8"),
        _ => return None,
    };
    let etag = format!("\"{:016x}\"", crate::project::public::fnv1a(body.as_bytes()));
    let cache = [(header::CACHE_CONTROL, "no-cache".to_string()), (header::ETAG, etag.clone())];
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Some((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Some((cache, [(header::CONTENT_TYPE, kind)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_loads() {
        for (name, _) in TEMPLATES {
            assert!(ENV.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_sign_in_page_escapes_what_it_echoes() {
        let response =
            signin("/keystone", "tok", "\"><script>alert(1)</script>", "/keystone/", None, json!([]), StatusCode::OK);
        assert_eq!(response.status(), StatusCode::OK);
        let html = ENV
            .get_template("signin.html")
            .and_then(|t| {
                t.render(minijinja::Value::from(minijinja::value::Serde(json!({ "base": "/keystone", "csrf_token": "tok", "email": "\"><script>alert(1)</script>", "from": "/", "flashes": [] }))))
            })
            .unwrap();
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
    }
}
