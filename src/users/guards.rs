//! The built-in guards `require_user` and `require_admin`, usable in a route's `before`
//! without a script, and where they send a visitor who is not signed in.
//!
//! The sign-in page is the app's own when it has a `GET` route to a view named `signin`
//! (without path parameters), else the Admin UI's `{admin.path}/signin`.
use crate::project::Project;

/// A guard keystone-rs provides. A project's own `routes/middleware/NAME.rhai` of the same
/// name replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Not signed in → redirect to the sign-in page with `?from=`.
    RequireUser,
    /// As `require_user`; signed in but not `is_admin` → 403.
    RequireAdmin,
}

impl Builtin {
    pub const ALL: [Builtin; 2] = [Builtin::RequireUser, Builtin::RequireAdmin];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::RequireUser => "require_user",
            Builtin::RequireAdmin => "require_admin",
        }
    }

    /// The built-in guard of this name, if there is one.
    pub fn named(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// Whether `name` in a route's `before` runs a built-in guard in `project` (no script of
/// that name overrides it).
pub fn runs_builtin(project: &Project, name: &str) -> Option<Builtin> {
    Builtin::named(name).filter(|_| !project.guards.contains_key(name))
}

/// The view whose `GET` route, if the app has one, is its sign-in page.
pub const SIGNIN_VIEW: &str = "signin";

/// The path of the sign-in page: the app's `signin` view, else `{admin.path}/signin`.
pub fn signin_path(project: &Project) -> String {
    let own = project
        .routes
        .routes
        .iter()
        .find(|r| r.view == SIGNIN_VIEW && r.methods.allows(&http::Method::GET) && !r.path.contains('{'));
    match own {
        Some(route) => route.path.clone(),
        None => format!("{}/signin", project.settings.admin.path.trim_end_matches('/')),
    }
}

/// The sign-in page with `?from=` the page asked for, so the sign-in can send the visitor
/// back. `from` stays on this site: a path that a browser would read as another host
/// (`//evil.example`, `/\evil.example`) becomes `/`.
pub fn signin_redirect(signin: &str, path: &str, query: Option<&str>) -> String {
    let on_site = path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\");
    let from = match (on_site, query) {
        (false, _) => "/".to_string(),
        (true, Some(q)) if !q.is_empty() => format!("{path}?{q}"),
        (true, _) => path.to_string(),
    };
    let encoded: String = form_urlencoded::byte_serialize(from.as_bytes()).collect();
    let joiner = if signin.contains('?') { '&' } else { '?' };
    format!("{signin}{joiner}from={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_keeps_path_and_query_and_stays_on_site() {
        assert_eq!(signin_redirect("/signin", "/private", Some("a=1&b=2")), "/signin?from=%2Fprivate%3Fa%3D1%26b%3D2");
        assert_eq!(signin_redirect("/signin", "/private", None), "/signin?from=%2Fprivate");
        for hostile in ["//evil.example/x", "/\\evil.example", "evil"] {
            assert_eq!(signin_redirect("/keystone/signin", hostile, None), "/keystone/signin?from=%2F", "{hostile}");
        }
    }

    #[test]
    fn builtin_guards_are_known_by_name() {
        assert_eq!(Builtin::named("require_user"), Some(Builtin::RequireUser));
        assert_eq!(Builtin::named("require_admin"), Some(Builtin::RequireAdmin));
        assert_eq!(Builtin::named("require_users"), None);
    }
}
