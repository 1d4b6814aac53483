//! One mapping file: parsed and checked against the target's schema at load,
//! applied to raw records at sync time.

use crate::coerce::{coerce, text};
use crate::error::{MapError, MappingError};
use crate::expr::{Expr, Input, Projection, Scalar};
use hrhub_model::{EntityKind, FieldSpec, FieldType, FieldValue, IdentityKeys, MappedEntity};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The top-level keys of a mapping file.
const TOP_KEYS: &[&str] = &[
    "kind",
    "stream",
    "target",
    "key",
    "filter",
    "updated_at",
    "identity",
    "fields",
];

/// The keys of `[identity]`, in the order identity resolution tries them.
const IDENTITY_KEYS: &[&str] = &["external_id", "employee_no", "email", "mobile"];

/// A loaded mapping file: which records it maps (`kind`, `stream`), what it
/// makes of them (`target`), and one compiled jq expression per key.
#[derive(Debug)]
pub struct Mapping {
    /// The file as given to [`Mapping::load`] / [`Mapping::parse`].
    pub path: String,
    /// The connector kind whose records it maps (`zendesk`).
    pub kind: String,
    /// The connector stream (`tickets`).
    pub stream: String,
    /// The entity it produces.
    pub target: EntityKind,
    /// `path@<first 12 hex digits of the file's SHA-256>`, recorded as
    /// provenance on every row the mapping writes.
    pub version: String,
    key: Expr,
    filter: Option<Expr>,
    updated_at: Option<Expr>,
    /// Indexed like [`IDENTITY_KEYS`].
    identity: [Option<Expr>; 4],
    /// In schema order, only the fields the file sets.
    fields: Vec<(&'static FieldSpec, Expr)>,
    /// What of a record the jq expressions above read.
    projection: Projection,
}

/// What a mapping made of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum MapOutcome {
    Mapped(MappedEntity),
    /// The mapping's `filter` said to skip the record (counted, not an error).
    Filtered,
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        Mapping::load_all_errors(path).map_err(first)
    }

    /// Checks a mapping file's text; `path` only names it in errors and in
    /// [`Mapping::version`].
    pub fn parse(path: &str, text: &str) -> Result<Mapping, MappingError> {
        Mapping::parse_all_errors(path, text).map_err(first)
    }

    /// Like [`Mapping::load`], but reports every problem in the file.
    pub fn load_all_errors(path: &Path) -> Result<Mapping, Vec<MappingError>> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![MappingError::file(
                &name,
                format!("cannot read the mapping file ({e}); check the path and its permissions"),
            )]
        })?;
        Mapping::parse_all_errors(&name, &text)
    }

    /// Like [`Mapping::parse`], but reports every problem in the file, in
    /// line order.
    pub fn parse_all_errors(path: &str, text: &str) -> Result<Mapping, Vec<MappingError>> {
        let mut checker = Checker {
            file: path,
            text,
            errors: Vec::new(),
        };
        let mapping = checker.check();
        let mut errors = checker.errors;
        match mapping {
            Some(mapping) if errors.is_empty() => Ok(mapping),
            _ => {
                // Every check that gives up reports why; never return no reason.
                if errors.is_empty() {
                    errors.push(MappingError::file(path, "the mapping is invalid"));
                }
                errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
                Err(errors)
            }
        }
    }

    /// Maps one raw record. Evaluates `filter` first; a record it rejects is
    /// [`MapOutcome::Filtered`]. An error names the mapping key that failed
    /// and becomes the record's quarantine reason.
    pub fn apply(&self, record: &Value) -> Result<MapOutcome, MapError> {
        let mut input = Input::new(record, &self.projection);
        if let Some(filter) = &self.filter {
            let out = filter
                .eval(&mut input)
                .map_err(|e| failed("filter", filter, e))?;
            if !out.is_truthy() {
                return Ok(MapOutcome::Filtered);
            }
        }

        let out = self
            .key
            .eval(&mut input)
            .map_err(|e| failed("key", &self.key, e))?;
        let key = match out.scalar() {
            Scalar::Null => return Err(missing_key(&self.key, "null")),
            s => text(&s).ok_or_else(|| mismatch("key", FieldType::Text, &s))?,
        };
        if key.is_empty() {
            return Err(missing_key(&self.key, "an empty string"));
        }

        let mut ids = [None, None, None, None];
        for ((slot, expr), name) in ids.iter_mut().zip(&self.identity).zip(IDENTITY_KEYS) {
            if let Some(expr) = expr {
                *slot = identity_key(name, expr, &mut input)?;
            }
        }
        let [external_id, employee_no, email, mobile] = ids;
        // Matching compares normal forms (case-folded e-mail, E.164 mobile, ...).
        let identity = IdentityKeys {
            external_id,
            employee_no,
            email,
            mobile,
        }
        .normalized();

        let mut fields = Vec::with_capacity(self.fields.len());
        for (spec, expr) in &self.fields {
            let out = expr
                .eval(&mut input)
                .map_err(|e| failed(spec.name, expr, e))?;
            let value = coerce(&out.scalar(), spec.ty).map_err(|e| MapError::new(spec.name, e))?;
            if spec.required && value == FieldValue::Null {
                return Err(MapError::new(
                    spec.name,
                    format!(
                        "required by {}, but `{}` gave null",
                        self.target,
                        expr.source()
                    ),
                ));
            }
            fields.push((spec.name, value));
        }

        let source_updated_at = match &self.updated_at {
            None => None,
            Some(expr) => {
                let out = expr
                    .eval(&mut input)
                    .map_err(|e| failed("updated_at", expr, e))?;
                match coerce(&out.scalar(), FieldType::DateTime)
                    .map_err(|e| MapError::new("updated_at", e))?
                {
                    FieldValue::DateTime(t) => Some(t),
                    _ => None,
                }
            }
        };

        Ok(MapOutcome::Mapped(MappedEntity {
            entity: self.target,
            key,
            identity,
            fields,
            source_updated_at,
        }))
    }
}

/// An identity key as text, trimmed; empty means absent.
fn identity_key(
    name: &str,
    expr: &Expr,
    input: &mut Input<'_>,
) -> Result<Option<String>, MapError> {
    let field = || format!("identity.{name}");
    let out = expr.eval(input).map_err(|e| failed(&field(), expr, e))?;
    let s = out.scalar();
    if s == Scalar::Null {
        return Ok(None);
    }
    let value = text(&s).ok_or_else(|| mismatch(&field(), FieldType::Text, &s))?;
    Ok(match value.trim() {
        "" => None,
        trimmed if trimmed.len() == value.len() => Some(value),
        trimmed => Some(trimmed.to_owned()),
    })
}

fn first(mut errors: Vec<MappingError>) -> MappingError {
    errors.swap_remove(0)
}

fn failed(field: &str, expr: &Expr, error: String) -> MapError {
    MapError::new(field, format!("`{}` failed: {error}", expr.source()))
}

fn mismatch(field: &str, ty: FieldType, s: &Scalar<'_>) -> MapError {
    MapError::new(
        field,
        format!("expected {ty}, got {}", crate::expr::render(s)),
    )
}

fn missing_key(expr: &Expr, what: &str) -> MapError {
    MapError::new(
        "key",
        format!(
            "`{}` gave {what}, but every record needs a key; check the expression against this record",
            expr.source()
        ),
    )
}

/// Walks a parsed file, collecting every problem instead of stopping at the
/// first, so the author can fix them in one go.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<MappingError>,
}

/// A string value and where its key is.
type Entry = (String, Range<usize>);

/// A top-level string key of the file.
enum Slot {
    Missing,
    /// Present but not a string; already reported.
    Invalid,
    Given(Entry),
}

impl Checker<'_> {
    fn check(&mut self) -> Option<Mapping> {
        let doc = match DeTable::parse(self.text) {
            Ok(doc) => doc,
            Err(e) => {
                let line = e.span().map(|s| self.line(&s));
                self.errors.push(MappingError {
                    file: self.file.to_owned(),
                    field: None,
                    line,
                    message: format!(
                        "TOML syntax error: {}; fix the file's syntax",
                        e.message().trim()
                    ),
                });
                return None;
            }
        };

        let mut strings: [Slot; 6] = std::array::from_fn(|_| Slot::Missing);
        let mut identity = None;
        let mut fields = None;
        for (k, v) in doc.get_ref() {
            let name = k.get_ref().as_ref();
            match name {
                "identity" | "fields" => match v.get_ref() {
                    DeValue::Table(t) => {
                        let slot = if name == "identity" { &mut identity } else { &mut fields };
                        *slot = Some((t, k.span()));
                    }
                    _ => self.error(
                        name,
                        Some(k.span()),
                        format!("must be a table: write `[{name}]` on its own line, then one `name = \"<jq expression>\"` per line"),
                    ),
                },
                _ => match TOP_KEYS.iter().position(|t| *t == name) {
                    Some(i) => {
                        strings[i] = self.string(name, k, v).map_or(Slot::Invalid, Slot::Given)
                    }
                    None => self.unknown_top_key(name, k.span()),
                },
            }
        }
        let [kind, stream, target, key, filter, updated_at] = strings;

        let kind = self.required_text(
            kind,
            "kind",
            "the connector kind, e.g. `kind = \"zendesk\"`",
        );
        let stream = self.required_text(
            stream,
            "stream",
            "the connector stream, e.g. `stream = \"tickets\"`",
        );
        let target = self.target(target);
        let key = match key {
            Slot::Given(key) => self.compile("key", &key),
            Slot::Invalid => None,
            Slot::Missing => {
                self.error("key", None, "missing; add the jq expression that gives the record's id within the connector, e.g. `key = \".id\"`".into());
                None
            }
        };
        let mut optional = |slot, field| match slot {
            Slot::Given(entry) => self.compile(field, &entry),
            Slot::Invalid | Slot::Missing => None,
        };
        let filter = optional(filter, "filter");
        let updated_at = optional(updated_at, "updated_at");
        let identity = self.identity(identity, target);
        let fields = target.and_then(|t| self.fields(fields, t));

        let (key, identity, fields) = (key?, identity?, fields?);
        let all = [Some(&key), filter.as_ref(), updated_at.as_ref()]
            .into_iter()
            .chain(identity.iter().map(Option::as_ref))
            .flatten()
            .chain(fields.iter().map(|(_, e)| e));
        let projection = Projection::of(all);
        Some(Mapping {
            path: self.file.to_owned(),
            kind: kind?,
            stream: stream?,
            target: target?,
            version: format!(
                "{}@{}",
                self.file,
                &hex::encode(Sha256::digest(self.text))[..12]
            ),
            key,
            filter,
            updated_at,
            identity,
            fields,
            projection,
        })
    }

    fn line(&self, span: &Range<usize>) -> usize {
        let start = span.start.min(self.text.len());
        self.text.as_bytes()[..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn error(&mut self, field: &str, span: Option<Range<usize>>, message: String) {
        let line = span.map(|s| self.line(&s));
        self.errors.push(MappingError {
            file: self.file.to_owned(),
            field: Some(field.to_owned()),
            line,
            message,
        });
    }

    /// A value that must be a string: a jq expression or a name.
    fn string(
        &mut self,
        field: &str,
        k: &Spanned<std::borrow::Cow<'_, str>>,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<Entry> {
        if let DeValue::String(s) = v.get_ref() {
            return Some((s.to_string(), k.span()));
        }
        let message = if ["kind", "stream", "target"].contains(&field) {
            format!("must be a quoted string, e.g. `{field} = \"...\"`")
        } else {
            "must be a quoted string holding a jq expression, e.g. `'.id'`; for a constant write `'0'` or `'\"email\"'`".into()
        };
        self.error(field, Some(k.span()), message);
        None
    }

    fn unknown_top_key(&mut self, name: &str, span: Range<usize>) {
        // A field written above the [fields] header lands at the top level.
        let is_field = EntityKind::ALL.iter().any(|k| k.field(name).is_some())
            || IDENTITY_KEYS.contains(&name);
        let hint = if is_field {
            let table = if IDENTITY_KEYS.contains(&name) {
                "identity"
            } else {
                "fields"
            };
            format!("; move it below the `[{table}]` header")
        } else {
            did_you_mean(name, TOP_KEYS).unwrap_or_else(|| "; remove it or fix its name".into())
        };
        self.error(
            name,
            Some(span),
            format!(
                "unknown key{hint} (a mapping file has kind, stream, target, key, filter, updated_at, [identity] and [fields])"
            ),
        );
    }

    fn required_text(&mut self, slot: Slot, field: &str, what: &str) -> Option<String> {
        match slot {
            Slot::Given((s, _)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Slot::Given((_, span)) => {
                self.error(field, Some(span), format!("must not be empty; give {what}"));
                None
            }
            Slot::Invalid => None,
            Slot::Missing => {
                self.error(field, None, format!("missing; add {what}"));
                None
            }
        }
    }

    fn target(&mut self, slot: Slot) -> Option<EntityKind> {
        let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.as_str()).collect();
        let list = names.join(", ");
        match slot {
            Slot::Given((name, span)) => EntityKind::parse(name.trim()).or_else(|| {
                let hint = did_you_mean(name.trim(), &names).unwrap_or_default();
                self.error(
                    "target",
                    Some(span),
                    format!("unknown target entity `{name}`{hint} (use one of: {list})"),
                );
                None
            }),
            Slot::Invalid => None,
            Slot::Missing => {
                self.error(
                    "target",
                    None,
                    format!("missing; add the entity this file produces, e.g. `target = \"ticket_activity\"` (use one of: {list})"),
                );
                None
            }
        }
    }

    fn compile(&mut self, field: &str, (source, span): &Entry) -> Option<Expr> {
        Expr::compile(source)
            .map_err(|e| self.error(field, Some(span.clone()), e))
            .ok()
    }

    fn identity(
        &mut self,
        table: Option<(&DeTable<'_>, Range<usize>)>,
        target: Option<EntityKind>,
    ) -> Option<[Option<Expr>; 4]> {
        let mut exprs: [Option<Expr>; 4] = Default::default();
        let mut ok = true;
        for (k, v) in table.iter().flat_map(|(t, _)| t.iter()) {
            let name = k.get_ref().as_ref();
            let field = format!("identity.{name}");
            let Some(i) = IDENTITY_KEYS.iter().position(|n| *n == name) else {
                let hint = did_you_mean(name, IDENTITY_KEYS).unwrap_or_default();
                self.error(
                    &field,
                    Some(k.span()),
                    format!("unknown identity key{hint} (identity keys: external_id, employee_no, email, mobile)"),
                );
                ok = false;
                continue;
            };
            match self.string(&field, k, v) {
                Some(entry) => {
                    exprs[i] = self.compile(&field, &entry);
                    ok &= exprs[i].is_some();
                }
                None => ok = false,
            }
        }
        // Without a key, roster records could never be matched to anyone.
        if target == Some(EntityKind::Employee) && ok && exprs.iter().all(Option::is_none) {
            self.error(
                "identity",
                table.map(|(_, span)| span),
                "an employee mapping needs at least one identity key so people can be matched across systems; add an `[identity]` table with e.g. `employee_no = \".job_number\"` or `email = \".email\"`".into(),
            );
            ok = false;
        }
        ok.then_some(exprs)
    }

    fn fields(
        &mut self,
        table: Option<(&DeTable<'_>, Range<usize>)>,
        target: EntityKind,
    ) -> Option<Vec<(&'static FieldSpec, Expr)>> {
        let names: Vec<&str> = target.fields().iter().map(|f| f.name).collect();
        let list = names.join(", ");
        let mut compiled = Vec::new();
        let mut ok = true;
        for (k, v) in table.iter().flat_map(|(t, _)| t.iter()) {
            let name = k.get_ref().as_ref();
            let Some(spec) = target.field(name) else {
                let hint = did_you_mean(name, &names)
                    .unwrap_or_else(|| "; remove it or rename it to one of the fields".into());
                self.error(
                    name,
                    Some(k.span()),
                    format!("unknown field of {target}{hint} (fields: {list})"),
                );
                ok = false;
                continue;
            };
            match self.string(name, k, v).and_then(|e| self.compile(name, &e)) {
                Some(expr) => compiled.push((spec, expr)),
                None => ok = false,
            }
        }
        for spec in target.fields().iter().filter(|f| f.required) {
            if table
                .as_ref()
                .is_some_and(|(t, _)| t.keys().any(|k| k.get_ref().as_ref() == spec.name))
            {
                continue;
            }
            self.error(
                spec.name,
                table.as_ref().map(|(_, span)| span.clone()),
                format!(
                    "required by {target} but not mapped; add `{} = \"<jq expression>\"` under [fields]",
                    spec.name
                ),
            );
            ok = false;
        }
        // Schema order, so every consumer sees fields in column order.
        compiled.sort_by_key(|(spec, _)| names.iter().position(|n| *n == spec.name));
        ok.then_some(compiled)
    }
}

/// `; did you mean `x`?` for the nearest candidate by edit distance, if any
/// is close enough to be a likely typo.
fn did_you_mean(name: &str, candidates: &[&str]) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("; did you mean `{c}`?"))
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let replace = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = replace.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
