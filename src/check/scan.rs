//! Text scanners for the check rules: template tags, HTML attributes, client socket calls in
//! JavaScript and the patterns of Rhai scripts. Each finding keeps its byte span.
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Something found in a source file.
#[derive(Debug, Clone)]
pub struct Found {
    pub text: String,
    pub span: Range<usize>,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid scanner regex")
}

/// A regex built from a run-time pattern, compiled once per distinct pattern: the rules ask
/// for the same few (`render`, `url_for`, a socket variable's uses…) once per file, and
/// compiling them anew each time dominated `check` on large projects.
pub fn cached(pattern: &str) -> Regex {
    let mut cache = CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.entry(pattern.to_string()).or_insert_with(|| re(pattern)).clone()
}

static CACHE: LazyLock<std::sync::Mutex<std::collections::HashMap<String, Regex>>> = LazyLock::new(Default::default);

/// Drops the regexes [`cached`] compiled (about 1 MiB after a check): `serve` checks the
/// project once at start and would otherwise keep them for its whole life.
pub fn forget_cached() {
    CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
}

/// Blanks out comments (`//…`, `/*…*/`) with spaces, keeping offsets; strings are kept.
pub fn strip_comments(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == q || b == b'\n' && q != b'`' {
                quote = None;
            }
            i += 1;
            continue;
        }
        match (b, bytes.get(i + 1)) {
            (b'"' | b'\'' | b'`', _) => quote = Some(b),
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            (b'/', Some(b'*')) => {
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    if bytes[i] != b'\n' {
                        out[i] = b' ';
                    }
                    i += 1;
                }
                let end = (i + 2).min(bytes.len());
                out[i..end].fill(b' ');
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| source.to_string())
}

/// Keeps only the contents of `<script>` elements (comments blanked), spaces elsewhere, so
/// offsets still point into the template.
pub fn script_blocks(html: &str) -> String {
    static SCRIPT: LazyLock<Regex> = LazyLock::new(|| re(r"(?is)<script\b[^>]*>(.*?)</script>"));
    let mut out: Vec<u8> = html.bytes().map(|b| if b == b'\n' { b'\n' } else { b' ' }).collect();
    for c in SCRIPT.captures_iter(html) {
        let m = c.get(1).expect("group 1 always matches");
        out[m.range()].copy_from_slice(strip_comments(m.as_str()).as_bytes());
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A `{% … %}` tag: its keyword (`extends`, `include`…) and body, with the body's span.
#[derive(Debug, Clone)]
pub struct Tag {
    pub keyword: String,
    pub body: String,
    pub body_start: usize,
}

/// Every block tag of a template, outside `{% raw %}` sections and `{# comments #}`.
pub fn template_tags(source: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut rest = 0;
    let mut in_raw = false;
    while let Some(open) = source[rest..].find("{%").map(|i| i + rest) {
        if let Some(comment) = source[rest..open].find("{#").map(|i| i + rest) {
            rest = source[comment..].find("#}").map_or(source.len(), |i| comment + i + 2);
            continue;
        }
        let Some(close) = source[open..].find("%}").map(|i| i + open) else { break };
        let inner_start = open + 2 + usize::from(source[open + 2..].starts_with(['-', '+']));
        let inner_end = if source[..close].ends_with(['-', '+']) { close - 1 } else { close };
        let inner = &source[inner_start..inner_end.max(inner_start)];
        let trimmed = inner.trim_start();
        let body_start = inner_start + (inner.len() - trimmed.len());
        let keyword = trimmed.split_whitespace().next().unwrap_or("").to_string();
        rest = close + 2;
        match keyword.as_str() {
            "raw" => in_raw = true,
            "endraw" => in_raw = false,
            _ if in_raw => {}
            _ => tags.push(Tag { body: trimmed.trim_end().to_string(), keyword, body_start }),
        }
    }
    tags
}

/// String literals in a piece of template or script code.
pub fn string_literals(code: &str, base: usize) -> Vec<Found> {
    static STRING: LazyLock<Regex> = LazyLock::new(|| re(r#""([^"\\]*)"|'([^'\\]*)'"#));
    STRING
        .captures_iter(code)
        .map(|c| {
            let m = c.get(1).or_else(|| c.get(2)).expect("one branch matched");
            Found { text: m.as_str().to_string(), span: base + m.start()..base + m.end() }
        })
        .collect()
}

/// Links built in scripts: string values of map keys named like links (`href: "/about"`,
/// `url`, `src`, `action`, `link`, `path`) and `redirect("/…")` targets.
pub fn script_links(code: &str) -> Vec<Found> {
    static KEY: LazyLock<Regex> =
        LazyLock::new(|| re(r#"(?i)\b(?:href|url|src|action|link|path)\s*:\s*(?:"([^"]*)"|'([^']*)')"#));
    let mut found: Vec<Found> = KEY
        .captures_iter(code)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| Found { text: m.as_str().to_string(), span: m.range() })
        .collect();
    found.extend(calls_with_literal(code, "redirect"));
    found.sort_by_key(|f| f.span.start);
    found
}

/// `href`, `src` and `action` attribute values (literal text only).
pub fn link_attributes(source: &str) -> Vec<Found> {
    static ATTR: LazyLock<Regex> = LazyLock::new(|| re(r#"(?i)\b(?:href|src|action)\s*=\s*(?:"([^"]*)"|'([^']*)')"#));
    ATTR.captures_iter(source)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| Found { text: m.as_str().to_string(), span: m.range() })
        .collect()
}

/// The first argument of every call to `name("…")` / `name('…')`.
pub fn calls_with_literal(source: &str, name: &str) -> Vec<Found> {
    let pattern = format!(r#"\b{}\s*\(\s*(?:"([^"]*)"|'([^']*)')"#, regex::escape(name));
    cached(&pattern)
        .captures_iter(source)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| Found { text: m.as_str().to_string(), span: m.range() })
        .collect()
}

/// Where `io(` is called in client code.
pub fn io_calls(source: &str) -> Vec<Range<usize>> {
    static IO: LazyLock<Regex> = LazyLock::new(|| re(r"(?:^|[^\w.$])(io)\s*\("));
    IO.captures_iter(source).filter_map(|c| c.get(1)).map(|m| m.range()).collect()
}

/// A client socket's use of an event: `socket.on("x")` (listens) or `socket.emit("y")`.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    pub namespace: String,
    /// Where the namespace is written (`io("/chat")`), when it is.
    pub namespace_span: Option<Range<usize>>,
    pub event: Found,
    pub listens: bool,
}

/// Sockets created with `name = io("/ns")` and the events they listen for and emit. A use
/// belongs to the closest assignment of its variable before it, so two features that each
/// keep a `socket` of their own (in separate functions of one file) are told apart.
pub fn client_socket_events(source: &str) -> Vec<ClientEvent> {
    static SOCKET: LazyLock<Regex> =
        LazyLock::new(|| re(r#"([A-Za-z_$][\w$]*)\s*=\s*io\s*\(\s*(?:"([^"]*)"|'([^']*)')?"#));
    // Variable → (offset, namespace) of each assignment, in source order.
    type Assignment = (usize, String, Option<Range<usize>>);
    let mut sockets: std::collections::BTreeMap<&str, Vec<Assignment>> = std::collections::BTreeMap::new();
    for c in SOCKET.captures_iter(source) {
        let name = c.get(1).expect("group 1 always matches");
        let target = c.get(2).or_else(|| c.get(3));
        let namespace = namespace_of(target.map_or("", |m| m.as_str()));
        // The namespace part of the target (`/chat` of `http://host/chat`).
        let span = target.map(|m| {
            let end = m.end() - (m.as_str().len() - m.as_str().trim_end_matches('/').len());
            end.saturating_sub(namespace.len()).max(m.start())..end
        });
        sockets.entry(name.as_str()).or_default().push((name.start(), namespace, span));
    }
    let mut events = Vec::new();
    for (name, assignments) in &sockets {
        let uses = cached(&format!(
            r#"(?:^|[^\w.$]){}\s*\.\s*(on|once|emit|emitWithAck)\s*\(\s*(?:"([^"]*)"|'([^']*)')"#,
            regex::escape(name)
        ));
        for u in uses.captures_iter(source) {
            let m = u.get(2).or_else(|| u.get(3)).expect("one branch matched");
            // A use before any assignment (a hoisted function) goes with the first one.
            let at = u.get(0).expect("whole match").start();
            let namespace = assignments.iter().rev().find(|(offset, ..)| *offset < at).unwrap_or(&assignments[0]);
            events.push(ClientEvent {
                namespace: namespace.1.clone(),
                namespace_span: namespace.2.clone(),
                event: Found { text: m.as_str().to_string(), span: m.range() },
                listens: matches!(&u[1], "on" | "once"),
            });
        }
    }
    events.sort_by_key(|e| e.event.span.start);
    events
}

/// `"/chat"`, `"http://host/chat"` → `/chat`; `""` or a bare origin → `/`.
pub fn namespace_of(target: &str) -> String {
    let path = match target.find("://") {
        Some(i) => target[i + 3..].find('/').map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() || path == "/" { "/".to_string() } else { path.trim_end_matches('/').to_string() }
}

/// Rhai: events sent through the server's `io`: `io.emit("x")`, `io.to(room).emit("x")`,
/// `io.of("/ns").emit("x")`.
pub fn io_emits(script: &str) -> Vec<Found> {
    static IO_EMIT: LazyLock<Regex> =
        LazyLock::new(|| re(r#"\bio\s*(?:\.\s*(?:to|of)\s*\([^)]*\)\s*)*\.\s*emit\s*\(\s*(?:"([^"]*)"|'([^']*)')"#));
    captures(&IO_EMIT, script)
}

/// Rhai: `locals.name = …` or `locals["name"] = …` — the keys a script gives templates.
pub fn locals_assigned(script: &str) -> Vec<Found> {
    static LOCALS: LazyLock<Regex> =
        LazyLock::new(|| re(r#"\blocals\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*"([^"]+)"\s*\])\s*=[^=]"#));
    captures(&LOCALS, script)
}

/// Rhai: `session.k = …` (controllers) or `socket.session.k = …` (sockets).
pub fn session_writes(script: &str) -> Vec<Found> {
    static WRITE: LazyLock<Regex> =
        LazyLock::new(|| re(r#"\bsession\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*"([^"]+)"\s*\])\s*=[^=]"#));
    captures(&WRITE, script)
}

/// Rhai: `socket.session.k` used as a value.
pub fn socket_session_reads(script: &str) -> Vec<Found> {
    static READ: LazyLock<Regex> = LazyLock::new(|| re(r#"\bsocket\s*\.\s*session\s*\.\s*([A-Za-z_]\w*)(\s*=[^=])?"#));
    READ.captures_iter(script)
        .filter(|c| c.get(2).is_none())
        .filter_map(|c| c.get(1))
        .map(|m| Found { text: m.as_str().to_string(), span: m.range() })
        .collect()
}

fn captures(regex: &Regex, source: &str) -> Vec<Found> {
    regex
        .captures_iter(source)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| Found { text: m.as_str().to_string(), span: m.range() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_blanked_but_strings_and_offsets_kept() {
        let src = "a = \"http://x\"; // socket.on(\"gone\")\nb /* io( */ c";
        let out = strip_comments(src);
        assert_eq!(out.len(), src.len());
        assert!(out.contains("\"http://x\""));
        assert!(!out.contains("gone") && !out.contains("io("));
    }

    #[test]
    fn client_events_follow_the_socket_variable_and_namespace() {
        let js =
            "var s = io('/chat'); s.on('hi', f); s.emit(\"say\", 1); $('a').on('click', g); s.io.on('reconnect', h);";
        let events = client_socket_events(js);
        let names: Vec<_> = events.iter().map(|e| (e.namespace.as_str(), e.event.text.as_str(), e.listens)).collect();
        assert_eq!(names, [("/chat", "hi", true), ("/chat", "say", false)]);
    }

    #[test]
    fn client_events_go_with_the_closest_assignment_of_their_variable() {
        let js = "function a() { const socket = io(); socket.on('hello', f); }\n\
                  function b() { const socket = io('/news'); socket.on('story', g); socket.emit('read'); }";
        let events = client_socket_events(js);
        let names: Vec<_> = events.iter().map(|e| (e.namespace.as_str(), e.event.text.as_str())).collect();
        assert_eq!(names, [("/", "hello"), ("/news", "story"), ("/news", "read")]);
    }

    #[test]
    fn session_reads_skip_writes_but_not_comparisons() {
        let rhai = "socket.session.a = 1; let b = socket.session.b; if socket.session.c == 2 {}";
        let reads: Vec<_> = socket_session_reads(rhai).into_iter().map(|f| f.text).collect();
        assert_eq!(reads, ["b", "c"]);
        let writes: Vec<_> = session_writes(rhai).into_iter().map(|f| f.text).collect();
        assert_eq!(writes, ["a"]);
    }

    #[test]
    fn template_tags_skip_raw_and_comments() {
        let t =
            "{# {% include 'x' %} #}{% extends \"a.html\" %}{% raw %}{% include 'y' %}{% endraw %}{%- include 'b' -%}";
        let tags: Vec<_> = template_tags(t).into_iter().map(|t| t.body).collect();
        assert_eq!(tags, ["extends \"a.html\"", "include 'b'"]);
    }
}
#[cfg(test)]
mod script_link_tests {
    #[test]
    fn finds_links_in_maps_and_redirects() {
        let code = "locals.nav = [ #{ label: \"About\", href: \"/abuot\" } ];\nredirect(\"/x\");\n";
        let found: Vec<String> = super::script_links(code).into_iter().map(|f| f.text).collect();
        assert_eq!(found, ["/abuot", "/x"]);
    }
}
