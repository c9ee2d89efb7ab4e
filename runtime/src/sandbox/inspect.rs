//! Describes a component's imports and exports in WIT-like text, and whether it fits the `alur:step` world.

use super::LoadError;
use super::cache::check_is_component;
use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentItem, Type};

/// A component's interface, as `alur step inspect` prints it.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// `name: item` lines of its imports.
    pub imports: Vec<String>,
    /// `name: item` lines of its exports.
    pub exports: Vec<String>,
}

/// Compiles `wasm` with `engine` (no cache: this is a local tool) and lists its interface.
pub fn inspect(engine: &Engine, wasm: &[u8]) -> Result<Inspection, LoadError> {
    check_is_component(wasm)?;
    let component = Component::new(engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    let ty = component.component_type();
    let imports = ty.imports(engine).flat_map(|(name, ext)| describe(engine, name, &ext.ty)).collect();
    let exports = ty.exports(engine).flat_map(|(name, ext)| describe(engine, name, &ext.ty)).collect();
    Ok(Inspection { imports, exports })
}

fn describe(engine: &Engine, name: &str, item: &ComponentItem) -> Vec<String> {
    match item {
        ComponentItem::ComponentFunc(f) => vec![format!("{name}: {}", func(f))],
        ComponentItem::ComponentInstance(inst) => {
            let mut lines = vec![format!("{name}: interface")];
            for (member, ext) in inst.exports(engine) {
                for line in describe(engine, member, &ext.ty) {
                    lines.push(format!("  {line}"));
                }
            }
            lines
        }
        ComponentItem::Resource(_) => vec![format!("{name}: resource")],
        ComponentItem::Type(t) => vec![format!("{name}: type {}", ty(t))],
        ComponentItem::CoreFunc(_) => vec![format!("{name}: core func")],
        ComponentItem::Module(_) => vec![format!("{name}: core module")],
        ComponentItem::Component(_) => vec![format!("{name}: component")],
    }
}

fn func(f: &wasmtime::component::types::ComponentFunc) -> String {
    let params: Vec<String> = f.params().map(|(n, t)| format!("{n}: {}", ty(&t))).collect();
    let results: Vec<String> = f.results().map(|t| ty(&t)).collect();
    let prefix = if f.async_() { "async func" } else { "func" };
    match results.as_slice() {
        [] => format!("{prefix}({})", params.join(", ")),
        [one] => format!("{prefix}({}) -> {one}", params.join(", ")),
        many => format!("{prefix}({}) -> ({})", params.join(", "), many.join(", ")),
    }
}

fn ty(t: &Type) -> String {
    match t {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", ty(&l.ty())),
        Type::Map(m) => format!("map<{}, {}>", ty(&m.key()), ty(&m.value())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", ty(&l.ty()), l.len()),
        Type::Record(r) => {
            let fields: Vec<String> = r.fields().map(|f| format!("{}: {}", f.name, ty(&f.ty))).collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(t) => format!("tuple<{}>", t.types().map(|t| ty(&t)).collect::<Vec<_>>().join(", ")),
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match &c.ty {
                    Some(t) => format!("{}({})", c.name, ty(t)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Option(o) => format!("option<{}>", ty(&o.ty())),
        Type::Result(r) => {
            let side = |t: Option<Type>| t.map(|t| ty(&t)).unwrap_or_else(|| "_".into());
            format!("result<{}, {}>", side(r.ok()), side(r.err()))
        }
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
    }
}
