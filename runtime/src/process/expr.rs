//! jq expressions over the step context `{input, steps, vars, ...}`, compiled once at deploy.
//!
//! Expressions are compiled with the jaq crates (jq's core, standard library and JSON definitions) when a
//! definition is deployed and evaluated many times afterwards, so the compiled filter is shared behind an
//! [`Arc`]. Only the first output counts: a step input or a switch condition is one value, and stopping after
//! it keeps generators like `range(1e9)` cheap.
//!
//! Filters that would let a tenant see the host are left out: `env` (the runtime's environment holds its
//! secrets) and module imports (the loader has no file access, so `import`/`include` fail to compile).

use jaq_core::data::JustLut;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars};
use jaq_json::Val;
use serde_json::Value;
use std::sync::Arc;

/// The value and data types every expression runs with: plain JSON values, no custom globals.
type Data = JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// Native filters a tenant must not reach: `env` reads the runtime's environment, where its secrets live.
const DENIED_FILTERS: &[&str] = &["env"];

/// Integral floats up to this magnitude print as integers, as in jq (whose numbers are all doubles).
const MAX_EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// A compiled jq expression.
#[derive(Clone)]
pub struct Expr {
    source: String,
    filter: Arc<Filter>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// A jq expression that did not compile, or failed when evaluated.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(pub String);

impl Expr {
    /// Compiles `source`; the error names the offending token or the undefined filter or variable.
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        reject_modules(source)?;
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader.load(&arena, File { code: source, path: () }).map_err(|errs| load_error(source, errs))?;
        let funs = jaq_core::funs::<Data>()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, _, _)| !DENIED_FILTERS.contains(name));
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| undefined_error(source, errs))?;
        Ok(Expr { source: source.to_string(), filter: Arc::new(filter) })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first output of the expression on `input`; `null` when it yields nothing (like `empty` or a
    /// `select` that drops its input), so that callers always get one value.
    pub fn eval(&self, input: &Value) -> Result<Value, ExprError> {
        let input = to_val(input);
        // A tenant's expression must not take the executor down with it: jaq has internal assertions
        // (`unwrap`s on its own invariants) that a malformed program could still reach.
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
            let mut outputs = self.filter.id.run((ctx, input));
            match outputs.next() {
                None => Ok(Value::Null),
                Some(Ok(v)) => Ok(from_val(&v)),
                Some(Err(exn)) => Err(match exn.get_err() {
                    Ok(err) => ExprError(message_text(err.into_val())),
                    // `halt` would exit the jq program, which here is only this evaluation.
                    Err(exn) => match exn.get_halt() {
                        Ok(code) => ExprError(format!("halted with exit code {code}")),
                        Err(_) => ExprError("internal jq control flow escaped the expression".into()),
                    },
                }),
            }
        }));
        first.unwrap_or_else(|_| Err(ExprError("the jq evaluator failed on this expression".into())))
    }

    /// Whether the first output is truthy (neither `false` nor `null`), as jq's `if` decides.
    pub fn truthy(&self, input: &Value) -> Result<bool, ExprError> {
        Ok(!matches!(self.eval(input)?, Value::Null | Value::Bool(false)))
    }
}

/// jq's message for an error value: a string as is (`error("boom")` says `boom`), anything else as JSON.
fn message_text(v: Val) -> String {
    match v {
        Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(&b).into_owned(),
        other => from_val(&other).to_string(),
    }
}

/// The byte offset of `part` in `whole`, when `part` is a slice of it (jaq reports positions as slices).
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start <= whole.len()).then_some(start)
}

/// Rejects module headers: jaq accepts a data import (`import "x" as $x;`) that the loader cannot provide and
/// then panics on the first use of the variable, and `module`/`include` have no use without modules either.
fn reject_modules(source: &str) -> Result<(), ExprError> {
    use jaq_core::load::lex::{Lexer, Tok, Token};
    // Lex errors are reported by the loader, with positions.
    let Ok(tokens) = Lexer::new(source).lex() else { return Ok(()) };
    match tokens.first() {
        Some(Token(word @ ("module" | "import" | "include"), Tok::Word)) => {
            Err(ExprError(format!("jq error: `{word}` is not supported: expressions cannot use modules")))
        }
        _ => Ok(()),
    }
}

/// "at column N" for the place `part` points to, counted in characters from 1.
fn position(whole: &str, part: &str) -> String {
    match offset_in(whole, part).and_then(|off| whole.get(..off)) {
        Some(before) => format!("at column {}", before.chars().count() + 1),
        None => "at an unknown position".to_string(),
    }
}

/// What was found at an error position, for the message: the token, or the end of the expression.
fn found_text(found: &str) -> String {
    if found.is_empty() {
        "the end of the expression".to_string()
    } else {
        let token: String = found.chars().take(24).collect();
        let ellipsis = if found.chars().count() > 24 { "..." } else { "" };
        format!("`{token}{ellipsis}`")
    }
}

fn lex_expected(expect: &jaq_core::load::lex::Expect<&str>) -> String {
    use jaq_core::load::lex::Expect;
    match expect {
        // `as_str` panics on delimiters it does not know, so name them ourselves.
        Expect::Delim(open) => match *open {
            "(" => "closing parenthesis".into(),
            "[" => "closing bracket".into(),
            "{" => "closing brace".into(),
            "\"" => "closing quote".into(),
            other => format!("closing delimiter for `{other}`"),
        },
        other => other.as_str().into(),
    }
}

fn load_error(source: &str, errs: jaq_core::load::Errors<&str, ()>) -> ExprError {
    use jaq_core::load::Error;
    let mut messages = Vec::new();
    for (file, err) in errs {
        let code = if file.code.is_empty() { source } else { file.code };
        match err {
            Error::Io(imports) => {
                for (path, why) in imports {
                    messages.push(format!("cannot import `{path}`: {why}"));
                }
            }
            Error::Lex(lexes) => {
                for (expect, rest) in lexes {
                    let at = position(code, rest);
                    messages.push(match expect {
                        // `rest` is all the remaining input; the culprit is its first character.
                        jaq_core::load::lex::Expect::Token => {
                            let culprit = rest.chars().next().map_or(String::new(), String::from);
                            format!("unexpected character {} {at}", found_text(&culprit))
                        }
                        expect => format!("expected {} {at}, found {}", lex_expected(&expect), found_text(rest)),
                    });
                }
            }
            Error::Parse(parses) => {
                for (expect, found) in parses {
                    messages.push(format!(
                        "expected {} {}, found {}",
                        expect.as_str(),
                        position(code, found),
                        found_text(found)
                    ));
                }
            }
        }
    }
    ExprError(format!("jq syntax error: {}", messages.join("; ")))
}

fn undefined_error(source: &str, errs: jaq_core::compile::Errors<&str, ()>) -> ExprError {
    use jaq_core::compile::Undefined;
    let mut messages = Vec::new();
    for (file, undefined) in errs {
        let code = if file.code.is_empty() { source } else { file.code };
        for (name, what) in undefined {
            let name = match what {
                Undefined::Filter(arity) => format!("{name}/{arity}"),
                _ => name.to_string(),
            };
            messages.push(format!("undefined {} `{name}` {}", what.as_str(), position(code, name_slice(code, &name))));
        }
    }
    ExprError(format!("jq error: {}", messages.join("; ")))
}

/// The first occurrence of a name in the source, so an undefined-symbol message can point at it too.
fn name_slice<'a>(code: &'a str, name: &str) -> &'a str {
    let bare = name.split('/').next().unwrap_or(name);
    code.find(bare).and_then(|at| code.get(at..at + bare.len())).unwrap_or("")
}

/// serde_json to jaq.
fn to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Val::Num(jaq_json::Num::from_integral(i))
            } else if let Some(u) = n.as_u64() {
                Val::Num(jaq_json::Num::from_integral(u))
            } else {
                Val::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Val::from(s.clone()),
        Value::Array(items) => items.iter().map(to_val).collect(),
        Value::Object(map) => Val::obj(map.iter().map(|(k, v)| (Val::from(k.clone()), to_val(v))).collect()),
    }
}

/// jaq to serde_json. jaq values are a superset of JSON: byte strings become text, non-string object keys
/// their JSON text, and non-finite numbers `null` (as jq prints NaN).
fn from_val(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_to_json(n),
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => Value::Array(items.iter().map(from_val).collect()),
        Val::Obj(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                        other => from_val(other).to_string(),
                    };
                    (key, from_val(v))
                })
                .collect(),
        ),
    }
}

fn num_to_json(n: &jaq_json::Num) -> Value {
    use jaq_json::Num;
    match n {
        Num::Int(i) => Value::from(*i as i64),
        Num::Float(f) => float_to_json(*f),
        // Big integers and decimal literals keep their digits when JSON can hold them.
        Num::BigInt(_) | Num::Dec(_) => {
            let text = n.to_string();
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Number(num)) => match num.as_f64() {
                    Some(f) if num.is_f64() => float_to_json(f),
                    _ => Value::Number(num),
                },
                _ => text.parse::<f64>().map_or(Value::Null, float_to_json),
            }
        }
    }
}

fn float_to_json(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_EXACT_FLOAT_INT {
        // `as` is exact here: the value is integral and within 2^53.
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, input: Value) -> Value {
        Expr::compile(src).unwrap().eval(&input).unwrap()
    }

    #[test]
    fn expr_is_shareable_across_threads() {
        fn assert_send_sync_clone<T: Send + Sync + Clone + std::fmt::Debug>() {}
        assert_send_sync_clone::<Expr>();
    }

    #[test]
    fn field_access() {
        assert_eq!(eval(".input.lead.email", json!({"input": {"lead": {"email": "a@b.c"}}})), json!("a@b.c"));
        assert_eq!(eval(".missing", json!({})), Value::Null);
    }

    #[test]
    fn object_construction() {
        let ctx = json!({"input": {"lead": {"name": "Ada", "score": 7}}});
        assert_eq!(eval("{lead: .input.lead}", ctx), json!({"lead": {"name": "Ada", "score": 7}}));
    }

    #[test]
    fn arithmetic_and_comparison() {
        assert_eq!(eval(".a * 2 + 1", json!({"a": 20})), json!(41));
        assert_eq!(eval(".a / 4", json!({"a": 10})), json!(2.5));
        assert_eq!(eval(".a / 5", json!({"a": 10})), json!(2));
        assert_eq!(eval(".a >= 50", json!({"a": 72})), json!(true));
        assert_eq!(eval(".a == \"x\"", json!({"a": "y"})), json!(false));
        assert_eq!(eval("1.5 + 1", Value::Null), json!(2.5));
    }

    #[test]
    fn standard_library_filters() {
        let items = json!({"items": [{"n": 1}, {"n": 5}, {"n": 9}]});
        assert_eq!(eval("[.items[] | .n] | map(select(. > 2))", items.clone()), json!([5, 9]));
        assert_eq!(eval(".items | map(select(.n > 2)) | length", items.clone()), json!(2));
        assert_eq!(eval("[.items[].n] | add", items), json!(15));
        assert_eq!(eval(".n | tostring", json!({"n": 3})), json!("3"));
        assert_eq!(eval(".s | ascii_downcase", json!({"s": "ACME Corp"})), json!("acme corp"));
        assert_eq!(eval(".s | test(\"^a.+@\")", json!({"s": "ann@x.io"})), json!(true));
        assert_eq!(eval("keys", json!({"b": 1, "a": 2})), json!(["a", "b"]));
    }

    #[test]
    fn only_the_first_output_counts() {
        assert_eq!(eval(".[]", json!([3, 4])), json!(3));
        assert_eq!(eval("range(1000000000)", Value::Null), json!(0));
    }

    #[test]
    fn no_output_is_null() {
        assert_eq!(eval("empty", json!(1)), Value::Null);
        assert_eq!(eval("select(. > 5)", json!(1)), Value::Null);
    }

    #[test]
    fn compile_error_names_the_token() {
        let err = Expr::compile(".a +").unwrap_err();
        assert!(err.0.contains("expected term"), "{err}");
        assert!(err.0.contains("end of the expression"), "{err}");
        let err = Expr::compile("{lead: .a").unwrap_err();
        assert!(err.0.contains("column"), "{err}");
        let err = Expr::compile(".a | ) ").unwrap_err();
        assert!(err.0.contains("unexpected character `)` at column 6"), "{err}");
        let err = Expr::compile(".a & .b").unwrap_err();
        assert!(err.0.contains("unexpected character `&` at column 4"), "{err}");
    }

    #[test]
    fn compile_error_names_undefined_filter_and_variable() {
        let err = Expr::compile(".a | frobnicate").unwrap_err();
        assert!(err.0.contains("undefined filter `frobnicate/0`"), "{err}");
        assert!(err.0.contains("column 6"), "{err}");
        let err = Expr::compile("$nope").unwrap_err();
        assert!(err.0.contains("undefined variable"), "{err}");
        assert!(err.0.contains("nope"), "{err}");
    }

    #[test]
    fn host_environment_is_not_reachable() {
        let err = Expr::compile("env").unwrap_err();
        assert!(err.0.contains("undefined filter `env/0`"), "{err}");
        assert!(Expr::compile("$ENV").is_err());
        assert!(Expr::compile("import \"x\" as x; x::f").is_err());
        assert!(Expr::compile("include \"x\"; .").is_err());
        assert!(Expr::compile("module {}; .").is_err());
        // jaq compiles a data import it cannot load and would panic when evaluating it.
        let err = Expr::compile("import \"x\" as $x; $x").unwrap_err();
        assert!(err.0.contains("`import` is not supported"), "{err}");
        assert_eq!(eval(".import", json!({"import": 1})), json!(1));
    }

    #[test]
    fn runtime_error_carries_jq_message() {
        let e = Expr::compile(".a + \"x\"").unwrap();
        let err = e.eval(&json!({"a": 1})).unwrap_err();
        assert!(err.0.contains("cannot") || err.0.contains("add"), "{err}");
        let err = Expr::compile("error(\"boom\")").unwrap().eval(&Value::Null).unwrap_err();
        assert_eq!(err.0, "boom");
        let err = Expr::compile("error({code: 1})").unwrap().eval(&Value::Null).unwrap_err();
        assert_eq!(err.0, r#"{"code":1}"#);
    }

    #[test]
    fn halt_does_not_exit_the_process() {
        let err = Expr::compile("halt").unwrap().eval(&Value::Null).unwrap_err();
        assert!(err.0.contains("halt"), "{err}");
        assert!(Expr::compile("halt_error").unwrap().eval(&json!("x")).is_err());
    }

    #[test]
    fn truthiness() {
        let e = Expr::compile(".v").unwrap();
        assert!(!e.truthy(&json!({"v": null})).unwrap());
        assert!(!e.truthy(&json!({"v": false})).unwrap());
        assert!(!e.truthy(&json!({})).unwrap());
        assert!(e.truthy(&json!({"v": 0})).unwrap());
        assert!(e.truthy(&json!({"v": ""})).unwrap());
        assert!(e.truthy(&json!({"v": []})).unwrap());
        assert!(!Expr::compile("empty").unwrap().truthy(&json!(1)).unwrap());
        assert!(Expr::compile(".a + \"x\"").unwrap().truthy(&json!({"a": 1})).is_err());
    }

    #[test]
    fn compiled_once_evaluated_many_times() {
        let e = Expr::compile(".n * .n").unwrap();
        let copy = e.clone();
        assert!(Arc::ptr_eq(&e.filter, &copy.filter));
        for n in 0..100 {
            assert_eq!(copy.eval(&json!({"n": n})).unwrap(), json!(n * n));
        }
        assert_eq!(e.source(), ".n * .n");
    }

    #[test]
    fn json_values_round_trip() {
        let v = json!({"s": "é", "n": -3, "big": 18446744073709551615u64, "f": 0.25, "a": [null, true], "o": {}});
        assert_eq!(eval(".", v.clone()), v);
        assert_eq!(eval("{(1|tostring): 2}", Value::Null), json!({"1": 2}));
        assert_eq!(eval("nan", Value::Null), Value::Null);
    }
}
