//! The lists of a project: `models/NAME.toml` (+ `models/NAME.rhai` hooks) and
//! `updates/*.toml`, read and parsed into plain data. Nothing here opens a database: the
//! server joins these models to its store, `check` only reports their diagnostics.
use std::collections::BTreeMap;
use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::lists::{Hooks, Model, model};

/// The lists part of a loaded project.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// List name → model, for every model file that parsed.
    pub models: BTreeMap<String, Model>,
    /// List name → model file source (the check rules point into it).
    pub sources: BTreeMap<String, String>,
    /// List name → its `models/NAME.rhai`.
    pub hooks: BTreeMap<String, Hooks>,
    /// `updates/` file name → TOML source.
    pub updates: BTreeMap<String, String>,
}

/// Reads and parses the model files, hooks and updates under `root`.
pub fn load(root: &Path, diagnostics: &mut Vec<Diagnostic>) -> Lists {
    let mut lists = Lists::default();
    let models = super::read_tree(root, model::FOLDER, "toml", diagnostics);
    for (file_name, source) in models {
        let file = format!("{}/{file_name}", model::FOLDER);
        let name = file_name.trim_end_matches(".toml").to_string();
        match model::parse(&name, &file, &source) {
            Ok(m) => {
                lists.models.insert(name.clone(), m);
            }
            Err(found) => diagnostics.extend(found),
        }
        lists.sources.insert(name, source);
    }
    diagnostics.extend(model::cross_check(&lists.models, &lists.sources));
    for (file_name, source) in super::read_tree(root, model::FOLDER, "rhai", diagnostics) {
        let file = format!("{}/{file_name}", model::FOLDER);
        let name = file_name.trim_end_matches(".rhai").to_string();
        match crate::script::compile(&file, &source) {
            Ok(script) => {
                lists.hooks.insert(name, Hooks { file, source: script.source, ast: script.ast });
            }
            Err(d) => diagnostics.push(*d),
        }
    }
    lists.updates = super::read_tree(root, crate::lists::updates::FOLDER, "toml", diagnostics);
    lists
}
