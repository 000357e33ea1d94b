//! Script values (`locals`, `req`) as template values, read in place instead of copied through serde.
//!
//! A Rhai map or array becomes a minijinja object that owns it; its scalars are converted when a
//! template reads them. Nested maps and arrays are wrapped once, up front, so that reading one is
//! an `Arc` clone. Anything that is not plain data (a blob, a function pointer, a timestamp, a
//! custom type) goes through serde as before, so templates see exactly what they saw then.
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectExt, ObjectRepr};
use rhai::Dynamic;

/// The template value of a script value, taking ownership of it.
pub fn from_script(value: Dynamic) -> Value {
    let value = value.flatten();
    if let Some(page) = crate::lists::page::in_value(&value) {
        return page_value(&page);
    }
    if value.is_map() {
        return Value::from_object(ScriptMap(wrap_children(value.cast::<rhai::Map>())));
    }
    if value.is_array() {
        let mut items = value.cast::<rhai::Array>();
        items.iter_mut().for_each(wrap_nested);
        return Value::from_object(ScriptArray(items));
    }
    scalar(&value)
}

/// A Rhai map's template value (as [`from_script`] of the map).
pub fn from_script_map(map: rhai::Map) -> Value {
    Value::from_object(ScriptMap::new(map))
}

/// A list page's template value: built once for all the requests that share the page, as
/// plain template data (reading a field clones an `Arc`, converts nothing).
fn page_value(page: &crate::lists::page::PageValue) -> Value {
    page.template_value(|fields| Value::from(minijinja::value::Serde(Dynamic::from_map(fields))))
}

fn wrap_children(mut map: rhai::Map) -> rhai::Map {
    map.values_mut().for_each(wrap_nested);
    map
}

/// Replaces a nested map or array by its template value (held as a Rhai custom value), so that
/// reading it later costs a clone of an `Arc`; unshares shared values.
fn wrap_nested(slot: &mut Dynamic) {
    if !slot.is_map() && !slot.is_array() && !slot.is_shared() {
        if let Some(page) = crate::lists::page::in_value(slot) {
            *slot = Dynamic::from(page_value(&page));
        }
        return; // a plain scalar: read as it is
    }
    let value = std::mem::take(slot).flatten();
    *slot = if value.is_map() || value.is_array() { Dynamic::from(from_script(value)) } else { value };
}

/// A value already prepared by [`wrap_nested`]: scalars convert here, wrapped containers clone.
fn scalar(value: &Dynamic) -> Value {
    // Asked by kind first: a failed `as_…` names the type it found, which costs more.
    if value.is_string()
        && let Ok(s) = value.as_immutable_string_ref()
    {
        return Value::from(s.as_str());
    }
    if let Some(wrapped) = value.read_lock::<Value>() {
        return wrapped.clone();
    }
    if value.is_int()
        && let Ok(n) = value.as_int()
    {
        return Value::from(n);
    }
    if value.is_bool()
        && let Ok(b) = value.as_bool()
    {
        return Value::from(b);
    }
    if value.is_unit() {
        return Value::from(());
    }
    if value.is_float()
        && let Ok(x) = value.as_float()
    {
        return Value::from(x);
    }
    if value.is_char()
        && let Ok(c) = value.as_char()
    {
        return Value::from(c.to_string());
    }
    Value::from(minijinja::value::Serde(value))
}

/// A Rhai map seen by templates as a mapping (keys in Rhai's order, which is sorted).
#[derive(Debug)]
pub struct ScriptMap(rhai::Map);

impl ScriptMap {
    pub fn new(map: rhai::Map) -> Self {
        ScriptMap(wrap_children(map))
    }

    /// The template value under `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.0.get(key).map(scalar)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(|k| k.as_str())
    }
}

impl Object for ScriptMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.get(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|map| Box::new(map.0.keys().map(|k| Value::from(k.as_str()))))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// A Rhai array seen by templates as a sequence.
#[derive(Debug)]
struct ScriptArray(rhai::Array);

impl Object for ScriptArray {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_usize()?).map(scalar)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page's worth of nested script data, with every kind of plain value in it.
    fn sample() -> Dynamic {
        let engine = rhai::Engine::new();
        engine
            .eval::<Dynamic>(
                r#"#{
                    title: "<b>Posts</b> & more",
                    count: 42, ratio: 0.5, whole: 2.0, big: -9007199254740993,
                    on: true, off: false, nothing: (), letter: 'x',
                    empty_map: #{}, empty_list: [],
                    posts: [
                        #{ id: 1, title: "A \"quoted\" <title>", tags: ["x", "<y>"], author: #{ name: "Ann", admin: true } },
                        #{ id: 2, title: "second", tags: [], author: (), score: 1.25 },
                        [1, [2, [3, ()]]],
                    ],
                }"#,
            )
            .unwrap()
    }

    const TEMPLATE: &str = r#"{{ v }}|{{ v|tojson }}|{{ v|length }}|{{ v is mapping }}|{{ v.posts is sequence }}
{% for k, x in v|items %}{{ k }}={{ x }};{{ x is defined }}{{ x is none }}{{ x is number }}{{ x is string }}{{ x is mapping }}{{ x|tojson }}
{% endfor %}{% for p in v.posts %}{{ loop.index }}:{{ p }}/{{ p.title }}/{{ p is mapping }}/{{ p.author is none }}/{{ p.tags|join(",") }}/{{ p.tags|length }}/{{ p.missing is undefined }}/{{ p[1] }}
{% if p.author %}{{ p["author"].name }}{{ p.author.admin }}{% endif %}{% endfor %}{{ v.posts[-1] }}{{ v.posts[0].tags[-1] }}{{ v.posts[1:] }}{{ v.posts|last }}{{ v.count + 1 }}{{ v.ratio * 2 }}{{ v.whole }}
{% if v.empty_map %}x{% endif %}{% if v.empty_list %}y{% endif %}{% if v.posts %}z{% endif %}{{ v.posts[0].author|dictsort }}{{ v.posts|map(attribute="id")|list }}
{{ v.posts[0].title|safe }}{{ v.title|upper }}{{ v.letter }}{{ v.posts[0] == v.posts[0] }}{{ v.posts[0].author|list }}{{ v|list }}"#;

    fn render(value: Value) -> String {
        render_with(TEMPLATE, value)
    }

    fn render_with(template: &str, value: Value) -> String {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("t.html", template).unwrap();
        env.get_template("t.html").unwrap().render(minijinja::context! { v => value }).unwrap()
    }

    #[test]
    fn reading_script_values_in_place_renders_as_the_serde_copy_did() {
        let value = sample();
        let through_serde = render(Value::from(minijinja::value::Serde(&value)));
        let in_place = render(from_script(value));
        assert!(through_serde.contains("&lt;b&gt;Posts"), "{through_serde}");
        assert_eq!(in_place, through_serde);
    }

    #[test]
    fn a_list_page_renders_as_its_map_and_a_changed_copy_as_changed() {
        use crate::lists::page::PageValue;
        let item = |title: &str| Dynamic::from_map(rhai::Map::from([("title".into(), title.into())]));
        let page = PageValue::new(&crate::lists::query::Page::new(2, 1, 3), vec![item("<b>One</b>")]);
        let template = "{{ v.items[0].title }} {{ v.page }}/{{ v.pages }} {{ v.prev }} {{ v.next }} {{ v|length }}";
        let as_map = render_with(template, from_script_map(page.to_map()));
        assert_eq!(as_map, "&lt;b&gt;One&lt;&#x2f;b&gt; 2/3 1 3 9");
        let mut locals = rhai::Map::new();
        locals.insert("page".into(), Dynamic::from(page.clone()));
        for _ in 0..2 {
            // Built once, then shared: the same page again renders the same.
            assert_eq!(render_with(template, from_script(Dynamic::from(page.clone()))), as_map);
            let nested = from_script_map(locals.clone()).get_attr("page").unwrap();
            assert_eq!(render_with(template, nested), as_map);
        }
        let mut scope = rhai::Scope::new();
        scope.push("p", page.clone());
        let changed: Dynamic =
            crate::script::engine().eval_with_scope(&mut scope, r#"p.items[0].title = "Two"; p.page = 9; p"#).unwrap();
        assert_eq!(render_with(template, from_script(changed)), "Two 9/3 1 3 9");
        assert_eq!(render_with(template, from_script(Dynamic::from(page))), as_map, "the original is unchanged");
    }

    #[test]
    fn shared_values_and_a_top_level_scalar_read_as_their_contents() {
        let shared = Dynamic::from(rhai::Array::from([Dynamic::from(7_i64)])).into_shared();
        let mut map = rhai::Map::new();
        map.insert("list".into(), shared);
        let template = "{{ v }} {{ v.list|length }} {{ v.list[0] + 1 }}";
        let in_place = render_with(template, from_script_map(map.clone()));
        assert_eq!(in_place, render_with(template, Value::from(minijinja::value::Serde(Dynamic::from_map(map)))));
        assert_eq!(in_place, "{&#x27;list&#x27;: [7]} 1 8");
        assert_eq!(from_script(Dynamic::from("<i>")), Value::from("<i>"));
    }
}
