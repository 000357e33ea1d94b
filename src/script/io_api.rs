//! `io` in every script (controllers, middleware, guards, socket handlers): reaches every
//! socket of a namespace, the sender included — `io.emit(event, data)`,
//! `io.to(room).emit(…)`, `io.of("/ns").emit(…)`, `io.of("/ns").to(room).emit(…)`.
use rhai::{Dynamic, Engine, EvalAltResult};

use super::effects::{Effect, record};

/// `io`, narrowed by `of(namespace)` and `to(room)`.
#[derive(Debug, Clone, Default)]
pub struct IoTarget {
    /// `None`: the script's own namespace (a socket's; `/` for controllers).
    namespace: Option<String>,
    rooms: Vec<String>,
}

pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<IoTarget>("Io");
    // `io` is a variable every script sees, inside functions and handler closures too
    // (which see no global scope), unless the script declares its own.
    #[allow(deprecated)] // rhai marks `on_var` volatile, not deprecated
    engine.on_var(|name, index, _| Ok((name == "io" && index == 0).then(|| Dynamic::from(IoTarget::default()))));
    engine.register_fn("of", |_: &mut IoTarget, namespace: &str| {
        let namespace = if namespace.starts_with('/') { namespace.to_string() } else { format!("/{namespace}") };
        IoTarget { namespace: Some(namespace), rooms: Vec::new() }
    });
    engine.register_fn("to", |io: &mut IoTarget, room: &str| {
        let mut target = io.clone();
        target.rooms.push(room.to_string());
        target
    });
    engine.register_fn("emit", |io: &mut IoTarget, event: &str, data: Dynamic| -> Result<(), Box<EvalAltResult>> {
        record(Effect::Io {
            namespace: io.namespace.clone(),
            rooms: io.rooms.clone(),
            event: event.to_string(),
            data: super::json_out(&data)?,
        });
        Ok(())
    });
    engine.register_fn("emit", |io: &mut IoTarget, event: &str| {
        record(Effect::Io {
            namespace: io.namespace.clone(),
            rooms: io.rooms.clone(),
            event: event.to_string(),
            data: serde_json::Value::Null,
        })
    });
}
