//! HTTP requests: static files, then the route table → middleware, guards, controller → the
//! view's template, with the visitor's session loaded before and saved after.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use serde_json::{Map, Value, json};

use super::template_value::ScriptMap;

use super::session::{CSRF_KEY, FLASH_KEY, SessionError, VisitorSession, merge_public, public_part, public_rhai};
use super::{App, pages, statics};
use crate::project::Project;
use crate::project::routes::{Match, Route};
use crate::script::controller::{self, RequestScope, Step};
use crate::script::{map_to_json, to_dynamic};
use tower_sessions::session::Id;

/// Answers every path that is not the socket.io client, a socket or the admin's.
///
/// What may wait (a file, a route) is boxed, and a route's own waits are boxed unless every
/// page takes them: request futures stay small. Issue 11: rustc lays every local of an async
/// fn out side by side, the page's future had grown to 5 KB, and copying it on each request
/// cost more CPU in cache misses than the work it carried.
pub async fn dispatch(app: &Arc<App>, project: Arc<Project>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(found) = statics::find(&project.public, &parts.method, parts.uri.path()) {
        let file = statics::serve(&project.public, found, &parts.method, parts.uri.query(), &parts.headers);
        if let Some(response) = Box::pin(file).await {
            return response;
        }
    }
    match project.routes.find(&parts.method, parts.uri.path()) {
        Match::Found(route, params) => match Box::pin(handle_route(app, &project, route, params, parts, body)).await {
            Ok(response) => response,
            Err(err) => err.render(app.production),
        },
        Match::WrongMethod(allowed) => pages::method_not_allowed(&allowed),
        Match::NotFound => not_found(app, &project, &parts),
    }
}

async fn handle_route(
    app: &Arc<App>,
    project: &Project,
    route: &Route,
    params: Vec<(String, String)>,
    parts: Parts,
    body: Body,
) -> Result<Response, HttpError> {
    let body = if has_no_body(&parts.headers, &body) {
        Bytes::new()
    } else {
        Box::pin(read_body(&project.settings.server, body)).await?
    };
    let req = request_map(&parts, &params, &body).map_err(HttpError::BadRequest)?;

    let sessions = &app.sessions;
    let visitor = sessions.load(sessions.id_from_headers(&parts.headers)).await?;
    if route.csrf && !parts.method.is_safe() && !csrf_token_matches(&visitor, &parts, &req) {
        return Err(HttpError::Csrf);
    }
    // `req` goes to the scripts, then to the page as they left it: made again only for a second
    // run (an inline run past the inline limits) or when a script replaced it with a non-map.
    let made_again = || request_map(&parts, &params, &body).unwrap_or_default();
    let (mut scope, outcome) = run_scripts(app, project, route, &parts, req, made_again, &visitor).await;
    let req = scope.take_req().unwrap_or_else(made_again);
    let outcome = outcome.map_err(|err| {
        if err.unavailable {
            // The database is down: a 503 for this request, not a bug to show.
            crate::log::error(&format!("{} {}: {err}", parts.method, parts.uri.path()));
            return HttpError::Script(err);
        }
        let req = crate::script::to_json(&rhai::Dynamic::from_map(req.clone()));
        let session = Value::Object(public_part(&visitor.data));
        let cx = super::error_page::Context { req: &req, session: &session };
        HttpError::Failure(Box::new(super::error_page::Failure::script(project, &err, &cx)))
    })?;
    let (mut response, data) = respond(app, project, route, scope, &outcome, req, &visitor);

    let id = if session_settled(&visitor, &data, &outcome) {
        visitor.id
    } else {
        Box::pin(finish_session(app, &visitor, data, &outcome, &mut response)).await?
    };
    if !outcome.session_emits.is_empty() || !outcome.io.is_empty() {
        Box::pin(apply_socket_effects(app, id, outcome)).await;
    }
    Ok(response)
}

/// Whether the request has no body (most pages), so none is read. A body that knows its size
/// says; one that does not (hyper's, behind the body timeout) is framed by HTTP/1.1, where a
/// request without `Content-Length` or `Transfer-Encoding` has none (RFC 9112 §6.3), like one
/// that says `Content-Length: 0`.
fn has_no_body(headers: &HeaderMap, body: &Body) -> bool {
    if let Some(size) = http_body::Body::size_hint(body).exact() {
        return size == 0;
    }
    !headers.contains_key(header::TRANSFER_ENCODING)
        && headers.get(header::CONTENT_LENGTH).is_none_or(|length| length.as_bytes() == b"0")
}

/// The request body, within `[server] body_limit` and `body_timeout`.
async fn read_body(server: &crate::project::settings::ServerSettings, body: Body) -> Result<Bytes, HttpError> {
    let limit = server.body_limit.bytes();
    match tokio::time::timeout(*server.body_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) if is_timeout(&err) => Err(HttpError::BodyTooSlow),
        Ok(Err(_)) => Err(HttpError::BodyTooLarge(limit)),
        Err(_) => Err(HttpError::BodyTooSlow),
    }
}

/// Runs the route's chain: `middleware.rhai`, its guards, then its view's controller.
async fn run_scripts(
    app: &App,
    project: &Project,
    route: &Route,
    parts: &Parts,
    req: rhai::Map,
    made_again: impl Fn() -> rhai::Map + Send + Sync,
    visitor: &VisitorSession,
) -> (RequestScope, Result<controller::Response, crate::script::ScriptError>) {
    let guards = route.before.iter().filter_map(|g| match crate::users::guards::runs_builtin(project, g) {
        Some(builtin) => Some(Step::Guard(builtin)),
        None => project.guards.get(g).cloned().map(Step::Script),
    });
    let steps: Vec<Step> = project
        .middleware
        .iter()
        .cloned()
        .map(Step::Script)
        .chain(guards)
        .chain(project.controllers.get(&route.view).cloned().map(Step::Script))
        .collect();
    let first = Mutex::new(Some(req));
    let scope = || {
        let req = first.lock().unwrap().take().unwrap_or_else(&made_again);
        RequestScope::new(req, public_rhai(&visitor.data), rhai::Map::new())
    };
    let user_visitor = crate::users::script_api::Visitor {
        user_list: project.settings.admin.user_list.to_string(),
        throttle: app.throttle.clone(),
        client: crate::users::throttle_client(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
            parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
        ),
        user_id: visitor.data.get(crate::users::SESSION_KEY).and_then(Value::as_str).map(str::to_string),
        signin_redirect: if steps.iter().any(|s| matches!(s, Step::Guard(_))) {
            let signin = crate::users::guards::signin_path(project);
            crate::users::guards::signin_redirect(&signin, parts.uri.path(), parts.uri.query())
        } else {
            String::new()
        },
    };
    controller::run_chain(steps, scope, *project.settings.scripts.timeout, app.data.current(), user_visitor).await
}

/// The response the scripts decided (a page, a redirect, JSON, a refusal) and the session data
/// the visitor leaves with.
fn respond(
    app: &App,
    project: &Project,
    route: &Route,
    mut scope: RequestScope,
    outcome: &controller::Response,
    req: rhai::Map,
    visitor: &VisitorSession,
) -> (Response, Map<String, Value>) {
    let mut data = merge_public(&visitor.data, map_to_json(&scope.take_session()));
    // Who the page shows: the user signed in by this request, none after a sign-out.
    let user = if outcome.destroy { None } else { outcome.sign_in.as_ref().or(scope.user()).cloned() };
    if let Some(id) = outcome.sign_in.as_ref().and_then(|u| u.get("id")) {
        data.insert(crate::users::SESSION_KEY.into(), id.clone());
    }
    if outcome.regenerate {
        // A new session gets a new CSRF token (a page rendered now carries the new one).
        data.remove(CSRF_KEY);
    }
    let mut flashes = flash_messages(data.remove(FLASH_KEY));
    for (kind, message) in &outcome.flashes {
        if let Some(list) = flashes.entry(kind.clone()).or_insert_with(|| json!([])).as_array_mut() {
            list.push(json!(message));
        }
    }

    let status = outcome.status.and_then(|s| StatusCode::from_u16(s).ok());
    let response = if outcome.forbidden {
        keep_flashes(&mut data, flashes);
        pages::forbidden(
            "this page is for administrators",
            "You are signed in, but your account is not an administrator's (is_admin).",
            app.production,
        )
    } else if let Some(url) = &outcome.redirect {
        keep_flashes(&mut data, flashes);
        let mut r = Redirect::to(url).into_response();
        *r.status_mut() = status.filter(StatusCode::is_redirection).unwrap_or(StatusCode::FOUND);
        r
    } else if let Some(value) = &outcome.json {
        keep_flashes(&mut data, flashes);
        (status.unwrap_or(StatusCode::OK), axum::Json(value.clone())).into_response()
    } else {
        let token = data.entry(CSRF_KEY).or_insert_with(|| Value::String(super::session::new_csrf_token()));
        let token = token.as_str().unwrap_or_default().to_string();
        let view = outcome.render.as_deref().unwrap_or(&route.view);
        let locals = scope.take_locals();
        let session = public_part(&data);
        let context = ViewContext {
            locals: ScriptMap::new(locals),
            session,
            req: Mutex::new(req),
            messages: flashes,
            csrf_token: token,
            user,
            converted: Mutex::default(),
        };
        render(
            app,
            project,
            &Project::view_template(view),
            minijinja::Value::from_object(context),
            status.unwrap_or(StatusCode::OK),
        )
    };
    (response, data)
}

/// Pushes what the scripts sent to sockets: to this visitor's (`emit_to_session`), then to
/// everyone's (`io.emit` and friends), once the response is decided.
async fn apply_socket_effects(app: &Arc<App>, id: Option<Id>, outcome: controller::Response) {
    if let Some(id) = id {
        for (event, payload) in &outcome.session_emits {
            super::sockets::emit_to_session(app, &id, event, payload).await;
        }
    }
    for effect in outcome.io {
        super::sockets::apply_io(app, "/", effect).await;
    }
}

/// Why a request failed before its response was decided; each renders its own page.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request body over {0} bytes")]
    BodyTooLarge(usize),
    /// `[server] body_timeout` passed before the body arrived.
    #[error("the request body did not arrive in time")]
    BodyTooSlow,
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid CSRF token")]
    Csrf,
    #[error("{0}")]
    Script(#[from] crate::script::ScriptError),
    /// Project code failed while answering: the development error page tells all about it.
    #[error("{}", .0.message())]
    Failure(Box<super::error_page::Failure>),
    #[error("the session store is unavailable; try again shortly")]
    StoreUnavailable(#[from] tower_sessions::session_store::Error),
    #[error("{0}; the session was not saved (flatten the value)")]
    SessionTooDeep(SessionError),
}

impl From<SessionError> for HttpError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Store(err) => HttpError::StoreUnavailable(err),
            err @ SessionError::TooDeep { .. } => HttpError::SessionTooDeep(err),
        }
    }
}

impl HttpError {
    /// The page for this failure: details in development, generic in production.
    pub fn render(&self, production: bool) -> Response {
        match self {
            HttpError::BodyTooLarge(_) => pages::error(StatusCode::PAYLOAD_TOO_LARGE, &self.to_string(), production),
            HttpError::BodyTooSlow => {
                let mut response = pages::error(StatusCode::REQUEST_TIMEOUT, &self.to_string(), production);
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            }
            HttpError::BadRequest(_) => pages::error(StatusCode::BAD_REQUEST, &self.to_string(), production),
            HttpError::Csrf => pages::forbidden(
                "missing or invalid CSRF token",
                "Forms must send the page's token as a csrf_token field (<input type=\"hidden\" name=\"csrf_token\" value=\"{{ csrf_token }}\">) \
                 and scripts as an X-CSRF-Token header. Reload the page and try again.",
                production,
            ),
            // A script that needed the database while it is down: try again later, not a bug.
            HttpError::Script(err) if err.unavailable => pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; try again shortly",
                production,
            ),
            HttpError::Script(err) => pages::error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string(), production),
            HttpError::Failure(failure) => super::error_page::respond(production, failure),
            HttpError::SessionTooDeep(_) => {
                crate::log::error(&self.to_string());
                pages::error(StatusCode::INTERNAL_SERVER_ERROR, &self.to_string(), production)
            }
            HttpError::StoreUnavailable(err) => {
                crate::log::error(&format!("session store unavailable: {err}"));
                pages::error(StatusCode::SERVICE_UNAVAILABLE, &self.to_string(), production)
            }
        }
    }
}

/// The body stopped arriving (tower-http's body timeout, `[server] body_timeout`).
fn is_timeout(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The session's CSRF token came back as a `csrf_token` form field or an `X-CSRF-Token` header.
fn csrf_token_matches(visitor: &VisitorSession, parts: &Parts, req: &rhai::Map) -> bool {
    let Some(expected) = visitor.data.get(CSRF_KEY).and_then(Value::as_str) else { return false };
    let from_header = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let from_form = req
        .get("form")
        .and_then(|f| f.read_lock::<rhai::Map>().and_then(|m| m.get("csrf_token").map(|v| v.to_string())));
    let given = from_header.map(str::to_string).or(from_form).unwrap_or_default();
    // Compare in constant time: the token is a secret.
    given.len() == expected.len() && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Nothing to write: the scripts neither ended nor renewed the session, its data did not
/// change, and its expiry need not move (or a visitor without a session still has no data).
fn session_settled(visitor: &VisitorSession, data: &Map<String, Value>, outcome: &controller::Response) -> bool {
    if outcome.destroy || outcome.regenerate {
        return false;
    }
    (*data == visitor.data && !visitor.needs_refresh) || (visitor.id.is_none() && data.is_empty())
}

/// Saves, regenerates or destroys the session as the scripts asked (once
/// [`session_settled`] said there is something to do), setting the cookie when
/// the visitor has a new id or a renewed expiry. Returns the session id the visitor ends with
/// (`None` also when the session ended while this request ran: it is not written back).
async fn finish_session(
    app: &Arc<App>,
    visitor: &VisitorSession,
    mut data: Map<String, Value>,
    outcome: &controller::Response,
    response: &mut Response,
) -> Result<Option<Id>, SessionError> {
    let sessions = &app.sessions;
    let mut set_cookie = |value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    };
    if outcome.destroy {
        if let Some(old) = visitor.id {
            sessions.delete(old).await?;
            Box::pin(super::sockets::end_session(app, &old)).await;
        }
        set_cookie(sessions.clear_cookie_header());
        // Only the flash survives a logout ("you are signed out"), in a new session.
        let flash: Map<String, Value> =
            data.remove(FLASH_KEY).map(|f| (FLASH_KEY.to_string(), f)).into_iter().collect();
        if flash.is_empty() {
            return Ok(None);
        }
        let Some((id, _)) = sessions.save(&VisitorSession::default(), flash).await? else { return Ok(None) };
        set_cookie(sessions.cookie_header(id));
        return Ok(Some(id));
    }
    if outcome.regenerate {
        let id = sessions.regenerate(visitor.id, data).await?;
        set_cookie(sessions.cookie_header(id));
        if let Some(old) = visitor.id {
            // The old id's sockets are renewed once this response (and its cookie) is out, so
            // our client's reconnection carries the new cookie.
            let app = app.clone();
            after_response(response, async move { super::sockets::renew_session(&app, &old).await });
        }
        return Ok(Some(id));
    }
    let Some((id, send_cookie)) = sessions.save(visitor, data).await? else { return Ok(None) };
    if send_cookie {
        set_cookie(sessions.cookie_header(id));
    }
    Ok(Some(id))
}

/// Runs `task` once the response body has been sent (or dropped).
pub(crate) fn after_response(response: &mut Response, task: impl std::future::Future<Output = ()> + Send + 'static) {
    let (sent, done) = tokio::sync::oneshot::channel::<()>();
    let body = std::mem::take(response.body_mut());
    *response.body_mut() = Body::new(Notifying { body, _sent: sent });
    tokio::spawn(async move {
        let _ = done.await;
        task.await;
    });
}

/// A response body that drops its sender (waking `after_response`) when it is dropped.
struct Notifying {
    body: Body,
    _sent: tokio::sync::oneshot::Sender<()>,
}

impl http_body::Body for Notifying {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Renders a template, turning a render error into an error page naming the file and line.
pub fn render(app: &App, project: &Project, name: &str, context: minijinja::Value, status: StatusCode) -> Response {
    let result = project.templates.get_template(name).and_then(|t| t.render(context.clone()));
    match result {
        Ok(html) if app.production => (status, Html(html)).into_response(),
        Ok(html) => (status, Html(super::live::inject(html))).into_response(),
        Err(err) => {
            let file = format!("templates/{}", err.name().unwrap_or(name));
            // A template that did not load: its own diagnostics say why, with the line.
            let known: Vec<String> = project
                .diagnostics
                .iter()
                .filter(|d| d.is_error() && (d.file == file || d.file == format!("templates/{name}")))
                .map(|d| d.render(false))
                .collect();
            if !known.is_empty() {
                let detail = known.join("\n");
                crate::log::error(&detail);
                return pages::error(StatusCode::INTERNAL_SERVER_ERROR, &detail, app.production);
            }
            let field = |key: &str| {
                context.get_attr(key).ok().and_then(|v| serde_json::to_value(&v).ok()).unwrap_or(Value::Null)
            };
            let (req, session) = (field("req"), field("session"));
            let cx = super::error_page::Context { req: &req, session: &session };
            super::error_page::respond(app.production, &super::error_page::Failure::template(project, name, &err, &cx))
        }
    }
}

fn not_found(app: &App, project: &Project, parts: &Parts) -> Response {
    const CUSTOM: &str = "errors/404.html";
    if project.template_sources.contains_key(CUSTOM) {
        let req = json!({ "method": parts.method.as_str(), "path": parts.uri.path() });
        let context = json!({ "req": req, "session": {}, "messages": {} });
        return render(
            app,
            project,
            CUSTOM,
            minijinja::Value::from(minijinja::value::Serde(&context)),
            StatusCode::NOT_FOUND,
        );
    }
    pages::not_found(parts.uri.path(), app.production)
}

/// The template context: `locals` at the top level, then `session`, `req`, `messages` and
/// `csrf_token` (which win over locals of the same name). Script values (`locals`, `req`) are
/// read in place; the session's JSON values are converted when the template reads them, once.
#[derive(Debug)]
struct ViewContext {
    locals: ScriptMap,
    session: Map<String, Value>,
    /// Handed to the template on its first read of `req` (most pages never read it).
    req: Mutex<rhai::Map>,
    messages: Map<String, Value>,
    csrf_token: String,
    /// The signed-in user; a local named `user` wins over it.
    user: Option<Map<String, Value>>,
    converted: Mutex<HashMap<String, minijinja::Value>>,
}

impl minijinja::value::Object for ViewContext {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let key = key.as_str()?;
        match key {
            "csrf_token" => return Some(minijinja::Value::from(self.csrf_token.as_str())),
            "session" | "messages" | "req" => {}
            "user" if !self.locals.contains_key("user") => {}
            local => return self.locals.get(local),
        }
        let mut converted = self.converted.lock().unwrap();
        if let Some(value) = converted.get(key) {
            return Some(value.clone());
        }
        let json = |value| minijinja::Value::from(minijinja::value::Serde(value));
        let value = match key {
            "req" => super::template_value::from_script_map(std::mem::take(&mut *self.req.lock().unwrap())),
            "session" => json(&self.session),
            "messages" => json(&self.messages),
            _ => self.user.as_ref().map_or(minijinja::Value::from(()), json),
        };
        converted.insert(key.to_string(), value.clone());
        Some(value)
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let builtins = ["session", "req", "messages", "csrf_token", "user"];
        let locals = self.locals.keys().filter(|k| !builtins.contains(k));
        minijinja::value::Enumerator::Values(locals.chain(builtins).map(minijinja::Value::from).collect())
    }
}

/// Flash messages kept in the session, grouped by kind.
fn flash_messages(stored: Option<Value>) -> Map<String, Value> {
    match stored {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn keep_flashes(session: &mut Map<String, Value>, flashes: Map<String, Value>) {
    if !flashes.is_empty() {
        session.insert(FLASH_KEY.into(), Value::Object(flashes));
    }
}

/// `req` for scripts: method, path, params, query, form, json, headers (lower-case), ip.
fn request_map(parts: &Parts, params: &[(String, String)], body: &Bytes) -> Result<rhai::Map, String> {
    let mut req = rhai::Map::new();
    req.insert("method".into(), parts.method.as_str().into());
    req.insert("path".into(), parts.uri.path().into());
    let params: rhai::Map = params.iter().map(|(k, v)| (k.as_str().into(), v.clone().into())).collect();
    // `from_map`, not `into()`: rhai's generic conversion rebuilds a map entry by entry.
    req.insert("params".into(), rhai::Dynamic::from_map(params));
    req.insert("query".into(), rhai::Dynamic::from_map(urlencoded_map(parts.uri.query().unwrap_or("").as_bytes())));
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let form = if content_type.starts_with("application/x-www-form-urlencoded") {
        urlencoded_map(body)
    } else {
        rhai::Map::new()
    };
    req.insert("form".into(), rhai::Dynamic::from_map(form));
    let json = if content_type.starts_with("application/json") && !body.is_empty() {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON body: {e}"))?;
        to_dynamic(&value)
    } else {
        rhai::Dynamic::UNIT
    };
    req.insert("json".into(), json);
    let headers: rhai::Map = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().into(), v.to_string().into())))
        .collect();
    req.insert("headers".into(), rhai::Dynamic::from_map(headers));
    // Behind a reverse proxy on this host, the client the proxy names (as the sign-in throttle).
    let ip = crate::users::throttle_client(
        parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
    );
    req.insert("ip".into(), ip.into());
    Ok(req)
}

fn urlencoded_map(bytes: &[u8]) -> rhai::Map {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.as_ref().into(), v.into_owned().into())).collect()
}
