//! Random input never panics the loader: `keystone.toml`, the route table, templates, scripts,
//! and a whole project through the loader and the check rules (proptest).
use std::collections::BTreeMap;
use std::sync::Arc;

use keystone::project::{self, PublicFiles, RouteTable};
use proptest::prelude::*;

/// Text made of the characters these formats are built from, so parsers get past their
/// first token, mixed with arbitrary bytes.
fn text(pattern: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        pattern,
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

const TOML: &str = r#"(name|\[server\]|\[session\]|\[sockets\]|\[scripts\]|\[database\]|\[admin\]|port|host|store|expiry|cookie|secure|allowed_origins|allowed_hosts|adapter|max_payload|timeout|url|path|user_list|body_limit|=|"[a-z0-9:/\.]{0,12}"|[0-9]{1,6}|\[|\]|,|\n| ){0,40}"#;
const ROUTES: &str = r#"("(GET|POST|ALL|PUT|get|BOGUS)(,GET)? /[a-z{}*/]{0,12}"|=|"[a-z_/]{0,8}"|\{ ?view ?= ?"[a-z]{1,5}"( ?, ?before ?= ?\["[a-z]{0,5}"\])?( ?, ?csrf ?= ?false)? ?\}|\n| |#){0,30}"#;
const TEMPLATE: &str = r#"(\{\{|\}\}|\{%|%\}|\{#|#\}|extends|include|import|from|as|block|endblock|macro|endmacro|if|endif|for|in|endfor|set|raw|endraw|url_for\(|asset\(|"[a-z/\.]{0,10}"|[a-z]{1,6}|\||\(|\)|<script>|</script>|io\(|socket\.on\(|href="/[a-z]{0,5}"| |\n){0,60}"#;
const SCRIPT: &str = r#"(fn|let|if|else|loop|while|for|in|return|socket|\.on\(|\.emit\(|session|locals|\.|=|==|"[a-z: ]{0,8}"|[a-z]{1,6}|[0-9]{1,4}|\(|\)|\{|\}|\[|\]|\||;|,|#\{| |\n|//|import|eval){0,60}"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn keystone_toml_never_panics(source in text(TOML)) {
        let _ = project::settings::parse(&source, "app");
    }

    #[test]
    fn the_route_table_never_panics(source in text(ROUTES)) {
        let (table, _) = project::routes::parse(&source);
        // Whatever parsed must be matchable without a panic too.
        let _ = table.find(&http::Method::GET, "/a/b");
    }

    #[test]
    fn templates_never_panic(source in text(TEMPLATE), other in text(TEMPLATE)) {
        let sources: BTreeMap<String, String> =
            [("views/index.html".to_string(), source), ("layouts/base.html".to_string(), other)].into();
        let (env, _) = project::templates::compile(&sources, &RouteTable::default(), &Arc::new(PublicFiles::default()));
        for name in sources.keys() {
            if let Ok(template) = env.get_template(name) {
                let _ = template.render(minijinja::context! {});
                let _ = template.undeclared_variables(true);
            }
        }
    }

    #[test]
    fn scripts_never_panic(source in text(SCRIPT)) {
        let _ = keystone::script::compile("routes/views/x.rhai", &source);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whole projects through the same loader and rules `check` and `serve` use.
    #[test]
    fn the_loader_and_rules_never_panic(
        toml in text(TOML),
        routes in text(ROUTES),
        view in text(TEMPLATE),
        controller in text(SCRIPT),
        socket in text(SCRIPT),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (file, contents) in [
            ("keystone.toml", format!("name = \"fuzz\"\n{toml}")),
            ("routes/index.toml", format!("\"GET /\" = \"index\"\n{routes}")),
            ("templates/views/index.html", view),
            ("routes/views/index.rhai", controller),
            ("sockets/index.rhai", socket),
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        // The rules run on projects the loader accepted only in part.
        let project = keystone::check::load_and_check(root, true);
        for d in &project.diagnostics {
            let _ = d.render(false);
        }
    }
}
