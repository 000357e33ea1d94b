//! The registry: every diagnostic code keystone-rs reports, one rule per file. The README's
//! table of codes and the test that every code has a fixture both come from [`ALL`].
use super::Rule;

mod admin_nav_unknown_list;
mod asset_missing;
mod deployment_insecure_cookies;
mod deployment_shares_nothing;
mod guard_missing;
mod io_without_client;
mod link_broken;
mod list_field_unknown;
mod list_unknown;
mod loading;
mod model_loading;
mod orphan_controller;
mod orphan_namespace;
mod orphan_view;
mod session_key_never_written;
mod socket_event_mismatch;
mod socket_event_never_emitted;
mod socket_event_unhandled;
mod socket_namespace_unknown;
mod template_filter_unknown;
mod template_macro_missing;
mod template_missing;
mod template_variable_undefined;
mod url_for_unknown_view;
mod user_list_invalid;
mod view_missing_template;

/// Every rule, in the order of the README's table.
pub static ALL: &[&Rule] = &[
    &loading::CONFIG_MISSING,
    &loading::TOML_SYNTAX,
    &loading::CONFIG_UNKNOWN_KEY,
    &loading::CONFIG_TYPE,
    &loading::CONFIG_VALUE,
    &loading::ROUTES_MISSING,
    &loading::ROUTE_PATH,
    &loading::ROUTE_VALUE,
    &loading::ROUTE_DUPLICATE,
    &loading::ROUTE_CONFLICT,
    &loading::TEMPLATE_SYNTAX,
    &loading::RHAI_SYNTAX,
    &loading::FILE_UNREADABLE,
    &model_loading::MODEL_NAME,
    &model_loading::MODEL_UNKNOWN_TYPE,
    &model_loading::MODEL_UNKNOWN_OPTION,
    &model_loading::MODEL_VALUE,
    &model_loading::MODEL_FIELD_MISSING,
    &model_loading::MODEL_DEFAULT_INVALID,
    &model_loading::MODEL_RELATIONSHIP_MISSING,
    &model_loading::MODEL_INDEX,
    &model_loading::UPDATE_FAILED,
    &view_missing_template::RULE,
    &guard_missing::RULE,
    &template_missing::RULE,
    &template_macro_missing::RULE,
    &template_filter_unknown::RULE,
    &template_variable_undefined::RULE,
    &link_broken::RULE,
    &url_for_unknown_view::RULE,
    &asset_missing::RULE,
    &io_without_client::RULE,
    &socket_namespace_unknown::RULE,
    &socket_event_mismatch::RULE,
    &socket_event_never_emitted::RULE,
    &socket_event_unhandled::RULE,
    &session_key_never_written::RULE,
    &list_unknown::RULE,
    &list_field_unknown::RULE,
    &user_list_invalid::RULE,
    &admin_nav_unknown_list::RULE,
    &orphan_controller::RULE,
    &orphan_view::RULE,
    &orphan_namespace::RULE,
    &deployment_shares_nothing::RULE,
    &deployment_insecure_cookies::RULE,
];

/// The rule of `code`, if there is one.
pub fn find(code: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.code == code)
}

/// The README's table of codes, rendered from the registry.
pub fn markdown_table() -> String {
    use crate::diagnostic::Severity;
    let mut out = String::from("| code | level | what it finds |\n| --- | --- | --- |\n");
    for rule in ALL {
        let level = match rule.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let level =
            if rule.when == super::When::Production { format!("{level}, `--production`") } else { level.into() };
        out.push_str(&format!("| `{}` | {level} | {} |\n", rule.code, rule.summary));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_lowercase_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in super::ALL {
            assert!(seen.insert(rule.code), "{} twice", rule.code);
            assert!(rule.code.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", rule.code);
            assert!(!rule.summary.is_empty(), "{}", rule.code);
        }
    }

    /// The README's table is the registry's: a new rule cannot go undocumented.
    #[test]
    fn readme_table_of_codes_matches_the_registry() {
        let readme = include_str!("../../../README.md");
        let table = super::markdown_table();
        assert!(readme.contains(&table), "README.md's table of codes is stale; replace it with:\n\n{table}");
    }
}
