//! Lists (DESIGN §10) on real databases: every test runs on SQLite (a temp file, plain tier)
//! and on the PostgreSQL at 127.0.0.1:5432 (e2e tier, a random database per test, dropped
//! at the end). Round-trips of every field type, every filter operator, pagination edges,
//! hostile strings, concurrent writers, hooks, updates and scripts.
use std::collections::BTreeMap;
use std::sync::Arc;

use keystone::lists::{Backend, Db, Find, Hooks, Saved, Store, model, updates};
use serde_json::{Map, Value, json};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

const MODELS: &[(&str, &str)] = &[
    (
        "Post",
        r#"
title = "title"
slug = { from = "title" }
sort = "-published_at"
[fields]
title        = { type = "text", required = true }
state        = { type = "select", options = ["draft", "published", "archived"], default = "draft", index = true }
author       = { type = "relationship", ref = "User" }
categories   = { type = "relationship", ref = "PostCategory", many = true }
published_at = { type = "datetime" }
views        = { type = "number" }
brief        = { type = "markdown" }
"#,
    ),
    (
        "User",
        r#"
[fields]
name     = { type = "text", required = true }
email    = { type = "email", required = true, unique = true }
password = { type = "password" }
is_admin = { type = "boolean" }
"#,
    ),
    (
        "PostCategory",
        "slug = { from = \"name\" }\n[fields]\nname = { type = \"text\", required = true }\nadded = { type = \"datetime\", default = \"now\" }\n",
    ),
    (
        "Everything",
        r#"
[fields]
text     = { type = "text" }
textarea = { type = "textarea" }
markdown = { type = "markdown" }
html     = { type = "html" }
email    = { type = "email" }
url      = { type = "url" }
password = { type = "password" }
boolean  = { type = "boolean" }
number   = { type = "number" }
date     = { type = "date" }
datetime = { type = "datetime" }
select   = { type = "select", options = ["a", "b"] }
one      = { type = "relationship", ref = "User" }
many     = { type = "relationship", ref = "User", many = true }
json     = { type = "json" }
"#,
    ),
];

/// A database of one backend, its store and the lists of [`MODELS`] on it.
struct Harness {
    _dir: tempfile::TempDir,
    backend: Backend,
    /// PostgreSQL: the test's own database, dropped with the harness.
    pg_database: Option<String>,
    store: Option<Arc<dyn Store>>,
    db: Option<Arc<Db>>,
    engine: rhai::Engine,
}

fn engine() -> rhai::Engine {
    let mut engine = rhai::Engine::new();
    keystone::lists::rhai_api::register(&mut engine);
    engine
}

fn models(sources: &[(&str, &str)]) -> BTreeMap<String, model::Model> {
    sources
        .iter()
        .map(|(name, source)| {
            let m = model::parse(name, &format!("models/{name}.toml"), source).unwrap_or_else(|d| panic!("{d:?}"));
            (name.to_string(), m)
        })
        .collect()
}

impl Harness {
    fn sqlite() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        Harness::on(dir, Backend::Sqlite, None)
    }

    fn postgres() -> Harness {
        let name = format!("ks_test_{}", hex_id());
        let mut admin = postgres::Client::connect(&format!("{POSTGRES}/postgres"), postgres::NoTls)
            .expect("PostgreSQL on 127.0.0.1:5432 (bash tests/setup.sh starts it)");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{POSTGRES}/{name}");
        Harness::on(tempfile::tempdir().unwrap(), Backend::Postgres(url), Some(name))
    }

    fn on(dir: tempfile::TempDir, backend: Backend, pg_database: Option<String>) -> Harness {
        let store = keystone::lists::open_store(dir.path(), &backend).unwrap();
        let mut h = Harness { _dir: dir, backend, pg_database, store: Some(store), db: None, engine: engine() };
        h.load(MODELS, &[]);
        h
    }

    /// (Re)builds the lists from model sources and hook scripts, as a model edit would.
    fn load(&mut self, sources: &[(&str, &str)], hooks: &[(&str, &str)]) {
        let hooks = hooks
            .iter()
            .map(|(list, source)| {
                let ast = self.engine.compile(source).unwrap();
                let (file, source) = (format!("models/{list}.rhai"), Arc::from(*source));
                (list.to_string(), Hooks { file, source, ast: Arc::new(ast) })
            })
            .collect();
        let (db, diagnostics) = Db::new(self.store().clone(), models(sources), hooks);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        self.db = Some(db);
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.store.as_ref().unwrap()
    }

    fn db(&self) -> &Db {
        self.db.as_ref().unwrap()
    }

    /// A second node: its own connections to the same database, the same lists.
    fn other_node(&self) -> Arc<Db> {
        let store = keystone::lists::open_store(self._dir.path(), &self.backend).unwrap();
        Db::new(store, models(MODELS), BTreeMap::new()).0
    }

    fn create(&self, list: &str, input: Value) -> Saved {
        self.db().create(&self.engine, list, input.as_object().unwrap()).unwrap()
    }

    fn created(&self, list: &str, input: Value) -> Map<String, Value> {
        match self.create(list, input.clone()) {
            Saved::Item(item) => item,
            Saved::Invalid(e) => panic!("{list} {input} refused: {e:?}"),
        }
    }

    fn errors(&self, list: &str, input: Value) -> BTreeMap<String, String> {
        match self.create(list, input.clone()) {
            Saved::Invalid(e) => e,
            Saved::Item(item) => panic!("{list} {input} saved: {item:?}"),
        }
    }

    fn find(&self, list: &str, filter: Value) -> Vec<Map<String, Value>> {
        let find = Find { filter: filter.as_object().unwrap().clone(), ..Find::default() };
        self.db().find(list, &find).unwrap()
    }

    /// Runs a script with this harness's lists entered.
    fn run(&self, script: &str) -> Result<Value, String> {
        let _entered = keystone::lists::context::enter(self.db.clone());
        self.engine.eval::<rhai::Dynamic>(script).map(|v| keystone::script::to_json(&v)).map_err(|e| e.to_string())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.db = None;
        self.store = None;
        if let Some(name) = &self.pg_database
            && let Ok(mut admin) = postgres::Client::connect(&format!("{POSTGRES}/postgres"), postgres::NoTls)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn hex_id() -> String {
    keystone::lists::value::new_id()
}

fn id(item: &Map<String, Value>) -> String {
    item["id"].as_str().unwrap().to_string()
}

/// Each test body runs once per backend: `sqlite` in the plain tier, `postgres` in e2e.
macro_rules! on_both {
    ($($name:ident($h:ident) $body:block)*) => {$(
        mod $name {
            use super::*;
            fn body($h: Harness) $body
            #[test]
            fn sqlite() {
                body(Harness::sqlite())
            }
            #[test]
            #[cfg_attr(not(feature = "e2e"), ignore = "needs PostgreSQL: cargo test --features e2e")]
            fn postgres() {
                body(Harness::postgres())
            }
        }
    )*};
}

on_both! {
    every_field_type_round_trips(h) {
        let user = h.created("User", json!({ "name": "Ann", "email": "ann@example.com" }));
        let input = json!({
            "text": "plain", "textarea": "two\nlines", "markdown": "*hi*", "html": "<p>ok<script>x()</script></p>",
            "email": "Bob@Example.com", "url": "https://example.com/a?b=c", "password": "hunter2",
            "boolean": true, "number": 2.5, "date": "2024-02-29", "datetime": "2024-05-31T10:30:00+02:00",
            "select": "b", "one": id(&user), "many": [id(&user)],
            "json": { "nested": [1, "two", null, { "three": true }] }
        });
        let saved = h.created("Everything", input);
        let read = h.db().get("Everything", &id(&saved), &[]).unwrap().unwrap();
        assert_eq!(read, saved);
        assert_eq!(read["text"], json!("plain"));
        assert_eq!(read["textarea"], json!("two\nlines"));
        assert_eq!(read["markdown"], json!({ "md": "*hi*", "html": "<p><em>hi</em></p>\n" }));
        assert_eq!(read["html"], json!("<p>ok</p>"));
        assert_eq!(read["email"], json!("bob@example.com"));
        assert_eq!(read["url"], json!("https://example.com/a?b=c"));
        assert!(!read.contains_key("password"), "a password is never readable: {read:?}");
        assert!(h.db().verify_password("Everything", &id(&read), "password", "hunter2").unwrap());
        assert!(!h.db().verify_password("Everything", &id(&read), "password", "hunter3").unwrap());
        assert_eq!(read["boolean"], json!(true));
        assert_eq!(read["number"], json!(2.5));
        assert_eq!(read["date"], json!("2024-02-29"));
        assert_eq!(read["datetime"], json!("2024-05-31T08:30:00.000Z"));
        assert_eq!(read["select"], json!("b"));
        assert_eq!(read["one"], json!(id(&user)));
        assert_eq!(read["many"], json!([id(&user)]));
        assert_eq!(read["json"], json!({ "nested": [1, "two", null, { "three": true }] }));

        let populated = h.db().get("Everything", &id(&read), &["one".into(), "many".into()]).unwrap().unwrap();
        assert_eq!(populated["one"]["name"], json!("Ann"));
        assert_eq!(populated["many"][0]["email"], json!("ann@example.com"));
    }

    contains_ignores_case_beyond_ascii_on_both_stores(h) {
        for title in ["Café Éclair", "ÇA VA", "plain ascii"] {
            h.created("Post", json!({ "title": title }));
        }
        let titles = |needle: &str| -> Vec<String> {
            let mut t: Vec<String> =
                h.find("Post", json!({ "title": { "contains": needle } })).iter().map(|p| p["title"].as_str().unwrap().to_string()).collect();
            t.sort();
            t
        };
        assert_eq!(titles("éclair"), ["Café Éclair"]);
        assert_eq!(titles("CAFÉ"), ["Café Éclair"]);
        assert_eq!(titles("ça"), ["ÇA VA"]);
        assert_eq!(titles("ASCII"), ["plain ascii"]);
        assert!(titles("ecl").is_empty(), "accents still count: e is not é");
    }

    every_filter_operator(h) {
        let ann = h.created("User", json!({ "name": "Ann", "email": "ann@example.com" }));
        let news = h.created("PostCategory", json!({ "name": "News" }));
        let art = h.created("PostCategory", json!({ "name": "Art" }));
        for (n, state, cats) in [(1, "draft", vec![]), (2, "published", vec![id(&news)]), (3, "published", vec![id(&news), id(&art)]), (4, "archived", vec![id(&art)])] {
            h.created("Post", json!({ "title": format!("Post number {n}"), "state": state, "views": n, "author": id(&ann), "categories": cats }));
        }
        let views = |filter: Value| -> Vec<i64> {
            let mut v: Vec<i64> = h.find("Post", filter).iter().map(|p| p["views"].as_i64().unwrap()).collect();
            v.sort();
            v
        };
        assert_eq!(views(json!({ "state": "published" })), [2, 3]);
        assert_eq!(views(json!({ "state": { "eq": "draft" } })), [1]);
        assert_eq!(views(json!({ "state": { "ne": "published" } })), [1, 4]);
        assert_eq!(views(json!({ "views": { "gt": 2 } })), [3, 4]);
        assert_eq!(views(json!({ "views": { "gte": 2, "lt": 4 } })), [2, 3]);
        assert_eq!(views(json!({ "views": { "lte": "2" } })), [1, 2], "a number from a query string compares as a number");
        assert_eq!(views(json!({ "state": { "in": ["draft", "archived"] } })), [1, 4]);
        assert_eq!(views(json!({ "title": { "contains": "NUMBER 3" } })), [3]);
        assert_eq!(views(json!({ "categories": id(&news) })), [2, 3]);
        assert_eq!(views(json!({ "categories": { "contains": id(&art) } })), [3, 4]);
        assert_eq!(views(json!({ "categories": { "in": [id(&art)] } })), [3, 4]);
        assert_eq!(views(json!({ "categories": { "ne": id(&news) } })), [1, 4]);
        assert_eq!(views(json!({ "categories": null })), [1]);
        assert_eq!(views(json!({ "author": id(&ann), "state": "published", "views": { "ne": 2 } })), [3]);
        assert_eq!(views(json!({ "published_at": null })), [1, 2, 3, 4]);

        let err = |filter: Value| h.db().find("Post", &Find { filter: filter.as_object().unwrap().clone(), ..Find::default() }).unwrap_err().to_string();
        assert!(err(json!({ "views": { "gtt": 1 } })).contains("unknown filter operator `gtt` on `Post.views` (did you mean `gt`?)"));
        assert!(err(json!({ "titel": "x" })).contains("list `Post` has no field `titel` (did you mean `title`?)"));
        assert!(err(json!({ "views": { "gt": "many" } })).contains("`Post.views` must be a number"));
        assert!(err(json!({ "state": ["a", "b"] })).contains("in: [...]"));
    }

    pagination_edges(h) {
        for n in 1..=25 {
            h.created("Post", json!({ "title": format!("p{n}"), "published_at": format!("2024-01-{n:02}T00:00:00Z") }));
        }
        let page = |n: i64, per: i64| h.db().paginate("Post", &Find::default(), n, per).unwrap();
        let first = page(1, 10);
        assert_eq!((first.page.page, first.page.pages, first.page.total, first.items.len()), (1, 3, 25, 10));
        assert_eq!(first.items[0]["title"], json!("p25"), "the model's sort: newest first");
        let last = page(3, 10);
        assert_eq!((last.items.len(), last.page.next(), last.page.prev()), (5, None, Some(2)));
        assert_eq!(last.items[4]["title"], json!("p1"));
        assert_eq!(page(0, 10).page.page, 1);
        assert_eq!(page(-5, 10).page.page, 1);
        assert_eq!(page(99, 10).page.page, 3);
        assert_eq!(page(1, 25).page.pages, 1);
        assert_eq!(page(2, 5).items[0]["title"], json!("p20"));
        // Every item exactly once across the pages.
        let mut seen: Vec<String> = (1..=3).flat_map(|n| page(n, 10).items).map(|i| id(&i)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 25);
        let empty = h.db().paginate("PostCategory", &Find::default(), 3, 10).unwrap();
        assert_eq!((empty.page.page, empty.page.pages, empty.page.total, empty.items.len()), (1, 1, 0, 0));
        let skip = Find { sort: Some("title".into()), skip: 23, limit: Some(10), ..Find::default() };
        assert_eq!(h.db().find("Post", &skip).unwrap().len(), 2);
    }

    hostile_strings_are_stored_unchanged(h) {
        let megabyte: String = "ünïcödé ✓ ".repeat(1024 * 1024 / 16);
        assert!(megabyte.len() >= 1_000_000);
        let strings = [
            "'; DROP TABLE \"ks_Post\"; --",
            "Robert'); DELETE FROM ks_updates WHERE ('1'='1",
            "\" OR 1=1 --",
            "quote ' double \" backslash \\ backtick `",
            "nul \0 in the middle \0",
            "\u{10FFFF} escape \u{10FFFF}0 look-alike",
            "emoji 🦀👩‍👩‍👧 and RTL שלום",
            "$1 ?1 :name @p %s",
            megabyte.as_str(),
        ];
        for s in strings {
            let saved = h.created("Everything", json!({ "text": s, "textarea": s, "json": { "k": s } }));
            let read = h.db().get("Everything", &id(&saved), &[]).unwrap().unwrap();
            assert!(read["text"] == json!(s) && read["textarea"] == json!(s) && read["json"]["k"] == json!(s), "changed: {:.80}", s);
            if s.len() < 1000 {
                let found = h.find("Everything", json!({ "text": s }));
                assert_eq!(found.len(), 1, "equality on {s:?}");
                assert_eq!(id(&found[0]), id(&saved));
            }
        }
        assert_eq!(h.db().count("Everything", &Map::new()).unwrap(), strings.len() as u64, "no string dropped a table");
    }

    required_types_options_and_targets_are_field_errors(h) {
        let e = h.errors("Post", json!({ "state": "gone", "views": "many", "author": "0123456789abcdef01234567", "published_at": "yesterday" }));
        assert_eq!(e["title"], "Title is required");
        assert_eq!(e["state"], "State must be one of: draft, published, archived");
        assert_eq!(e["views"], "Views must be a number");
        assert_eq!(e["author"], "Author refers to a User that does not exist");
        assert!(e["published_at"].starts_with("Published at must be a date"), "{e:?}");
        assert_eq!(h.db().count("Post", &Map::new()).unwrap(), 0, "nothing saved");
        let unknown = h.db().create(&h.engine, "Post", json!({ "title": "x", "titel": "y" }).as_object().unwrap()).unwrap_err();
        assert_eq!(unknown.to_string(), "list `Post` has no field `titel` (did you mean `title`?)");
        assert!(h.db().find("Pots", &Find::default()).unwrap_err().to_string().contains("did you mean `Post`?"));
    }

    slugs_are_unique_and_find_their_item(h) {
        let a = h.created("Post", json!({ "title": "Hello, World!" }));
        let b = h.created("Post", json!({ "title": "Hello World" }));
        assert_eq!(a["slug"], json!("hello-world"));
        assert_eq!(b["slug"], json!("hello-world-2"));
        assert_eq!(a["state"], json!("draft"), "the default applies");
        assert_eq!(id(&h.db().get("Post", "hello-world-2", &[]).unwrap().unwrap()), id(&b));
        assert_eq!(h.db().get("Post", "nothing-here", &[]).unwrap(), None);
        let first = h.created("PostCategory", json!({ "name": "Dated" }))["added"].as_str().unwrap().to_string();
        let second = h.created("PostCategory", json!({ "name": "Dated" }));
        assert_eq!(second["slug"], json!("dated-2"));
        assert!(first.ends_with('Z') && first.len() == 24 && second["added"].as_str().unwrap() >= first.as_str(), "a `now` default is the time of each create: {first}");
        let taken = h.db().update(&h.engine, "Post", &id(&b), json!({ "slug": "Hello World" }).as_object().unwrap()).unwrap();
        assert_eq!(taken, Saved::Invalid(BTreeMap::from([("slug".into(), "Slug is already taken".into())])));
    }

    unique_holds_between_two_nodes_writing_at_once(h) {
        let nodes = [h.other_node(), h.other_node()];
        let start = Arc::new(std::sync::Barrier::new(8));
        let results: Vec<Saved> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|n| {
                    let db = nodes[n % 2].clone();
                    let start = start.clone();
                    s.spawn(move || {
                        let input = json!({ "name": format!("writer {n}"), "email": "same@example.com" });
                        start.wait();
                        db.create(&engine(), "User", input.as_object().unwrap()).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = results.iter().filter(|r| matches!(r, Saved::Item(_))).count();
        assert_eq!(won, 1, "{results:?}");
        for r in &results {
            if let Saved::Invalid(e) = r {
                assert_eq!(e, &BTreeMap::from([("email".into(), "Email is already taken".into())]));
            }
        }
        assert_eq!(h.db().count("User", &Map::new()).unwrap(), 1);

        // Two nodes creating the same explicit slug at once: one wins, one gets a field error.
        let results: Vec<Saved> = std::thread::scope(|s| {
            let handles: Vec<_> = nodes
                .iter()
                .map(|db| {
                    let start = std::sync::Arc::new(());
                    let _ = start;
                    s.spawn(move || db.create(&engine(), "Post", json!({ "title": "Race", "slug": "race" }).as_object().unwrap()).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = results.iter().filter(|r| matches!(r, Saved::Item(_))).count();
        assert_eq!(won, 1, "{results:?}");
    }

    concurrent_updates_lose_nothing(h) {
        let post = h.created("Post", json!({ "title": "t" }));
        let key = id(&post);
        let nodes = [h.other_node(), h.other_node()];
        std::thread::scope(|s| {
            for (n, db) in nodes.iter().enumerate() {
                let key = key.clone();
                s.spawn(move || {
                    for i in 0..15 {
                        let patch = if n == 0 { json!({ "views": i }) } else { json!({ "title": format!("title {i}") }) };
                        let saved = db.update(&engine(), "Post", &key, patch.as_object().unwrap()).unwrap();
                        assert!(matches!(saved, Saved::Item(_)), "{saved:?}");
                    }
                });
            }
        });
        let read = h.db().get("Post", &key, &[]).unwrap().unwrap();
        assert_eq!((read["views"].clone(), read["title"].clone()), (json!(14), json!("title 14")));
    }

    a_model_edit_needs_no_migration(h) {
        let mut h = h;
        let old = h.created("User", json!({ "name": "Old", "email": "old@example.com" }));
        let mut edited: Vec<(&str, &str)> = MODELS.to_vec();
        edited[1] = ("User", "[fields]\nname = { type = \"text\" }\nemail = { type = \"email\", unique = true }\nrole = { type = \"select\", options = [\"reader\", \"editor\"], default = \"reader\", index = true }\nnick = { type = \"text\", unique = true }\n");
        h.load(&edited, &[]);
        let new = h.created("User", json!({ "name": "New", "email": "new@example.com", "role": "editor", "nick": "n" }));
        let read_old = h.db().get("User", &id(&old), &[]).unwrap().unwrap();
        assert_eq!(read_old["name"], json!("Old"));
        assert!(!read_old.contains_key("role"), "an older item simply lacks the new field");
        assert_eq!(h.find("User", json!({ "role": "editor" })).len(), 1);
        assert_eq!(h.errors("User", json!({ "email": "x@example.com", "nick": "n" }))["nick"], "Nick is already taken");
        assert_eq!(id(&h.find("User", json!({ "nick": "n" }))[0]), id(&new));
    }

    hooks_fill_validate_and_follow_writes(h) {
        let mut h = h;
        h.load(MODELS, &[(
            "Post",
            r#"
            fn before_save(item) {
                if item.title == "forbidden" { invalid("title", "That title is not allowed"); }
                item.views = (item.views ?? 0) + 100;
                item
            }
            fn after_save(item) { list("PostCategory").create(#{ name: "after " + item.title }); }
            fn after_remove(item) { list("PostCategory").create(#{ name: "removed " + item.title }); }
            "#,
        )]);
        let saved = h.created("Post", json!({ "title": "hooked", "views": "1" }));
        assert_eq!(saved["views"], json!(101), "before_save filled a field");
        let refused = h.errors("Post", json!({ "title": "forbidden" }));
        assert_eq!(refused["title"], "That title is not allowed");
        assert!(h.db().remove(&h.engine, "Post", &id(&saved)).unwrap());
        assert!(!h.db().remove(&h.engine, "Post", &id(&saved)).unwrap());
        let names: Vec<Value> = h.find("PostCategory", json!({})).iter().map(|c| c["name"].clone()).collect();
        assert_eq!(names, [json!("after hooked"), json!("removed hooked")]);
    }

    updates_apply_once(h) {
        let sources = BTreeMap::from([
            ("001-people.toml".to_string(), "[[User]]\nname = \"Ann\"\nemail = \"ann@example.com\"\n[[PostCategory]]\nname = \"News\"\n".to_string()),
            ("002-posts.toml".to_string(), "[[Post]]\ntitle = \"First\"\nauthor = \"Ann\"\ncategories = [\"news\"]\nstate = \"published\"\n".to_string()),
            ("003-broken.toml".to_string(), "[[PostCategory]]\nname = \"Kept?\"\n[[Post]]\nstate = \"gone\"\n".to_string()),
        ]);
        let first = updates::apply(h.db(), &h.engine, &sources);
        assert_eq!(first.applied, ["001-people.toml", "002-posts.toml"]);
        assert_eq!(first.diagnostics.len(), 1);
        assert!(first.diagnostics[0].message.contains("item 1 of `Post` is invalid"), "{:?}", first.diagnostics);
        let post = h.db().get("Post", "first", &["author".into(), "categories".into()]).unwrap().unwrap();
        assert_eq!(post["author"]["name"], json!("Ann"), "a relationship named by title");
        assert_eq!(post["categories"][0]["name"], json!("News"), "a relationship named by slug");
        assert!(h.find("PostCategory", json!({ "name": "Kept?" })).is_empty(), "a failed update leaves nothing behind");

        let again = updates::apply(h.db(), &h.engine, &sources);
        assert!(again.applied.is_empty());
        assert_eq!(h.db().count("User", &Map::new()).unwrap(), 1, "applied once");
        // Another node starting later skips them too.
        assert!(updates::apply(&h.other_node(), &h.engine, &sources).applied.is_empty());
    }

    scripts_use_lists_the_rhai_way(h) {
        let ann = h.created("User", json!({ "name": "Ann", "email": "ann@example.com" }));
        for n in 1..=12 {
            h.created("Post", json!({ "title": format!("t{n}"), "state": if n % 2 == 0 { "published" } else { "draft" }, "author": id(&ann), "published_at": format!("2024-03-{n:02}") }));
        }
        let page = h.run(r#"
            let page = list("Post").find(#{ state: "published" }).sort("-published_at").populate("author").paginate("2", 4);
            #{ titles: page.items.map(|p| p.title), author: page.items[0].author.name, page: page.page, pages: page.pages,
               total: page.total, prev: page.prev, next: page.next, first: page.first, last: page.last }
        "#).unwrap();
        assert_eq!(page, json!({ "titles": ["t4", "t2"], "author": "Ann", "page": 2, "pages": 2, "total": 6, "prev": 1, "next": null, "first": 5, "last": 6 }));

        let form = h.run(r#"
            let saved = list("User").create(#{ name: "", email: "ann@example.com", csrf_token: "t" });
            let fixed = list("User").create(#{ name: "Bob", email: "bob@example.com" });
            #{ ok: saved.ok, errors: saved.errors, fixed: fixed.ok, id: fixed.item.id.len(), password: "password" in fixed.item }
        "#).unwrap();
        assert_eq!(form, json!({ "ok": false, "errors": { "name": "Name is required" }, "fixed": true, "id": 24, "password": false }));
        // The unique error comes only once the rest is valid (it is the database's answer).
        let taken = h.run(r#"list("User").create(#{ name: "Ann 2", email: "ANN@example.com" }).errors"#).unwrap();
        assert_eq!(taken, json!({ "email": "Email is already taken" }));

        let counts = h.run(r#"
            let u = list("User").find(#{ email: "bob@example.com" }).first();
            let changed = list("User").update(u, #{ name: "Robert" });
            [list("User").count(), list("Post").count(#{ state: "draft" }), changed.item.name, list("User").get(u.id).name,
             list("User").remove(u.id), list("User").count()]
        "#).unwrap();
        assert_eq!(counts, json!([2, 6, "Robert", "Robert", true, 1]));

        let bad_op = h.run(r#"list("Post").find(#{ views: #{ between: [1, 2] } }).all()"#).unwrap_err();
        assert!(bad_op.contains("unknown filter operator `between` on `Post.views`"), "{bad_op}");
        let bad_field = h.run(r#"list("Post").create(#{ title: "x", colour: "red" })"#).unwrap_err();
        assert!(bad_field.contains("list `Post` has no field `colour`"), "{bad_field}");
        let bad_list = h.run(r#"list("Posts")"#).unwrap_err();
        assert!(bad_list.contains("unknown list `Posts` (did you mean `Post`?)"), "{bad_list}");
        let bad_arg = h.run(r#"list("Post").create("title")"#).unwrap_err();
        assert!(bad_arg.contains("create takes a map"), "{bad_arg}");
    }
}

impl Harness {
    /// Runs `sql` (SQLite) or `pg` (PostgreSQL) with `id` as its parameter on a connection of
    /// its own, as another program writing the database directly would.
    fn raw_write(&self, sql: &str, pg: &str, id: &str) {
        match &self.backend {
            Backend::Sqlite => {
                let conn = rusqlite::Connection::open(self._dir.path().join(keystone::lists::SQLITE_FILE)).unwrap();
                assert_eq!(conn.execute(sql, [id]).unwrap(), 1, "{sql}");
            }
            Backend::Postgres(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                assert_eq!(client.execute(pg, &[&id]).unwrap(), 1, "{pg}");
            }
        }
        another_commit_shows();
    }
}

/// Another connection's commit shows on SQLite within a millisecond (the store looks for
/// them at most that often); this store's own writes show at once.
fn another_commit_shows() {
    std::thread::sleep(std::time::Duration::from_millis(2));
}

/// A script reading page 1 of the published posts, each as "title by author", then the total.
const PAGE_SCRIPT: &str = r#"
let page = list("Post").find(#{ state: "published" }).populate("author").paginate(1, 10);
let out = [];
for post in page.items { out.push(post.title + " by " + if post.author == () { "nobody" } else { post.author.name }); }
out.push(page.total);
out"#;

/// Every post with its author, as [`PAGE_SCRIPT`] shows them, through `find().all()`.
const ALL_SCRIPT: &str = r#"
let out = [];
for post in list("Post").find().sort("title").populate("author").all() {
    out.push(post.title + " by " + if post.author == () { "nobody" } else { post.author.name });
}
out"#;

on_both! {
    script_reads_show_every_write_whoever_makes_it(h) {
        let ann = h.created("User", json!({ "name": "Ann", "email": "ann@example.com" }));
        let first = h.created("Post", json!({
            "title": "First", "state": "published", "author": id(&ann), "published_at": "2024-01-01T00:00:00Z"
        }));
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["First by Ann", 1]));
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["First by Ann", 1]), "asked again");
        assert_eq!(h.run(ALL_SCRIPT).unwrap(), json!(["First by Ann"]));

        // This node's writes, to the page's list and to a populated one.
        h.db().update(&h.engine, "User", &id(&ann), json!({ "name": "Anna" }).as_object().unwrap()).unwrap();
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["First by Anna", 1]));
        assert_eq!(h.run(ALL_SCRIPT).unwrap(), json!(["First by Anna"]));

        // Another node's (on SQLite, other connections to the same file).
        let other = h.other_node();
        let second = json!({
            "title": "Second", "state": "published", "author": id(&ann), "published_at": "2024-02-01T00:00:00Z"
        });
        assert!(matches!(other.create(&h.engine, "Post", second.as_object().unwrap()).unwrap(), Saved::Item(_)));
        another_commit_shows();
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["Second by Anna", "First by Anna", 2]));
        assert_eq!(h.run(ALL_SCRIPT).unwrap(), json!(["First by Anna", "Second by Anna"]));

        // Another program changing a document in place, its version left as it was.
        h.raw_write(
            r#"UPDATE "ks_Post" SET data = json_set(data, '$.title', 'Edited') WHERE id = ?1"#,
            r#"UPDATE "ks_Post" SET data = jsonb_set(data, '{title}', '"Edited"') WHERE id = $1"#,
            &id(&first),
        );
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["Second by Anna", "Edited by Anna", 2]));
        assert_eq!(h.run(ALL_SCRIPT).unwrap(), json!(["Edited by Anna", "Second by Anna"]));
        h.raw_write(
            r#"UPDATE "ks_User" SET data = json_set(data, '$.name', 'Annie') WHERE id = ?1"#,
            r#"UPDATE "ks_User" SET data = jsonb_set(data, '{name}', '"Annie"') WHERE id = $1"#,
            &id(&ann),
        );
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["Second by Annie", "Edited by Annie", 2]));

        // A removed author is no author any more.
        assert!(h.db().remove(&h.engine, "User", &id(&ann)).unwrap());
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["Second by nobody", "Edited by nobody", 2]));
        h.raw_write(r#"DELETE FROM "ks_Post" WHERE id = ?1"#, r#"DELETE FROM "ks_Post" WHERE id = $1"#, &id(&first));
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["Second by nobody", 1]));
    }

    a_script_changing_the_items_it_read_changes_no_other_read(h) {
        h.created("Post", json!({ "title": "Kept", "state": "published" }));
        let changed = h.run(r#"
            let page = list("Post").find(#{ state: "published" }).paginate(1, 10);
            page.items[0].title = "Changed";
            page.total = 99;
            let all = list("Post").all();
            all[0].title = "Changed too";
            [page.items[0].title, all[0].title]"#);
        assert_eq!(changed.unwrap(), json!(["Changed", "Changed too"]));
        assert_eq!(h.run(PAGE_SCRIPT).unwrap(), json!(["Kept by nobody", 1]));
        assert_eq!(h.run(r#"list("Post").all()[0].title"#).unwrap(), json!("Kept"));
    }

    a_page_reads_and_writes_like_a_map(h) {
        h.created("Post", json!({ "title": "One", "state": "published" }));
        let read = h.run(r#"
            let page = list("Post").find().paginate(1, 10);
            let copy = page;
            copy.items[0].title = "Copy";
            copy.note = "mine";
            copy["total"] = 7;
            #{ type: type_of(page), keys: page.keys(), len: page.len(), total: page["total"], missing: page.nothing,
               has_total: "total" in page, has_note: "note" in page, copy_has_note: "note" in copy,
               copy: copy.items[0].title, original: page.items[0].title, note: copy.note, copy_total: copy.total,
               map: type_of(page.to_map()), text: `${page.total}/${page.items.len()}` }
        "#).unwrap();
        assert_eq!(read, json!({
            "type": "Page", "keys": ["first", "items", "last", "next", "page", "pages", "per_page", "prev", "total"],
            "len": 9, "total": 1, "missing": null, "has_total": true, "has_note": false, "copy_has_note": true,
            "copy": "Copy", "original": "One", "note": "mine", "copy_total": 7, "map": "map", "text": "1/1"
        }));
        // Handed out whole (JSON, emits, the session), it is its map.
        let whole = h.run(r#"list("Post").find().paginate(1, 10)"#).unwrap();
        assert_eq!((&whole["items"][0]["title"], &whole["total"], &whole["next"]), (&json!("One"), &json!(1), &Value::Null));
    }

    removing_an_item_clears_the_references_to_it(h) {
        let ann = h.created("User", json!({ "name": "Ann", "email": "ann@example.com" }));
        let news = h.created("PostCategory", json!({ "name": "News" }));
        let gone = h.created("PostCategory", json!({ "name": "Gone" }));
        let post = h.created("Post", json!({
            "title": "Linked", "state": "published", "author": id(&ann), "categories": [id(&news), id(&gone)]
        }));
        let other = h.created("Post", json!({ "title": "Other", "state": "draft", "categories": [id(&news)] }));
        let read = |key: &str| {
            let mut filter = serde_json::Map::new();
            filter.insert("id".into(), json!(key));
            h.db().find("Post", &Find { filter, ..Find::default() }).unwrap().pop().unwrap()
        };

        assert!(h.db().remove(&h.engine, "PostCategory", &id(&gone)).unwrap());
        assert_eq!(read(&id(&post))["categories"], json!([id(&news)]), "the many-relationship lost the removed id");
        assert!(h.db().remove(&h.engine, "User", &id(&ann)).unwrap());
        let author = read(&id(&post)).get("author").cloned();
        assert!(author.as_ref().is_none_or(Value::is_null), "the relationship to the removed user is empty: {author:?}");
        assert_eq!(read(&id(&other))["categories"], json!([id(&news)]), "items that did not refer to it are untouched");
        // Finding by the removed ids finds nothing any more.
        let count = |filter: Value| h.db().count("Post", filter.as_object().unwrap()).unwrap();
        assert_eq!((count(json!({ "categories": id(&gone) })), count(json!({ "author": id(&ann) }))), (0, 0));
        assert_eq!(count(json!({ "categories": id(&news) })), 2);
    }

    script_reads_are_the_items_as_read_for_the_server(h) {
        let ann = h.created("User", json!({ "name": "Ann", "email": "ann@example.com", "password": "hunter2" }));
        let news = h.created("PostCategory", json!({ "name": "News" }));
        let gone = h.created("PostCategory", json!({ "name": "Gone" }));
        for (title, author) in [("Nul\u{0} and \u{10FFFF} <b>", json!(id(&ann))), ("Alone", Value::Null)] {
            h.created("Post", json!({
                "title": title, "state": "published", "author": author, "views": 3, "brief": "*hi*",
                "categories": [id(&news), id(&gone)], "published_at": "2024-01-01T00:00:00Z"
            }));
        }
        assert!(h.db().remove(&h.engine, "PostCategory", &id(&gone)).unwrap());
        let find = Find { populate: vec!["author".into(), "categories".into()], ..Find::default() };
        let expected = Value::Array(h.db().find("Post", &find).unwrap().into_iter().map(Value::Object).collect());
        assert!(expected.to_string().contains("News") && !expected.to_string().contains("hunter2"), "{expected}");
        for _ in 0..2 {
            let read = h.run(r#"list("Post").find().populate("author categories").all()"#).unwrap();
            assert_eq!(read, expected);
        }
        let page = h.run(r#"list("Post").find().populate("author categories").paginate(1, 10).items"#).unwrap();
        assert_eq!(page, expected);
    }
}

#[test]
fn the_sqlite_file_is_owner_only_and_in_wal_mode() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::sqlite();
    h.created("User", json!({ "name": "Ann", "email": "ann@example.com" }));
    let file = h._dir.path().join(keystone::lists::SQLITE_FILE);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ks_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(indexes.contains(&"ks_User__u__email".to_string()), "{indexes:?}");
    assert!(indexes.contains(&"ks_Post__i__state".to_string()), "{indexes:?}");
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM \"ks_Post\" WHERE json_extract(data, '$.state') = 'draft'",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("ks_Post__i__state"), "the filter uses the index: {plan}");
}

// ---------------------------------------------------------------------------------------------
// Lists in a served app

mod served {
    use std::time::Duration;

    use serde_json::{Value, json};

    use crate::util::{Server, TempApp, eventually, http_get};

    const WAIT: Duration = Duration::from_secs(20);

    /// The JSON a GET returns, once it returns `status`.
    fn get_json(server: &Server, path: &str, status: u16) -> Value {
        eventually(&format!("GET {path} to answer {status}"), WAIT, || {
            let (s, body) = http_get(&format!("{}{path}", server.url));
            (s == status).then(|| serde_json::from_str(&body).unwrap_or(Value::Null))
        })
    }

    fn notes_app() -> TempApp {
        let app = TempApp::scaffold("default");
        let routes = app.read("routes/index.toml");
        app.write("routes/index.toml", &format!("{routes}\"GET /notes\" = \"notes\"\n"));
        app.write(
            "routes/views/notes.rhai",
            r#"let input = #{ text: req.query.text };
if req.query.pinned != () { input.pinned = req.query.pinned; }
let saved = if req.query.text != () { list("Note").create(input) } else { #{ ok: false } };
json(#{ ok: saved.ok, errors: saved.errors, item: saved.item, count: list("Note").count() });
"#,
        );
        app.write("models/Note.toml", "[fields]\ntext = { type = \"text\", required = true }\n");
        app
    }

    #[test]
    fn lists_fields_and_updates_apply_live_and_a_broken_model_keeps_the_last_good_one() {
        let app = notes_app();
        let server = Server::start(&app.path);
        let first = get_json(&server, "/notes?text=one", 200);
        assert_eq!((first["ok"].clone(), first["count"].clone()), (json!(true), json!(1)), "{first}");
        let missing = get_json(&server, "/notes?text=", 200);
        assert_eq!(missing["errors"], json!({ "text": "Text is required" }));

        // A new field applies at once, no migration.
        app.write(
            "models/Note.toml",
            "[fields]\ntext = { type = \"text\", required = true }\npinned = { type = \"boolean\" }\n",
        );
        let pinned = get_json(&server, "/notes?text=two&pinned=on", 200);
        assert_eq!(pinned["item"]["pinned"], json!(true), "{pinned}");

        // A new list (with its route, controller and seed data) applies at once too.
        app.write(
            "models/Tag.toml",
            "slug = { from = \"name\" }\n[fields]\nname = { type = \"text\", required = true }\n",
        );
        app.write("updates/001-tags.toml", "[[Tag]]\nname = \"First tag\"\n");
        app.write("routes/views/tags.rhai", "json(list(\"Tag\").all());\n");
        let routes = app.read("routes/index.toml");
        app.write("routes/index.toml", &format!("{routes}\"GET /tags\" = \"tags\"\n"));
        let tags = get_json(&server, "/tags", 200);
        assert_eq!(tags[0]["slug"], json!("first-tag"), "{tags}");
        assert!(server.wait_for_output("applied update updates/001-tags.toml", WAIT), "{}", server.output());

        // A broken model is reported and the last good one keeps serving.
        app.write(
            "models/Note.toml",
            "[fields]\ntext = { type = \"txt\", required = true }\npinned = { type = \"boolean\" }\n",
        );
        assert!(server.wait_for_output("model-unknown-type", WAIT), "{}", server.output());
        assert!(
            server.wait_for_output("models/Note.toml:2:", std::time::Duration::from_secs(10)),
            "{}",
            server.output()
        );
        let still = get_json(&server, "/notes?text=three&pinned=off", 200);
        assert_eq!(
            (still["ok"].clone(), still["item"]["pinned"].clone(), still["count"].clone()),
            (json!(true), json!(false), json!(3))
        );
        let output = server.stop();
        assert!(!output.contains("panicked"), "{output}");
        assert_eq!(output.matches("applied update").count(), 1, "an update is applied once: {output}");
    }

    #[test]
    fn a_list_page_shows_at_once_what_another_program_wrote_to_the_sqlite_file() {
        let app = notes_app();
        app.write("routes/views/page.rhai", "json(list(\"Note\").find().sort(\"text\").paginate(1, 10));\n");
        let routes = app.read("routes/index.toml");
        app.write("routes/index.toml", &format!("{routes}\"GET /page\" = \"page\"\n"));
        let server = Server::start(&app.path);
        let texts = |page: &Value| -> Vec<String> {
            let items = page["items"].as_array().cloned().unwrap_or_default();
            items.iter().map(|i| i["text"].as_str().unwrap_or_default().to_string()).collect()
        };
        let one = get_json(&server, "/notes?text=one", 200);
        let id = one["item"]["id"].as_str().unwrap().to_string();
        for _ in 0..3 {
            assert_eq!(texts(&get_json(&server, "/page", 200)), ["one"]);
        }

        // This test is the other program: its own connection, no version bump, no notice.
        let file = app.path.join(keystone::lists::SQLITE_FILE);
        let conn = rusqlite::Connection::open(file).unwrap();
        conn.execute(r#"UPDATE "ks_Note" SET data = json_set(data, '$.text', 'edited') WHERE id = ?1"#, [&id]).unwrap();
        let (status, body) = http_get(&format!("{}/page", server.url));
        assert_eq!(status, 200);
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((texts(&page), page["total"].clone()), (vec!["edited".to_string()], json!(1)), "{page}");
        conn.execute(
            r#"INSERT INTO "ks_Note" (id, version, data) VALUES ('0123456789abcdef01234567', 1, '{"text":"another"}')"#,
            [],
        )
        .unwrap();
        let (_, body) = http_get(&format!("{}/page", server.url));
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (texts(&page), page["total"].clone()),
            (vec!["another".to_string(), "edited".to_string()], json!(2))
        );
        let output = server.stop();
        assert!(!output.contains("panicked"), "{output}");
    }

    #[test]
    #[cfg_attr(not(feature = "e2e"), ignore = "needs Node (the official socket.io-client): cargo test --features e2e")]
    fn a_hook_reaches_open_pages_with_io_emit() {
        let app = notes_app();
        app.write("models/Note.rhai", "fn after_save(item) { io.emit(\"note:saved\", item); }\n");
        let server = Server::start(&app.path);
        let out = crate::util::node("lists.mjs", &[&server.url]);
        let seen: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(seen["status"], 200, "{seen}");
        assert_eq!(seen["note"]["text"], "hello hooks", "{seen}");
        assert_eq!(seen["note"]["id"].as_str().map(str::len), Some(24), "{seen}");
    }

    #[test]
    fn the_lists_command_prints_lists_and_fields() {
        let app = TempApp::scaffold("chat");
        let out = crate::util::keystone(&["lists", app.path.to_str().unwrap()], &app.path);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.starts_with("Message \"Messages\" (models/Message.toml)\n"), "{text}");
        assert!(text.contains("  room      select    options general|random|help, required, index\n"), "{text}");
        assert!(text.contains("  sent_at   datetime  default \"now\"\n"), "{text}");
        let out = crate::util::keystone(&["lists", app.path.to_str().unwrap(), "--format", "json"], &app.path);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json[0]["fields"][2]["type"], "textarea", "{json:#}");
        assert_eq!(json[0]["sort"], "-sent_at");
    }

    /// A TCP proxy in front of the real PostgreSQL: taking it down is the database going down
    /// for the server (without stopping a PostgreSQL other tests use).
    struct Proxy {
        port: u16,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
        accept: Option<std::thread::JoinHandle<()>>,
    }

    impl Proxy {
        fn up(port: u16) -> Proxy {
            use std::net::{Shutdown, TcpListener, TcpStream};
            let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
            let port = listener.local_addr().unwrap().port();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
            let (s, o) = (stop.clone(), open.clone());
            let accept = std::thread::spawn(move || {
                for client in listener.incoming() {
                    if s.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(upstream) = TcpStream::connect("127.0.0.1:5432") else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    let mut list = o.lock().unwrap();
                    list.push(client.try_clone().unwrap());
                    list.push(upstream.try_clone().unwrap());
                    for (mut from, mut to) in
                        [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)]
                    {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(Shutdown::Both);
                        });
                    }
                }
            });
            Proxy { port, stop, open, accept: Some(accept) }
        }

        fn down(mut self) -> u16 {
            self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
            if let Some(t) = self.accept.take() {
                t.join().unwrap();
            }
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            self.port
        }
    }

    #[test]
    #[cfg_attr(not(feature = "e2e"), ignore = "needs PostgreSQL: cargo test --features e2e")]
    fn postgres_down_is_a_503_with_a_log_line_and_the_app_recovers() {
        let name = format!("ks_test_{}", keystone::lists::value::new_id());
        let mut admin =
            postgres::Client::connect("postgres://postgres@127.0.0.1:5432/postgres", postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let proxy = Proxy::up(0);
        let app = notes_app();
        let settings = app.read("keystone.toml");
        app.write(
            "keystone.toml",
            &format!("{settings}\n[database]\nurl = \"postgres://postgres@127.0.0.1:{}/{name}\"\n", proxy.port),
        );
        let server = Server::start(&app.path);
        assert_eq!(get_json(&server, "/notes?text=before", 200)["count"], json!(1));

        let port = proxy.down();
        let (status, body) = http_get(&format!("{}/notes?text=during", server.url));
        assert_eq!(status, 503, "{body}");
        assert!(server.wait_for_output("the database is unavailable", WAIT), "{}", server.output());
        assert_eq!(http_get(&format!("{}/", server.url)).0, 200, "pages without data still serve");

        let proxy = Proxy::up(port);
        let after = get_json(&server, "/notes?text=after", 200);
        assert_eq!(after["count"], json!(2), "recovered, and nothing was half-written: {after}");
        drop(server);
        proxy.down();
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

on_both! {
    an_update_for_a_version_refuses_a_newer_one_and_every_write_is_announced(h) {
        let changes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = changes.clone();
        h.db().on_change(Arc::new(move |change| seen.lock().unwrap().push(change)));
        let post = h.created("PostCategory", json!({ "name": "First" }));
        let key = id(&post);
        let at = h.db().get_versioned("PostCategory", &key).unwrap().unwrap();
        assert_eq!((at.version, at.item["name"].clone()), (1, json!("First")));
        let patch = |name: &str| json!({ "name": name }).as_object().unwrap().clone();
        let saved = h.db().update_if_version(&h.engine, "PostCategory", &key, &patch("Second"), 1).unwrap();
        assert!(matches!(saved, Some(Saved::Item(_))), "{saved:?}");
        let stale = h.db().update_if_version(&h.engine, "PostCategory", &key, &patch("Third"), 1).unwrap();
        assert_eq!(stale, None, "version 1 is gone: nothing is written");
        assert_eq!(h.db().get("PostCategory", &key, &[]).unwrap().unwrap()["name"], json!("Second"));
        assert!(h.db().remove(&h.engine, "PostCategory", &key).unwrap());
        let changes = changes.lock().unwrap().clone();
        let versions: Vec<Option<i64>> = changes.iter().map(|c| c.version).collect();
        assert_eq!(versions, [Some(1), Some(2), None], "{changes:?}");
        assert!(changes.iter().all(|c| c.list == "PostCategory" && c.id == key));
    }
}
