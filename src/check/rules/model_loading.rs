//! Codes the loader reports while reading the lists (`models/*.toml`, DESIGN §10), and the
//! two that only `serve` can find, with the data in front of it.
use crate::check::{Rule, When};
use crate::diagnostic::Severity::Error;

const fn loading(code: &'static str, summary: &'static str) -> Rule {
    Rule { code, severity: Error, summary, when: When::Loading, check: None }
}

pub static MODEL_NAME: Rule = loading("model-name", "a model file whose name is not a PascalCase list name");
pub static MODEL_UNKNOWN_TYPE: Rule =
    loading("model-unknown-type", "a field without a type or of an unknown type, with the closest known one");
pub static MODEL_UNKNOWN_OPTION: Rule =
    loading("model-unknown-option", "an unknown list or field option, or one that does not apply to the field's type");
pub static MODEL_VALUE: Rule =
    loading("model-value", "a list or field option of the wrong type, or a select without options");
pub static MODEL_FIELD_MISSING: Rule =
    loading("model-field-missing", "`title`, `slug`, `sort` or `columns` naming a field the list does not have");
pub static MODEL_DEFAULT_INVALID: Rule =
    loading("model-default-invalid", "a `default` the field cannot hold (outside a select's options, wrong type)");
pub static MODEL_RELATIONSHIP_MISSING: Rule =
    loading("model-relationship-missing", "a relationship to a list that does not exist, or to none");
pub static MODEL_INDEX: Rule = loading("model-index", "`serve`: a unique field over items that already repeat a value");
pub static UPDATE_FAILED: Rule =
    loading("update-failed", "`serve`: an `updates/*.toml` whose items cannot all be saved (undone, tried again)");
