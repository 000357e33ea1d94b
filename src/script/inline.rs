//! Which script runs may run inline on the async worker that handles the request or event,
//! rather than hop to the script pool and back (issue 11: the hop was a quarter of GET /'s
//! CPU). A run goes inline only when it provably cannot block: every script in it calls none
//! of the functions that may wait (decided once per script, at load, by [`may_block`]), no
//! signed-in user is to be read (a database read: a request's scripts read the visitor's user
//! before they start, a socket script only when it names `user`), no script in it has run past
//! the inline limits before ([`Script::mark_heavy`]) and `KEYSTONE_INLINE_SCRIPTS` is not
//! `off`. An inline run that passes the limits is stopped, its effects are dropped, and it runs
//! again from the start on the pool ([`super::effects::run_inline`]).
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Script;

/// Rhai operations an inline run may use per engine call (a chain step, a handler call) before
/// it is stopped and run again on the pool: a GET / script uses a few dozen, and 50,000 take
/// about 3 ms in a release build (a `for` loop adding numbers: 300,000 operations in 17.7 ms).
pub const INLINE_OPERATIONS: u64 = 50_000;

/// Wall-clock time an inline run may take: a few operations can be slow (sorting a large
/// array, doubling a long string), which the operation count does not see. Generous, so a
/// script is not sent to the pool for good because its first run was slow (a cold cache, a
/// debug build, valgrind).
pub const INLINE_TIME: Duration = Duration::from_millis(50);

/// Functions that may block the thread they run on, so a script calling any of them runs on
/// the pool: `signin` (argon2 and the database), `rate_limit` (its counters are process-wide
/// and must count a call once: a run repeated on the pool would count it twice). `Fn`, `call`
/// and `curry` can reach any function by name, so they count as blocking too. `list` is not
/// one: an answer kept in memory (a list page asked again) does not block, and a read or write
/// that reaches the database first hands the worker's other tasks to another thread
/// ([`super::effects::leave_worker`]), after which the run is never repeated.
const BLOCKING: &[&str] = &["signin", "rate_limit", "Fn", "call", "curry"];

/// What the server knows about running one script inline, shared by every copy of the script.
#[derive(Debug, Default)]
pub struct Inline {
    /// The script names a blocking function ([`may_block`]).
    may_block: bool,
    /// The script names `user`: in a socket script, `socket.user` of a signed-in visitor reads
    /// the user list.
    reads_user: bool,
    /// A run of the script passed the inline limits once: it runs on the pool from then on.
    heavy: AtomicBool,
}

impl Inline {
    pub fn of_source(source: &str) -> Self {
        Inline {
            may_block: may_block(source),
            reads_user: identifiers(source).contains(&"user"),
            heavy: AtomicBool::new(false),
        }
    }
}

impl Script {
    /// Whether a run of this script may go inline (the visitor aside).
    pub fn runs_inline(&self) -> bool {
        !self.inline.may_block && !self.inline.heavy.load(Ordering::Relaxed)
    }

    /// Whether the script names `user` anywhere in its code.
    pub fn reads_user(&self) -> bool {
        self.inline.reads_user
    }

    /// Sends every later run of this script to the pool: one ran past the inline limits.
    pub fn mark_heavy(&self) {
        if !self.inline.heavy.swap(true, Ordering::Relaxed) {
            crate::log::debug(&format!(
                "{}: ran past {INLINE_OPERATIONS} operations or {} ms inline; it runs on the script pool from now on",
                self.file,
                INLINE_TIME.as_millis()
            ));
        }
    }

    /// The script error for `err`, marking the script heavy when `err` stopped an inline run.
    pub fn error(&self, err: &rhai::EvalAltResult) -> super::ScriptError {
        if super::effects::over_inline_limits() {
            self.mark_heavy();
        }
        super::ScriptError::new(&self.file, err)
    }
}

/// Whether runs may go inline at all: `KEYSTONE_INLINE_SCRIPTS=off` sends every run to the
/// pool (to measure the difference, or should an inline run misbehave).
pub fn enabled() -> bool {
    static ENABLED: LazyLock<bool> =
        LazyLock::new(|| !switched_off(std::env::var("KEYSTONE_INLINE_SCRIPTS").ok().as_deref()));
    *ENABLED
}

/// Whether a value of `KEYSTONE_INLINE_SCRIPTS` turns inline runs off.
fn switched_off(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "off" | "0" | "false" | "no"))
}

/// Whether `source` names a blocking function ([`BLOCKING`]) anywhere in its code: called,
/// passed as a value or called as a method alike. Strings and comments are skipped (the code
/// inside a template string's `${…}` is not). Conservative: a variable named `list` sends the
/// script to the pool too, which only costs a hop.
pub fn may_block(source: &str) -> bool {
    identifiers(source).iter().any(|word| BLOCKING.contains(word))
}

/// The identifiers (and numbers) of a script's code, in order, outside strings and comments.
fn identifiers(source: &str) -> Vec<&str> {
    let mut scan = Scan { text: source.as_bytes(), at: 0, words: Vec::new() };
    scan.code(false);
    scan.words.into_iter().map(|(start, end)| &source[start..end]).collect()
}

/// A scan of Rhai source, following its lexical rules for strings and comments.
struct Scan<'a> {
    text: &'a [u8],
    at: usize,
    /// Byte ranges of the words seen.
    words: Vec<(usize, usize)>,
}

impl Scan<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.at + ahead).copied()
    }

    /// Code up to the end, or (`interpolation`) up to the `}` that closes a `${`.
    fn code(&mut self, interpolation: bool) {
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment(),
                b'"' | b'\'' => self.skip_quoted(c),
                b'`' => self.template(),
                b'#' if self.raw_string_hashes().is_some() => self.skip_raw_string(),
                b'{' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' => {
                    self.at += 1;
                    if depth == 0 && interpolation {
                        return;
                    }
                    depth = depth.saturating_sub(1);
                }
                c if c.is_ascii_alphanumeric() || c == b'_' => {
                    let start = self.at;
                    while self.peek(0).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        self.at += 1;
                    }
                    self.words.push((start, self.at));
                }
                _ => self.at += 1,
            }
        }
    }

    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|c| c != b'\n') {
            self.at += 1;
        }
    }

    /// `/* … */`, nested as Rhai nests them.
    fn skip_block_comment(&mut self) {
        let mut level = 0usize;
        while let Some(c) = self.peek(0) {
            if c == b'/' && self.peek(1) == Some(b'*') {
                level += 1;
                self.at += 2;
            } else if c == b'*' && self.peek(1) == Some(b'/') {
                self.at += 2;
                level -= 1;
                if level == 0 {
                    return;
                }
            } else {
                self.at += 1;
            }
        }
    }

    /// `"…"` or `'…'`, with `\` escapes (a doubled quote reads as two strings: the same skip).
    fn skip_quoted(&mut self, quote: u8) {
        self.at += 1;
        while let Some(c) = self.peek(0) {
            self.at += 1;
            if c == b'\\' {
                self.at += 1;
            } else if c == quote {
                return;
            }
        }
    }

    /// The number of `#` of a raw string (`#"…"#`, `##"…"##`) starting here, if one does.
    fn raw_string_hashes(&self) -> Option<usize> {
        let hashes = self.text[self.at..].iter().take_while(|&&c| c == b'#').count();
        (self.peek(hashes) == Some(b'"')).then_some(hashes)
    }

    fn skip_raw_string(&mut self) {
        let hashes = self.raw_string_hashes().unwrap_or(0);
        self.at += hashes + 1;
        while let Some(c) = self.peek(0) {
            self.at += 1;
            if c == b'"' && self.text[self.at..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes {
                self.at += hashes;
                return;
            }
        }
    }

    /// A template string: text without escapes but `\${` (a literal `${`), a doubled backtick
    /// for a backtick, and code in each `${…}`.
    fn template(&mut self) {
        self.at += 1;
        while let Some(c) = self.peek(0) {
            match c {
                b'`' if self.peek(1) == Some(b'`') => self.at += 2,
                b'`' => {
                    self.at += 1;
                    return;
                }
                b'\\' if self.peek(1) == Some(b'$') => self.at += 2,
                b'$' if self.peek(1) == Some(b'{') => {
                    self.at += 2;
                    self.code(true);
                }
                _ => self.at += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{compile, effects, engine};

    /// Runs `source` inline: whether it passed, and how many effects it recorded, or `None`
    /// when it was stopped at the inline limits; and whether the script may still run inline.
    fn inline_run(source: &str) -> (Option<(bool, usize)>, bool) {
        let script = compile("t.rhai", source).unwrap();
        let outcome = effects::run_inline(Duration::from_secs(30), || {
            engine().run_ast(&script.ast).map_err(|err| script.error(&err))
        });
        (outcome.map(|(result, effects)| (result.is_ok(), effects.len())), script.runs_inline())
    }

    #[test]
    fn keystone_inline_scripts_off_turns_inline_runs_off() {
        for off in ["off", "OFF", " off\n", "0", "false", "no"] {
            assert!(switched_off(Some(off)), "{off:?}");
        }
        for on in [None, Some(""), Some("on"), Some("1"), Some("yes")] {
            assert!(!switched_off(on), "{on:?}");
        }
    }

    #[test]
    fn an_inline_run_past_the_limits_keeps_nothing_and_marks_its_script_heavy() {
        assert_eq!(inline_run("json(1); status(201);"), (Some((true, 2)), true));
        assert_eq!(inline_run("json(1); throw \"no\";"), (Some((false, 1)), true), "an error is the run's own");
        // Many quick operations: the operation cap; what it recorded before is dropped.
        assert_eq!(inline_run("json(1); let n = 0; for i in 0..100000 { n += i; }"), (None, false));
        // Few slow operations (each copies a million values): the time cap.
        assert_eq!(inline_run("let a = []; a.pad(1000000, 1); for i in 0..100 { let b = a; }"), (None, false));
    }

    #[test]
    fn scripts_naming_a_blocking_function_may_block() {
        for source in [
            "locals.ok = signin(req.form.email, req.form.password);",
            "let open = signin; open(e, p)",
            "let l = e.signin(p);",
            "if signin(req.form.email, req.form.password) { redirect(\"/\"); }",
            "if !rate_limit(`contact:${req.ip}`, 5, \"1h\") { status(429); }",
            "let f = Fn(\"li\" + \"st\"); f.call(\"Post\")",
            "call(f, 1)",
            "let g = f.curry(1);",
            "locals.n = `${signin(e, p)} posts`;",
            "locals.n = `a ${ `b ${ #{ a: signin(e, p) }.a } c` } d`;",
            "fn history(room) { rate_limit(room, 1, \"1s\") }\nfn connect(socket) { socket.on(\"x\", |s, d| history(d)); }",
            "/* a comment */ signin(e, p) /* another */",
            "\"a string // with a slash\"; signin(e, p)",
            "\"an \\\" escaped quote\"; signin(e, p)",
            "'\\''; signin(e, p)",
            "#\"raw \" string\"#; signin(e, p)",
            "`text with \\${ a literal`; signin(e, p)",
            "/* nested /* comments */ still comment */ signin(e, p)",
            "`a``b`; signin(e, p)",
        ] {
            assert!(may_block(source), "{source}");
        }
    }

    #[test]
    fn strings_comments_and_other_names_do_not_block() {
        for source in [
            "locals.section = \"home\";\nsession.message = \"Hello World\";",
            "print(\"list(\\\"Post\\\")\");",
            "// list(\"Post\")\nlocals.a = 1;",
            "/* list(\"Post\") */ locals.a = 1;",
            "/* nested /* list(\"Post\") */ list(\"Post\") */ locals.a = 1;",
            "let s = 'l'; let t = #\"list(\"Post\") signin()\"#;",
            "let s = ##\"a \"# list() \"##;",
            "let t = `a list(\"Post\") template \\${list()} b`;",
            "let t = `total: ${locals.count}, not list(\"x\")`;",
            "let playlist = [1]; my_list.push(listing); locals.lists = callback(Fnord, signin_error());",
            "fn connect(socket) { socket.emit(\"msg\", socket.session.message); socket.on(\"x\", |s, d| s.emit(\"y\", d)); }",
            "io.to(\"room\").emit(\"a\", #{ b: 1 }); json(#{ lists: 1 }.len());",
            // Lists run inline: a read that reaches the database leaves the worker first.
            "locals.posts = list(\"Post\").find(#{ state: \"published\" }).paginate(1, 10);",
        ] {
            assert!(!may_block(source), "{source}");
        }
        assert_eq!(identifiers("a.b(\"c\") // d\n`e${f}g`"), ["a", "b", "f"]);
        let reads_user = |source: &str| Inline::of_source(source).reads_user;
        assert!(reads_user("fn connect(socket) { socket.emit(\"me\", socket.user); }"));
        assert!(!reads_user("fn connect(socket) { socket.emit(\"user\", socket.users); } // user"));
    }
}
