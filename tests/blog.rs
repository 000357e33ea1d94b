//! The blog scaffold (`keystone-rs new site --template blog`, DESIGN §11): it checks clean,
//! and served it paginates, filters by category, renders posts, hides drafts, saves enquiries
//! with errors per field, and shows posts published while a blog page is open.
use std::time::Duration;

use crate::util::{HttpReply, NodeProcess, Server, TempApp, eventually, http_get, http_request, keystone};

/// Posts the tests add through an update: 12 published (every third in Guides), one draft.
/// With the scaffold's welcome post (in News) that is 13 published posts.
fn test_posts() -> String {
    let mut out = String::new();
    for n in 1..=12 {
        let category = if n % 3 == 0 { "guides" } else { "releases" };
        out.push_str(&format!(
            "[[Post]]\ntitle = \"Test post {n:02}\"\nstate = \"published\"\npublished_at = \"2024-01-{n:02}T09:00:00Z\"\n\
             categories = [\"{category}\"]\nbrief = \"Brief of *post {n}*\"\n\n"
        ));
    }
    out.push_str(
        "[[Post]]\ntitle = \"Hidden draft\"\nstate = \"draft\"\nbrief = \"**not yet**\"\n\n\
         [[Post]]\ntitle = \"Rich post\"\nstate = \"published\"\npublished_at = \"2023-06-01T09:00:00Z\"\n\
         brief = \"Some **bold** words\"\ncontent = \"<h2>A heading</h2><p onclick=\\\"steal()\\\">Text</p><script>alert(1)</script>\"\n",
    );
    out
}

/// The blog scaffold with [`test_posts`] and a JSON route that lists enquiries, for the tests.
fn blog_app() -> TempApp {
    let app = TempApp::scaffold("blog");
    app.write("updates/900-test-posts.toml", &test_posts());
    let routes = app.read("routes/index.toml");
    app.write(
        "routes/index.toml",
        &format!(
            "{routes}\"GET /test/enquiries\" = \"test_enquiries\"\n\"POST /test/posts\" = {{ view = \"test_posts\", csrf = false }}\n"
        ),
    );
    app.write("routes/views/test_enquiries.rhai", "json(list(\"Enquiry\").all());\n");
    // Creates (`post`) or changes (`slug` + `post`) a post, as the admin would.
    app.write(
        "routes/views/test_posts.rhai",
        "let body = req.json;\n\
         json(if body.slug == () { list(\"Post\").create(body.post) } else { list(\"Post\").update(body.slug, body.post) });\n",
    );
    app.write("templates/views/test_enquiries.html", "");
    app.write("templates/views/test_posts.html", "");
    app
}

/// Titles of the post cards on a page, in order.
fn card_titles(html: &str) -> Vec<String> {
    html.split("<article class=\"post-card\"")
        .skip(1)
        .filter_map(|card| {
            let after = card.split("<h2><a href=\"").nth(1)?;
            let title = after.split_once("\">")?.1.split("</a>").next()?;
            Some(title.to_string())
        })
        .collect()
}

/// (That it checks clean with `--deny-warnings` is tests/check.rs's
/// `every_scaffold_checks_clean_with_deny_warnings`.)
#[test]
fn the_blog_scaffold_has_four_lists_and_seeds_no_user() {
    let app = TempApp::scaffold("blog");
    let out = keystone(&["lists", app.path.to_str().unwrap()], &app.path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for list in ["Post \"Posts\"", "PostCategory \"Categories\"", "User \"Users\"", "Enquiry \"Enquiries\""] {
        assert!(stdout.contains(list), "{list} missing from:\n{stdout}");
    }
    assert!(stdout.contains("hooks models/Post.rhai"), "{stdout}");
    // No user with a known password is seeded: the first admin is made with `user add`.
    for update in std::fs::read_dir(app.path.join("updates")).unwrap() {
        let text = std::fs::read_to_string(update.unwrap().path()).unwrap();
        assert!(!text.contains("[[User]]") && !text.contains("password ="), "{text}");
    }
}

#[test]
fn the_blog_index_paginates_ten_a_page_and_filters_by_category() {
    let app = blog_app();
    let server = Server::start(&app.path);
    assert!(
        server.wait_for_output("applied update updates/900-test-posts.toml", std::time::Duration::from_secs(10)),
        "{}",
        server.output()
    );

    let (status, first) = http_get(&format!("{}/blog", server.url));
    assert_eq!(status, 200, "{first}");
    let titles = card_titles(&first);
    assert_eq!(titles.len(), 10, "{titles:?}");
    assert!(titles[0].starts_with("Welcome to"), "newest first: {titles:?}");
    assert_eq!(titles[1], "Test post 12");
    assert!(first.contains("Posts 1–10 of 14"), "14 published: 12 tests, the welcome post, the rich one");
    assert!(first.contains("href=\"/blog?page=2\""), "a link to page 2");
    assert!(!first.contains("Hidden draft"));

    let (_, second) = http_get(&format!("{}/blog?page=2", server.url));
    let titles = card_titles(&second);
    assert_eq!(titles, ["Test post 03", "Test post 02", "Test post 01", "Rich post"]);
    assert!(second.contains("<span aria-current=\"page\">2</span>"), "page 2 is the current one");

    // Guides: posts 3, 6, 9, 12 only, with the category's count beside its name.
    let (status, guides) = http_get(&format!("{}/blog/guides", server.url));
    assert_eq!(status, 200);
    assert_eq!(card_titles(&guides), ["Test post 12", "Test post 09", "Test post 06", "Test post 03"]);
    assert!(guides.contains("<h1>Guides</h1>"));
    assert!(guides.contains("Guides <span class=\"badge\">4</span>"), "{guides}");
    assert!(guides.contains("href=\"/blog/guides\" aria-current=\"page\""));

    // Hostile or odd page numbers land on a real page.
    for query in ["page=abc", "page=-5", "page=0", "page=99999999999999999999999", "page=1e9"] {
        let (status, html) = http_get(&format!("{}/blog?{query}", server.url));
        assert_eq!(status, 200, "{query}");
        assert!(!card_titles(&html).is_empty(), "{query} shows posts");
    }
    let (status, html) = http_get(&format!("{}/blog?page=999", server.url));
    assert_eq!((status, card_titles(&html).len()), (200, 4), "past the end: the last page");

    let (status, missing) = http_get(&format!("{}/blog/no-such-category", server.url));
    assert_eq!(status, 404);
    assert!(missing.contains("Nothing here"), "{missing}");
}

#[test]
fn a_post_page_renders_its_markdown_and_clean_html_and_drafts_are_404() {
    let app = blog_app();
    let server = Server::start(&app.path);

    let (status, post) = http_get(&format!("{}/blog/post/rich-post", server.url));
    assert_eq!(status, 200, "{post}");
    assert!(post.contains("<h1>Rich post</h1>"));
    assert!(post.contains("Some <strong>bold</strong> words"), "the brief's markdown, rendered: {post}");
    assert!(post.contains("<h2>A heading</h2>"), "the content's HTML");
    assert!(!post.contains("steal()") && !post.contains("alert(1)"), "scripts are removed on save: {post}");
    assert!(post.contains("More posts") && post.contains("href=\"/blog/post/test-post-12\""), "others beside it");

    let (status, draft) = http_get(&format!("{}/blog/post/hidden-draft", server.url));
    assert_eq!(status, 404, "a draft is not published: {draft}");
    assert!(!draft.contains("not yet"));
    // Slugs that are no post's: missing, hostile, huge, an id in disguise.
    let long = "a".repeat(4000);
    for slug in ["no-such-post", "%27%22%3Cscript%3E", "..%2F..%2Fetc%2Fpasswd", &long, "0123456789abcdef01234567"] {
        let (status, page) = http_get(&format!("{}/blog/post/{slug}", server.url));
        assert_eq!(status, 404, "{slug}: {page}");
        let (status, _) = http_get(&format!("{}/blog/{slug}", server.url));
        assert_eq!(status, 404, "category {slug}");
    }
    let (status, page) = http_get(&format!("{}/no/such/page", server.url));
    assert_eq!(status, 404);
    assert!(page.contains("Nothing here"), "the site's own 404 page: {page}");
}

/// A visitor of the contact page: the cookie and CSRF token of their session.
struct Visitor {
    base: String,
    cookie: String,
    token: String,
}

impl Visitor {
    fn arrive(base: &str) -> Visitor {
        let reply = http_request("GET", &format!("{base}/contact"), &[], "");
        assert_eq!(reply.status, 200);
        let cookie = reply.header("set-cookie").expect("a session cookie").split(';').next().unwrap().to_string();
        let token = reply.body.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap();
        Visitor { base: base.to_string(), cookie, token: token.to_string() }
    }

    fn send(&self, fields: &[(&str, &str)]) -> HttpReply {
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.append_pair("csrf_token", &self.token);
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        let headers = [("Cookie", self.cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
        http_request("POST", &format!("{}/contact", self.base), &headers, &body.finish())
    }

    fn get(&self, path: &str) -> HttpReply {
        http_request("GET", &format!("{}{path}", self.base), &[("Cookie", self.cookie.as_str())], "")
    }
}

fn enquiries(server: &Server) -> Vec<serde_json::Value> {
    let (status, body) = http_get(&format!("{}/test/enquiries", server.url));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_contact_form_saves_an_enquiry_and_shows_errors_beside_their_fields() {
    let app = blog_app();
    let server = Server::start(&app.path);
    let visitor = Visitor::arrive(&server.url);

    // A missing email: the form comes back with the error beside the field and the values kept.
    let reply =
        visitor.send(&[("name", "Ann <b>Lee</b>"), ("email", ""), ("enquiry_type", "question"), ("message", "Hi")]);
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.body.contains("<p class=\"error\" id=\"email-error\">Email is required</p>"), "{}", reply.body);
    assert!(reply.body.contains("aria-describedby=\"email-error\""));
    assert!(reply.body.contains("value=\"Ann &lt;b&gt;Lee&lt;/b&gt;\""), "kept, escaped: {}", reply.body);
    assert!(reply.body.contains("<option value=\"question\" selected>"), "the choice is kept");
    assert!(!reply.body.contains("name-error"), "only the email is wrong");
    assert!(enquiries(&server).is_empty());

    // No token, or another session's: refused before anything is saved.
    let headers = [("Cookie", visitor.cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    let reply = http_request("POST", &format!("{}/contact", server.url), &headers, "name=A&email=a%40b.co&message=x");
    assert_eq!(reply.status, 403);

    // Too long, an unknown type, and a field the form does not have: errors, never a 500.
    let long = "x".repeat(5001);
    let reply = visitor.send(&[
        ("name", "Ann"),
        ("email", "ann@example.com"),
        ("enquiry_type", "<script>"),
        ("message", &long),
        ("is_admin", "true"),
    ]);
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.body.contains("id=\"message-error\">Please keep this under 5000 characters."), "{}", reply.body);
    assert!(enquiries(&server).is_empty());
    let reply =
        visitor.send(&[("name", "Ann"), ("email", "ann@example.com"), ("enquiry_type", "<script>"), ("message", "Hi")]);
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("id=\"enquiry_type-error\""), "{}", reply.body);

    // A good one: saved, then a redirect to a page with the thanks (a reload sends nothing).
    let reply = visitor.send(&[
        ("name", "Ann Lee"),
        ("email", "Ann@Example.com"),
        ("phone", "+44 20 7946 0000"),
        ("enquiry_type", "question"),
        ("message", "When is the next release?"),
    ]);
    assert_eq!(reply.status, 302, "{}", reply.body);
    assert_eq!(reply.header("location").as_deref(), Some("/contact"));
    let saved = enquiries(&server);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0]["email"], "ann@example.com");
    assert_eq!(saved[0]["enquiry_type"], "question");
    assert_eq!(saved[0]["message"], "When is the next release?");
    assert!(saved[0]["created_at"].is_string(), "dated: {saved:?}");
    let page = visitor.get("/contact");
    assert!(page.body.contains("Thanks for getting in touch"), "{}", page.body);

    // One session sends a handful at most.
    for n in 2..=5 {
        assert_eq!(visitor.send(&[("name", "Ann"), ("email", "a@b.co"), ("message", &format!("{n}"))]).status, 302);
    }
    let reply = visitor.send(&[("name", "Ann"), ("email", "a@b.co"), ("message", "6")]);
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(enquiries(&server).len(), 5);
}

/// A post published while the blog index or the home page is open shows there without a
/// reload (under a "1 new post — show" bar), a shown post follows its edits, and an archived
/// one leaves the page. A reader on the post's own page is told when it changes or goes.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn a_post_published_while_the_blog_is_open_appears_there_live() {
    let app = blog_app();
    // The marker the test waits for before publishing: the pages' sockets are connected.
    app.write("sockets/index.rhai", "fn connect(socket) {\n    print(`--- page connected`);\n}\n");
    let server = Server::start(&app.path);
    // The blog index (ten cards, then eleven) and the home page (three at most).
    let mut pages: Vec<(&str, usize, NodeProcess)> = [("/blog", 11), ("/", 3)]
        .into_iter()
        .map(|(path, cards)| (path, cards, NodeProcess::spawn("blog.mjs", &[&format!("{}{path}", server.url)])))
        .collect();
    let step = |browser: &NodeProcess, path: &str, name: &str| {
        eventually(&format!("{path}: step {name}"), Duration::from_secs(20), || {
            browser.lines().into_iter().find(|l| l["step"] == name)
        })
    };
    let reading = "/blog/post/test-post-12";
    let mut reader = NodeProcess::spawn("blog.mjs", &[&format!("{}{reading}", server.url)]);
    for (path, _, browser) in &pages {
        step(browser, path, "ready");
    }
    step(&reader, reading, "ready");
    eventually("the three pages' sockets", Duration::from_secs(10), || {
        (server.output().matches("--- page connected").count() >= 3).then_some(())
    });

    let post = |body: serde_json::Value| {
        let reply = http_request(
            "POST",
            &format!("{}/test/posts", server.url),
            &[("Content-Type", "application/json")],
            &body.to_string(),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let saved: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(saved["ok"], true, "{saved}");
    };
    post(serde_json::json!({ "post": { "title": "Fresh <news>", "state": "published", "brief": "Just *out*" } }));
    for (path, cards, browser) in &mut pages {
        browser.send("go");
        let shown = step(browser, path, "shown");
        assert_eq!(shown["bar"], "1 new post — show", "{path}: {shown}");
        assert_eq!(shown["first"], "Fresh <news>", "{path}: on top, as text: {shown}");
        assert_eq!(shown["brief"].as_str().map(str::trim), Some("<p>Just <em>out</em></p>"), "{path}: {shown}");
        assert_eq!(shown["href"], "/blog/post/fresh-news", "{path}: {shown}");
        assert_eq!(shown["cards"], *cards, "{path}: {shown}");
        assert_eq!(shown["reloaded"], false, "{path}: no reload: {shown}");
        assert_eq!(shown["focused"], true, "{path}: the new card takes the focus: {shown}");
    }
    reader.send("go");
    let shown = step(&reader, reading, "shown");
    assert_eq!(shown["notice"]["hidden"], true, "another post is not this one: {shown}");

    post(serde_json::json!({ "slug": "test-post-12", "post": { "title": "Test post 12, edited" } }));
    for (path, _, browser) in &mut pages {
        browser.send("go");
        let edited = step(browser, path, "edited");
        assert_eq!(edited["title"], "Test post 12, edited", "{path}: {edited}");
    }
    reader.send("go");
    let edited = step(&reader, reading, "edited");
    assert_eq!(edited["notice"]["text"], "This post has been updated.", "{edited}");
    assert_eq!(edited["notice"]["href"], "/blog/post/test-post-12", "the slug stays: {edited}");

    post(serde_json::json!({ "slug": "test-post-12", "post": { "state": "archived" } }));
    for (path, _, browser) in &mut pages {
        browser.send("go");
        let withdrawn = step(browser, path, "withdrawn");
        assert_eq!(withdrawn["reloaded"], false, "{path}: {withdrawn}");
        assert_eq!(withdrawn["bar_hidden"], true, "{path}: nothing waiting: {withdrawn}");
        assert_eq!(withdrawn["errors"], serde_json::json!([]), "{path}: {withdrawn}");
    }
    reader.send("go");
    let withdrawn = step(&reader, reading, "withdrawn");
    assert_eq!(withdrawn["notice"]["text"], "This post has been taken down.", "{withdrawn}");
    assert_eq!(withdrawn["notice"]["href"], "/blog", "{withdrawn}");
    assert_eq!(withdrawn["reloaded"], false, "the reader keeps the text: {withdrawn}");
    assert_eq!(withdrawn["errors"], serde_json::json!([]), "{withdrawn}");
}
