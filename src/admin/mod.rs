//! The Admin UI (DESIGN §11) at `[admin] path`: sign-in for `is_admin` users, then the lists
//! and their items, server-rendered from templates embedded in the binary and kept live over
//! the admin's own socket namespace. Every form carries the session's CSRF token and every
//! write checks the request's `Origin`.
pub(crate) mod form;
pub(crate) mod live;
mod pages;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::lists::Db;
use crate::project::Project;
use crate::server::App;
use crate::server::session::{CSRF_KEY, VisitorSession};
use crate::users;

/// Session key of the admin's flash messages (kept apart from the site's `flash()`).
const FLASH_KEY: &str = "_admin_flash";
/// Most values one form may carry (a form is a few dozen fields).
const MAX_FORM_VALUES: usize = 5_000;

/// The part of `path` under `[admin] path` (without slashes at either end), when the admin
/// answers it.
pub fn claims(project: &Project, path: &str) -> Option<String> {
    let base = project.settings.admin.path.trim_end_matches('/');
    match path.strip_prefix(base) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Some(rest.trim_matches('/').to_string()),
        _ => None,
    }
}

/// Answers a request under `[admin] path`; `rest` is what [`claims`] returned for it.
pub async fn answer(app: &Arc<App>, project: Arc<Project>, rest: String, request: Request) -> Response {
    let base = project.settings.admin.path.trim_end_matches('/').to_string();
    match serve(app, project, base, rest, request).await {
        Ok(response) => response,
        Err(failure) => failure.page(),
    }
}

/// Why an admin request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("request body over {0} bytes")]
    BodyTooLarge(usize),
    #[error("the request body did not arrive in time")]
    BodyTooSlow,
    #[error("the form carries more than {MAX_FORM_VALUES} values")]
    TooManyValues,
    #[error("this form expired or came from another site; reload the page and try again")]
    Forbidden,
    #[error("the session store is unavailable; try again shortly")]
    Sessions(#[from] crate::server::session::SessionError),
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
}

impl From<tower_sessions::session_store::Error> for AdminError {
    fn from(err: tower_sessions::session_store::Error) -> Self {
        AdminError::Sessions(err.into())
    }
}

impl AdminError {
    fn page(&self) -> Response {
        let status = match self {
            AdminError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::BodyTooSlow => StatusCode::REQUEST_TIMEOUT,
            AdminError::TooManyValues => StatusCode::BAD_REQUEST,
            AdminError::Forbidden => StatusCode::FORBIDDEN,
            AdminError::Sessions(_) | AdminError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        if matches!(self, AdminError::Sessions(_)) {
            crate::log::error(&format!("admin: {self}"));
        }
        view::message(status, &status.to_string(), &self.to_string())
    }
}

/// One admin request, its session and what the response should do with it.
pub(crate) struct Visit {
    pub app: Arc<App>,
    pub project: Arc<Project>,
    /// `[admin] path` without a trailing slash (`/keystone`).
    pub base: String,
    pub method: Method,
    pub headers: HeaderMap,
    /// The path under `base`, without slashes at either end.
    pub rest: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub client: String,
    /// The path and query as asked (for `?from=`).
    pub asked: String,
    visitor: VisitorSession,
    /// The session as it will be saved.
    pub data: Map<String, Value>,
}

impl Visit {
    /// The session's CSRF token, made now if it has none.
    pub fn csrf(&mut self) -> String {
        let token =
            self.data.entry(CSRF_KEY).or_insert_with(|| Value::String(crate::server::session::new_csrf_token()));
        token.as_str().unwrap_or_default().to_string()
    }

    /// The value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The last value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Keeps a flash message for the next page this session renders.
    pub fn flash(&mut self, kind: &str, message: &str) {
        let list = self.data.entry(FLASH_KEY).or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut()
            && list.len() < 10
        {
            list.push(json!({ "kind": kind, "message": message }));
        }
    }

    /// The flash messages kept so far, taken out of the session.
    pub fn take_flashes(&mut self) -> Value {
        self.data.remove(FLASH_KEY).unwrap_or_else(|| json!([]))
    }

    /// A POST is ours when it carries the session's token and, if the browser names where it
    /// comes from, comes from this site.
    fn same_site_post(&self) -> bool {
        let Some(expected) = self.visitor.data.get(CSRF_KEY).and_then(Value::as_str) else { return false };
        let given = self
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| self.field("csrf_token"))
            .unwrap_or_default();
        let token_matches = given.len() == expected.len()
            && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        let settings = &self.project.settings;
        let host = self.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let origin_ok = match self.headers.get(header::ORIGIN) {
            None => true,
            Some(origin) => origin.to_str().is_ok_and(|o| {
                crate::server::guard::origin_allowed(
                    o,
                    host,
                    *settings.server.secure,
                    &settings.sockets.allowed_origins,
                )
            }),
        };
        let fetch_site_ok = self.headers.get("sec-fetch-site").is_none_or(|v| v.as_bytes() != b"cross-site");
        token_matches && origin_ok && fetch_site_ok
    }

    fn redirect(&self, to: &str) -> Response {
        Redirect::to(to).into_response()
    }
}

/// The signed-in admin: the lists and who they are.
pub(crate) struct Admin {
    pub db: Arc<Db>,
    pub user: Map<String, Value>,
}

async fn serve(
    app: &Arc<App>,
    project: Arc<Project>,
    base: String,
    rest: String,
    request: Request,
) -> Result<Response, AdminError> {
    let (parts, body) = request.into_parts();
    if let Some(response) = view::asset(&rest, &parts.headers) {
        return Ok(response);
    }
    let server = &project.settings.server;
    let limit = server.body_limit.bytes();
    let body = match tokio::time::timeout(*server.body_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(AdminError::BodyTooLarge(limit)),
        Err(_) => return Err(AdminError::BodyTooSlow),
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().take(MAX_FORM_VALUES + 1).collect();
    let query: Vec<(String, String)> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .take(MAX_FORM_VALUES + 1)
        .collect();
    if form.len() > MAX_FORM_VALUES || query.len() > MAX_FORM_VALUES {
        return Err(AdminError::TooManyValues);
    }
    let visitor = app.sessions.load(app.sessions.id_from_headers(&parts.headers)).await?;
    let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(String::new(), |c| c.0.ip().to_string());
    let mut visit = Visit {
        app: app.clone(),
        project,
        base,
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        rest,
        query,
        form,
        client,
        asked: parts.uri.path_and_query().map_or_else(String::new, |p| p.as_str().to_string()),
        data: visitor.data.clone(),
        visitor,
    };
    if visit.method == Method::POST && !visit.same_site_post() {
        return Err(AdminError::Forbidden);
    }
    let mut response = match visit.rest.as_str() {
        "signin" => signin(&mut visit).await?,
        "signout" if visit.method == Method::POST => signout(&mut visit).await?,
        _ => match enter(&mut visit).await? {
            Ok(admin) => pages::serve(&mut visit, admin).await?,
            Err(refused) => refused,
        },
    };
    finish(&visit, &mut response).await?;
    Ok(response)
}

/// Saves the session if the request changed it, with a cookie when the visitor needs one.
async fn finish(visit: &Visit, response: &mut Response) -> Result<(), AdminError> {
    let unchanged = visit.data == visit.visitor.data;
    if (unchanged && !visit.visitor.needs_refresh) || (visit.visitor.id.is_none() && visit.data.is_empty()) {
        return Ok(());
    }
    let sessions = &visit.app.sessions;
    if let Some((id, send_cookie)) = sessions.save(&visit.visitor, visit.data.clone()).await?
        && send_cookie
        && let Ok(value) = HeaderValue::from_str(&sessions.cookie_header(id))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(())
}

/// The signed-in admin, or the page to show instead: the sign-in form for nobody, 403 for a
/// user who is not an admin, what to add when the app has no user list.
async fn enter(visit: &mut Visit) -> Result<Result<Admin, Response>, AdminError> {
    let user_list = visit.project.settings.admin.user_list.value.clone();
    let Some(db) = visit.app.data.current().filter(|db| db.models().contains_key(&user_list)) else {
        return Ok(Err(view::no_user_list(&user_list)));
    };
    let session = visit.data.clone();
    let found = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || users::current(&db, &user_list, &session)).await
    };
    let user = match found {
        Ok(Ok(user)) => user,
        Ok(Err(err)) if err.is_unavailable() => return Err(AdminError::Unavailable),
        _ => None,
    };
    match user {
        None => {
            let from: String = form_urlencoded::byte_serialize(visit.asked.as_bytes()).collect();
            let to = if visit.rest.is_empty() {
                format!("{}/signin", visit.base)
            } else {
                format!("{}/signin?from={from}", visit.base)
            };
            Ok(Err(visit.redirect(&to)))
        }
        Some(user) if !users::is_admin(&user) => {
            let csrf = visit.csrf();
            Ok(Err(view::not_admin(&visit.base, &user, &csrf)))
        }
        Some(user) => Ok(Ok(Admin { db, user })),
    }
}

/// `from` when it is a path on this site (never `//host` or `/\host`), else the admin's home.
pub(crate) fn on_site(from: Option<&str>, base: &str) -> String {
    match from {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_string()
        }
        _ => format!("{base}/"),
    }
}

async fn signin(visit: &mut Visit) -> Result<Response, AdminError> {
    let user_list = visit.project.settings.admin.user_list.value.clone();
    let Some(db) = visit.app.data.current().filter(|db| db.models().contains_key(&user_list)) else {
        return Ok(view::no_user_list(&user_list));
    };
    let from = on_site(visit.query("from").or(visit.field("from")), &visit.base);
    if visit.method != Method::POST {
        let flashes = visit.take_flashes();
        let csrf = visit.csrf();
        return Ok(view::signin(&visit.base, &csrf, "", &from, None, flashes, StatusCode::OK));
    }
    let email = visit.field("email").unwrap_or_default().chars().take(320).collect::<String>();
    let password = visit.field("password").unwrap_or_default().to_string();
    let (app, client) = (visit.app.clone(), visit.client.clone());
    let (list, mail) = (user_list.clone(), email.clone());
    let outcome =
        tokio::task::spawn_blocking(move || users::sign_in(&db, &list, &app.throttle, &client, &mail, &password)).await;
    let refused = |visit: &mut Visit, message: String, status: StatusCode| {
        let csrf = visit.csrf();
        view::signin(&visit.base, &csrf, &email, &from, Some(&message), json!([]), status)
    };
    let user = match outcome {
        Ok(Ok(user)) => user,
        Ok(Err(users::SignInError::List(err))) if err.is_unavailable() => return Err(AdminError::Unavailable),
        Ok(Err(err @ users::SignInError::Throttled { .. })) => {
            return Ok(refused(visit, sentence(&err.to_string()), StatusCode::TOO_MANY_REQUESTS));
        }
        Ok(Err(err @ users::SignInError::Refused)) => {
            return Ok(refused(visit, sentence(&err.to_string()), StatusCode::UNAUTHORIZED));
        }
        Ok(Err(users::SignInError::List(err))) => {
            crate::log::error(&format!("admin sign-in: {err}"));
            return Ok(refused(visit, sentence(&err.to_string()), StatusCode::INTERNAL_SERVER_ERROR));
        }
        Err(_) => return Err(AdminError::Unavailable),
    };
    // A new session id against fixation, with a new CSRF token; sockets of the old id renew.
    let mut data = visit.data.clone();
    data.insert(users::SESSION_KEY.into(), user.get("id").cloned().unwrap_or(Value::Null));
    data.insert(CSRF_KEY.into(), Value::String(crate::server::session::new_csrf_token()));
    data.remove(FLASH_KEY);
    let sessions = &visit.app.sessions;
    let id = sessions.regenerate(visit.visitor.id, data.clone()).await?;
    let mut response = visit.redirect(&from);
    if let Ok(value) = HeaderValue::from_str(&sessions.cookie_header(id)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    if let Some(old) = visit.visitor.id {
        let app = visit.app.clone();
        crate::server::http::after_response(&mut response, async move {
            crate::server::sockets::renew_session(&app, &old).await;
        });
    }
    // Saved already: `finish` must not write the old id again.
    visit.visitor = VisitorSession { id: Some(id), data: data.clone(), needs_refresh: false };
    visit.data = data;
    Ok(response)
}

async fn signout(visit: &mut Visit) -> Result<Response, AdminError> {
    let sessions = &visit.app.sessions;
    let mut response = visit.redirect(&format!("{}/signin", visit.base));
    if let Some(old) = visit.visitor.id {
        sessions.delete(old).await?;
        crate::server::sockets::end_session(&visit.app, &old).await;
    }
    if let Ok(value) = HeaderValue::from_str(&sessions.clear_cookie_header()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    // Only a flash survives, in a new session.
    visit.visitor = VisitorSession::default();
    visit.data = Map::new();
    visit.flash("success", "You are signed out.");
    Ok(response)
}

/// "the email or password is not right" → "The email or password is not right."
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    format!("{first}{}.", chars.as_str().trim_end_matches('.'))
}

/// An HTML response.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_stays_on_this_site() {
        assert_eq!(on_site(Some("/keystone/Post?page=2"), "/keystone"), "/keystone/Post?page=2");
        for foreign in ["//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "/a\\b"] {
            assert_eq!(on_site(Some(foreign), "/keystone"), "/keystone/", "{foreign}");
        }
        assert_eq!(on_site(None, "/admin"), "/admin/");
    }

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(sentence("the email or password is not right"), "The email or password is not right.");
    }
}
