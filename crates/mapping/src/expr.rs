//! jq expressions: compiled once at load, evaluated per record.
//!
//! Most mapping expressions are plain paths (`.id`, `.via.channel`). Those are
//! evaluated directly on the `serde_json::Value`, with jq's semantics
//! (`null` indexes to `null`, indexing a scalar is an error); everything else
//! runs in jaq. A record is converted to a jaq value at most once, only when
//! some expression needs jaq, and only as far as the mapping's jaq
//! expressions can read it (see [`Projection`]).

use jaq_core::load::lex::{self, StrPart};
use jaq_core::load::parse::{BinaryOp, Pattern, Term};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::path::Part;
use jaq_core::{compile, data, load, Ctx, Vars};
use jaq_json::{Num, Val};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

type JqFilter = jaq_core::Filter<data::JustLut<Val>>;

/// Builtins left out of mappings: `env` would let a mapping file copy the
/// hub's secrets (tokens in environment variables) into stored fields.
const EXCLUDED_BUILTINS: &[&str] = &["env"];

/// Longest value rendering put into an error message (quarantine reasons
/// must stay readable even when a whole record is involved).
const MAX_RENDER: usize = 200;

/// One compiled expression.
pub(crate) struct Expr {
    source: String,
    eval: Eval,
}

enum Eval {
    /// `.a.b.c` (empty for `.`), evaluated without jaq.
    Path(Box<[String]>),
    Jq {
        filter: Box<JqFilter>,
        /// The record's top-level keys the expression reads, when it reads
        /// the record only through `.key` lookups; `None` if it may read more.
        root_keys: Option<Box<[String]>>,
    },
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl Expr {
    /// Compiles `source`; the error is jaq's diagnosis, worded for the
    /// mapping's author.
    pub(crate) fn compile(source: &str) -> Result<Expr, String> {
        // Always compile with jaq, so both evaluation paths accept exactly
        // the same expressions.
        let filter = compile_jq(source)?;
        let eval = match simple_path(source) {
            Some(path) => Eval::Path(path),
            None => Eval::Jq {
                filter: Box::new(filter),
                root_keys: root_keys(source),
            },
        };
        Ok(Expr {
            source: source.to_owned(),
            eval,
        })
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The expression's first output on `input` (`null` when it has none).
    pub(crate) fn eval<'r>(&self, input: &mut Input<'r>) -> Result<Out<'r>, String> {
        match &self.eval {
            Eval::Path(path) => eval_path(input.json, path).map(Out::Json),
            Eval::Jq { filter, .. } => {
                let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
                match filter.id.run((ctx, input.val())).next() {
                    None => Ok(Out::Json(&Value::Null)),
                    Some(Ok(v)) => Ok(Out::Val(v)),
                    Some(Err(exn)) => Err(match exn.get_err() {
                        Ok(err) => truncate(&render_error(err)),
                        // `halt` / `halt_error`: never let a mapping stop the process.
                        Err(_) => "the expression halted; halt and halt_error cannot be \
                                   used in mappings (use error(\"...\") to reject a record)"
                            .to_owned(),
                    }),
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_fast_path(&self) -> bool {
        matches!(self.eval, Eval::Path(_))
    }

    /// The same expression forced through jaq, to test that both paths agree.
    #[cfg(test)]
    pub(crate) fn compile_jq_only(source: &str) -> Expr {
        Expr {
            source: source.to_owned(),
            eval: Eval::Jq {
                filter: Box::new(compile_jq(source).unwrap()),
                root_keys: root_keys(source),
            },
        }
    }
}

/// The part of a record that a mapping's jaq expressions can read. Zendesk
/// tickets have ~40 keys and a filter like `.status != "deleted"` reads one:
/// converting only that is most of the speed of a jaq-using mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Projection {
    /// Only these top-level keys (of an object record).
    Keys(Box<[String]>),
    Whole,
}

impl Projection {
    pub(crate) fn of<'e>(exprs: impl IntoIterator<Item = &'e Expr>) -> Projection {
        let mut keys = BTreeSet::new();
        for expr in exprs {
            match &expr.eval {
                Eval::Path(_) => {}
                Eval::Jq {
                    root_keys: Some(k), ..
                } => keys.extend(k.iter().cloned()),
                Eval::Jq {
                    root_keys: None, ..
                } => return Projection::Whole,
            }
        }
        Projection::Keys(keys.into_iter().collect())
    }
}

/// A record being mapped: the JSON as received, and its jaq form once an
/// expression has needed it.
pub(crate) struct Input<'r> {
    json: &'r Value,
    projection: &'r Projection,
    val: Option<Val>,
}

impl<'r> Input<'r> {
    pub(crate) fn new(json: &'r Value, projection: &'r Projection) -> Self {
        Input {
            json,
            projection,
            val: None,
        }
    }

    /// Cheap after the first call: arrays and objects are reference-counted.
    fn val(&mut self) -> Val {
        let (json, projection) = (self.json, self.projection);
        self.val
            .get_or_insert_with(|| match (projection, json) {
                (Projection::Keys(keys), Value::Object(o)) => {
                    let mut map =
                        jaq_json::Map::with_capacity_and_hasher(keys.len(), Default::default());
                    for (k, v) in keys.iter().filter_map(|k| o.get_key_value(k)) {
                        map.insert(Val::utf8_str(k.as_bytes().to_vec()), to_val(v));
                    }
                    Val::obj(map)
                }
                _ => to_val(json),
            })
            .clone()
    }
}

/// An expression's output.
pub(crate) enum Out<'r> {
    Json(&'r Value),
    Val(Val),
}

/// An output reduced to what type coercion looks at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer outside i64, as its decimal digits.
    BigInt(String),
    Float(f64),
    Str(Cow<'a, str>),
    /// An array or object, rendered for the error message.
    Other(String),
}

impl Out<'_> {
    /// jq truthiness: everything but `null` and `false`.
    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Out::Json(v) => !matches!(v, Value::Null | Value::Bool(false)),
            Out::Val(v) => !matches!(v, Val::Null | Val::Bool(false)),
        }
    }

    pub(crate) fn scalar(&self) -> Scalar<'_> {
        match self {
            Out::Json(v) => json_scalar(v),
            Out::Val(v) => val_scalar(v),
        }
    }
}

fn json_scalar(v: &Value) -> Scalar<'_> {
    match v {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Scalar::Int(i),
            (None, Some(u)) => Scalar::BigInt(u.to_string()),
            _ => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Scalar::Str(Cow::Borrowed(s)),
        Value::Array(_) | Value::Object(_) => Scalar::Other(truncate(&v.to_string())),
    }
}

fn val_scalar(v: &Val) -> Scalar<'_> {
    match v {
        Val::Null => Scalar::Null,
        Val::Bool(b) => Scalar::Bool(*b),
        Val::Num(Num::Int(i)) => Scalar::Int(*i as i64),
        Val::Num(Num::BigInt(i)) => {
            let digits = i.to_string();
            digits.parse().map_or(Scalar::BigInt(digits), Scalar::Int)
        }
        Val::Num(Num::Float(f)) => Scalar::Float(*f),
        Val::Num(Num::Dec(s)) => Scalar::Float(s.parse().unwrap_or(f64::NAN)),
        Val::TStr(b) | Val::BStr(b) => Scalar::Str(String::from_utf8_lossy(b)),
        Val::Arr(_) | Val::Obj(_) => Scalar::Other(truncate(&v.to_string())),
    }
}

/// Renders a value for an error message, as JSON.
pub(crate) fn render(s: &Scalar<'_>) -> String {
    match s {
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::BigInt(d) => d.clone(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => truncate(&Value::from(s.as_ref()).to_string()),
        Scalar::Other(r) => r.clone(),
    }
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_RENDER) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// JSON to a jaq value, directly (no text round trip). Strings are copied
/// once; the record is borrowed, so there is nothing to move out of.
fn to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Num::from_integral(i),
            (None, Some(u)) => Num::from_integral(u),
            _ => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Val::utf8_str(s.as_bytes().to_vec()),
        Value::Array(a) => a.iter().map(to_val).collect(),
        Value::Object(o) => {
            let mut map = jaq_json::Map::with_capacity_and_hasher(o.len(), Default::default());
            for (k, v) in o {
                map.insert(Val::utf8_str(k.as_bytes().to_vec()), to_val(v));
            }
            Val::obj(map)
        }
    }
}

/// `.a.b.c` as jq evaluates it.
fn eval_path<'r>(mut v: &'r Value, path: &[String]) -> Result<&'r Value, String> {
    for key in path {
        v = match v {
            Value::Null => return Ok(v),
            Value::Object(o) => o.get(key).unwrap_or(&Value::Null),
            other => {
                let what = render(&json_scalar(other));
                return Err(format!("cannot index {what} with {}", Value::from(&**key)));
            }
        };
    }
    Ok(v)
}

/// `.` or `.name.name...` with plain identifiers, else `None`.
fn simple_path(source: &str) -> Option<Box<[String]>> {
    let source = source.trim();
    if source == "." {
        return Some(Box::new([]));
    }
    let rest = source.strip_prefix('.')?;
    rest.split('.')
        .map(|key| {
            let mut chars = key.chars();
            let first = chars.next()?;
            let ident = (first.is_ascii_alphabetic() || first == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            ident.then(|| key.to_owned())
        })
        .collect()
}

/// Builtins that ignore their input.
const INPUT_FREE: &[&str] = &["null", "true", "false", "empty", "now", "nan", "infinite"];

/// The top-level keys `source` reads from its input, when it reads the
/// input only through `.key` lookups (`.status != "deleted"`,
/// `.a.b // .c`, `if .x then 1 else 2 end`); `None` when it may read more
/// (`.`, `.[]`, `keys`, any call on the input, ...). Errs on the side of `None`.
fn root_keys(source: &str) -> Option<Box<[String]>> {
    let term = load::parse(source, |p| p.term())?;
    let mut keys = RootKeys::default();
    keys.reads_only_keys(&term)
        .then(|| keys.0.into_iter().collect())
}

#[derive(Default)]
struct RootKeys(BTreeSet<String>);

impl RootKeys {
    /// Whether `t`, run on the record, reads it only through `.key`
    /// lookups; collects the keys.
    fn reads_only_keys(&mut self, t: &Term<&str>) -> bool {
        match t {
            Term::Num(_) | Term::Var(_) | Term::Arr(None) => true,
            Term::Str(_, parts) => parts.iter().all(|p| match p {
                StrPart::Term(t) => self.reads_only_keys(t),
                StrPart::Str(_) | StrPart::Char(_) => true,
            }),
            Term::Arr(Some(t)) | Term::Neg(t) => self.reads_only_keys(t),
            Term::Obj(entries) => entries.iter().all(|(k, v)| match (k, v) {
                (k, Some(v)) => self.reads_only_keys(k) && self.reads_only_keys(v),
                // `{$x}` is `{x: $x}`; `{a}` is `{a: .a}`.
                (Term::Var(_), None) => true,
                (k, None) => self.key(k),
            }),
            Term::BinOp(l, op, r) => match op {
                // `r` runs on the outputs of `l`, not on the record.
                BinaryOp::Pipe(None) => self.reads_only_keys(l),
                BinaryOp::Pipe(Some(Pattern::Var(_)))
                | BinaryOp::Comma
                | BinaryOp::Alt
                | BinaryOp::Or
                | BinaryOp::And
                | BinaryOp::Math(_)
                | BinaryOp::Cmp(_) => self.reads_only_keys(l) && self.reads_only_keys(r),
                _ => false,
            },
            // Without `else`, the record itself is an output.
            Term::IfThenElse(branches, Some(otherwise)) => {
                branches
                    .iter()
                    .all(|(c, t)| self.reads_only_keys(c) && self.reads_only_keys(t))
                    && self.reads_only_keys(otherwise)
            }
            // The handler runs on the error, not on the record.
            Term::TryCatch(t, _) => self.reads_only_keys(t),
            Term::Call(name, args) => args.is_empty() && INPUT_FREE.contains(name),
            Term::Path(head, path) => {
                let head = match &**head {
                    Term::Id => match path.0.first() {
                        Some((Part::Index(k), _)) => self.key(k),
                        _ => false,
                    },
                    head => self.reads_only_keys(head),
                };
                // Indices and slice bounds run on the record too: `.a[.i]`.
                head && path.0.iter().all(|(part, _)| match part {
                    Part::Index(i) => self.reads_only_keys(i),
                    Part::Range(from, to) => from.iter().chain(to).all(|t| self.reads_only_keys(t)),
                })
            }
            // `.`, `..`, `if` without `else`, reduce/foreach, definitions,
            // labels, assignments.
            _ => false,
        }
    }

    /// Records `.k` for a literal `k`; anything else may read any key.
    fn key(&mut self, k: &Term<&str>) -> bool {
        literal(k).map(|k| self.0.insert(k.to_owned())).is_some()
    }
}

/// A plain string literal: `"a"`, or `a` in `.a`.
fn literal<'s>(t: &Term<&'s str>) -> Option<&'s str> {
    match t {
        Term::Str(None, parts) => match parts.as_slice() {
            [StrPart::Str(s)] => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// jq's standard definitions, parsed once per process rather than once per
/// expression.
fn std_defs() -> impl Iterator<Item = load::parse::Def<&'static str>> {
    static DEFS: OnceLock<Vec<load::parse::Def<&'static str>>> = OnceLock::new();
    DEFS.get_or_init(|| {
        jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .collect()
    })
    .iter()
    .cloned()
}

fn compile_jq(source: &str) -> Result<JqFilter, String> {
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !EXCLUDED_BUILTINS.contains(name));
    let arena = Arena::default();
    let modules = Loader::new(std_defs())
        .load(
            &arena,
            File {
                code: source,
                path: (),
            },
        )
        .map_err(|errs| describe_load_errors(source, errs))?;
    compile::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| describe_compile_errors(source, errs))
}

fn describe_load_errors(code: &str, errs: load::Errors<&str, ()>) -> String {
    let mut parts = Vec::new();
    for (_file, err) in errs {
        match err {
            load::Error::Io(errs) => parts.extend(errs.into_iter().map(|(path, why)| {
                format!("cannot include `{path}` ({why}); modules are not supported in mappings")
            })),
            load::Error::Lex(errs) => parts.extend(errs.into_iter().map(|(expect, at)| {
                let pos = position(code, at);
                let what = lex_expect(&expect);
                match (expect, at.chars().next()) {
                    (_, None) => format!("expected {what} at the end of the expression"),
                    (lex::Expect::Token, Some(c)) => format!("unexpected `{c}`{pos}"),
                    (_, Some(_)) => {
                        let near: String = at.chars().take(12).collect();
                        format!("expected {what} near `{near}`{pos}")
                    }
                }
            })),
            load::Error::Parse(errs) => parts.extend(errs.into_iter().map(|(expect, found)| {
                let what = if found.is_empty() {
                    "the end of the expression".to_owned()
                } else {
                    format!("`{found}`")
                };
                let at = position(code, found);
                format!("expected {}, found {what}{at}", expect.as_str())
            })),
        }
    }
    format!(
        "jq syntax error: {}; fix the expression (see the jq manual)",
        parts.join("; ")
    )
}

fn lex_expect(expect: &lex::Expect<&str>) -> &'static str {
    match expect {
        // as_str() panics on other delimiters, which the lexer never reports.
        lex::Expect::Delim(d) if !["(", "[", "{", "\""].contains(d) => "closing delimiter",
        other => other.as_str(),
    }
}

fn describe_compile_errors(code: &str, errs: compile::Errors<&str, ()>) -> String {
    let parts: Vec<String> = errs
        .into_iter()
        .flat_map(|(_file, errs)| errs)
        .map(|(name, undefined)| {
            let what = match &undefined {
                compile::Undefined::Filter(arity) => format!("`{name}/{arity}`"),
                _ => format!("`{name}`"),
            };
            let hint = if EXCLUDED_BUILTINS.contains(&name) {
                " (not available in mappings)"
            } else {
                ""
            };
            format!(
                "undefined {} {what}{hint}{}",
                undefined.as_str(),
                position(code, name)
            )
        })
        .collect();
    format!(
        "jq error: {}; check the name against the jq manual",
        parts.join("; ")
    )
}

/// ` at column N` when `part` is a slice of `code`.
fn position(code: &str, part: &str) -> String {
    let (start, end) = (code.as_ptr() as usize, code.as_ptr() as usize + code.len());
    let at = part.as_ptr() as usize;
    if part.is_empty() || at < start || at > end {
        return String::new();
    }
    let column = code[..at - start].chars().count() + 1;
    format!(" at column {column}")
}

fn render_error(err: jaq_core::Error<Val>) -> String {
    // error("text") reads best without JSON quotes.
    match err.into_val() {
        Val::TStr(b) => String::from_utf8_lossy(&b).into_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, record: &Value) -> Result<Scalar<'static>, String> {
        let expr = Expr::compile(src).map_err(|e| format!("compile: {e}"))?;
        let mut input = Input::new(record, &Projection::Whole);
        let out = expr.eval(&mut input)?;
        Ok(match out.scalar() {
            Scalar::Str(s) => Scalar::Str(Cow::Owned(s.into_owned())),
            Scalar::Null => Scalar::Null,
            Scalar::Bool(b) => Scalar::Bool(b),
            Scalar::Int(i) => Scalar::Int(i),
            Scalar::BigInt(d) => Scalar::BigInt(d),
            Scalar::Float(f) => Scalar::Float(f),
            Scalar::Other(r) => Scalar::Other(r),
        })
    }

    #[test]
    fn plain_paths_take_the_fast_path() {
        for src in [".", ".id", ".a.b_c.D9", " .id "] {
            assert!(Expr::compile(src).unwrap().is_fast_path(), "{src}");
        }
        for src in [
            ".a[0]",
            ".a // .b",
            ".\"x y\"",
            ".a | tostring",
            "..",
            ".a.",
            ".1",
        ] {
            let fast = Expr::compile(src).map(|e| e.is_fast_path());
            assert!(!matches!(fast, Ok(true)), "{src}");
        }
    }

    /// The fast path must give exactly what jaq gives, errors included.
    #[test]
    fn fast_path_agrees_with_jaq() {
        let records = [
            json!({"id": 35436, "a": {"b": "x", "n": null, "f": 1.5, "big": 18446744073709551615u64}}),
            json!({"a": 5}),
            json!({"a": "text"}),
            json!({"a": [1, 2]}),
            json!(null),
            json!([1]),
            json!("s"),
        ];
        for src in [
            ".",
            ".id",
            ".a",
            ".a.b",
            ".a.n.x",
            ".a.f",
            ".a.big",
            ".missing.deeper",
        ] {
            let fast = Expr::compile(src).unwrap();
            let slow = Expr::compile_jq_only(src);
            for record in &records {
                let f = fast
                    .eval(&mut Input::new(record, &Projection::Whole))
                    .map(|o| render(&o.scalar()));
                let s = slow
                    .eval(&mut Input::new(record, &Projection::Whole))
                    .map(|o| render(&o.scalar()));
                assert_eq!(f.is_ok(), s.is_ok(), "{src} on {record}: {f:?} vs {s:?}");
                if let (Ok(f), Ok(s)) = (&f, &s) {
                    assert_eq!(f, s, "{src} on {record}");
                }
            }
        }
    }

    #[test]
    fn first_output_counts_and_no_output_is_null() {
        let r = json!({"tags": ["a", "b"]});
        assert_eq!(eval(".tags[]", &r), Ok(Scalar::Str("a".into())));
        assert_eq!(eval("empty", &r), Ok(Scalar::Null));
        assert_eq!(eval(".tags | length", &r), Ok(Scalar::Int(2)));
        assert_eq!(eval(".x // \"d\"", &r), Ok(Scalar::Str("d".into())));
    }

    #[test]
    fn converts_every_json_type() {
        let r = json!({"n": null, "b": true, "i": -3, "u": 18446744073709551615u64, "f": 2.5,
                       "s": "é", "a": [1, {"k": "v"}], "o": {"x": 1}});
        let roundtrip = eval(
            ". == {n: null, b: true, i: -3, f: 2.5, s: \"é\", a: [1, {k: \"v\"}], \
                              o: {x: 1}, u: 18446744073709551615}",
            &r,
        );
        assert_eq!(roundtrip, Ok(Scalar::Bool(true)));
        assert_eq!(
            eval(".u", &r),
            Ok(Scalar::BigInt("18446744073709551615".into()))
        );
        assert_eq!(
            eval(".u | . + 0 | tostring", &r).map(|s| matches!(s, Scalar::Str(_))),
            Ok(true)
        );
        assert_eq!(
            eval("[.a[1].k, .s] | join(\"-\")", &r),
            Ok(Scalar::Str("v-é".into()))
        );
    }

    #[test]
    fn runtime_errors_are_reported_not_panicked() {
        let r = json!({"a": "text"});
        assert_eq!(
            eval(".a.b", &r),
            Err("cannot index \"text\" with \"b\"".into())
        );
        assert_eq!(eval("error(\"bad record\")", &r), Err("bad record".into()));
        let halted = eval("halt", &r).unwrap_err();
        assert!(halted.contains("halt"), "{halted}");
        let e = eval(".a | tonumber", &r).unwrap_err();
        assert!(!e.is_empty());
    }

    #[test]
    fn syntax_errors_carry_jaq_text_and_column() {
        let e = Expr::compile(".a | )").unwrap_err();
        assert!(
            e.starts_with("jq syntax error: unexpected `)` at column 6"),
            "{e}"
        );
        let e = Expr::compile(".a |").unwrap_err();
        assert!(
            e.contains("expected term, found the end of the expression"),
            "{e}"
        );
        let e = Expr::compile("if . then 1").unwrap_err();
        assert!(e.contains("expected else or end"), "{e}");
        let e = Expr::compile("(.a").unwrap_err();
        assert!(e.contains("closing parenthesis"), "{e}");
        let e = Expr::compile(".a | frobnicate").unwrap_err();
        assert!(
            e.contains("undefined filter `frobnicate/0` at column 6"),
            "{e}"
        );
        let e = Expr::compile("env.HOME").unwrap_err();
        assert!(e.contains("not available in mappings"), "{e}");
        let e = Expr::compile("$ENV.HOME").unwrap_err();
        assert!(e.contains("undefined variable"), "{e}");
    }

    #[test]
    fn root_keys_finds_the_keys_an_expression_reads() {
        let cases: &[(&str, &[&str])] = &[
            (".status != \"deleted\"", &["status"]),
            (".score == \"good\" or .score == \"bad\"", &["score"]),
            (
                ".user_fields.employee_no // .external_id",
                &["external_id", "user_fields"],
            ),
            (
                "if .active == false then \"left\" elif .x then 1 else \"active\" end",
                &["active", "x"],
            ),
            ("\"\\(.userId)-\\(.id)\"", &["id", "userId"]),
            (
                "{Normal: \"normal\"}[.timeResult] // \"other\"",
                &["timeResult"],
            ),
            (".workDate / 1000 | strftime(\"%Y-%m-%d\")", &["workDate"]),
            (".a[.i]", &["a", "i"]),
            (".[\"a b\"] | join(\",\")", &["a b"]),
            ("{a, $__loc__, b: .c}", &["a", "c"]),
            (".a?", &["a"]),
            ("try .a catch .", &["a"]),
            ("-.n, [.m], null, \"x\"", &["m", "n"]),
            (".a as $x | .b + $x", &["a", "b"]),
            ("now", &[]),
            ("$__loc__ | .", &[]),
        ];
        for (src, keys) in cases {
            let found = root_keys(src);
            let want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            assert_eq!(found.as_deref(), Some(want.as_slice()), "{src}");
        }
        for src in [
            ".",
            "..",
            "keys",
            ".[]",
            ".[0]",
            ".[1:]",
            "length",
            "select(.a)",
            "if .a then 1 end",
            ".a |= 1",
            "reduce .[] as $x (0; . + $x)",
            "def f: .; f",
            "to_entries",
            "tostring",
            ". as {a: $x} | $x",
            "@base64",
            ".[\"a\" + \"b\"]",
            ".[.k]",
            "{(.k)}",
            "error",
            "not",
            "label $out | .a",
            ". as $r | $r.a",
        ] {
            assert_eq!(root_keys(src), None, "{src}");
        }
    }

    /// A mapping's jaq expressions see only the keys they read, with the
    /// same results as on the whole record.
    #[test]
    fn projection_does_not_change_results() {
        let exprs = [
            ".status != \"deleted\"",
            ".user_fields.employee_no // .external_id",
            "if .active == false then \"left\" else \"active\" end",
            "\"\\(.userId)-\\(.id)\"",
            "{Normal: \"normal\"}[.timeResult] // \"other\"",
            ".a[.i]",
            "[.tags[]?] | length",
            "{a, b: .c} | tostring",
            "try .a.b catch \"failed\"",
            ".missing | not",
        ];
        let records = [
            json!({"status": "open", "user_fields": {"employee_no": "E1"}, "external_id": "x", "active": false,
                   "userId": "u", "id": 3, "timeResult": "Normal", "a": [10, 20], "i": 1, "tags": ["t"],
                   "c": {"d": 1}, "other": [1, 2, 3]}),
            json!({"status": "deleted", "a": "text", "i": 0, "tags": "no", "unrelated": {"x": 1}}),
            json!({}),
            json!([1, 2]),
            json!("string"),
            json!(null),
        ];
        let compiled: Vec<Expr> = exprs.iter().map(|e| Expr::compile(e).unwrap()).collect();
        let projection = Projection::of(&compiled);
        assert!(matches!(projection, Projection::Keys(_)), "{projection:?}");
        for record in &records {
            for expr in &compiled {
                let run = |p: &Projection| {
                    expr.eval(&mut Input::new(record, p))
                        .map(|o| render(&o.scalar()))
                };
                let (projected, whole) = (run(&projection), run(&Projection::Whole));
                assert_eq!(projected.is_ok(), whole.is_ok(), "{expr:?} on {record}");
                if let (Ok(p), Ok(w)) = (&projected, &whole) {
                    assert_eq!(p, w, "{expr:?} on {record}");
                }
            }
        }
        // One expression that reads more makes the whole record visible.
        let mut more = compiled;
        more.push(Expr::compile("keys").unwrap());
        assert_eq!(Projection::of(&more), Projection::Whole);
    }
}
