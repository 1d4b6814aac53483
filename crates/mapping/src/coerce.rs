//! Turning an expression's output into a value of the target field's type.
//! Lenient where the source's intent is clear (ids as numbers, numbers as
//! strings), strict where a guess could store a wrong value (local times).

use crate::expr::{render, Scalar};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use hrhub_model::{FieldType, FieldValue};

/// Above this, a Unix time is in milliseconds (10^11 s is the year 5138).
const UNIX_MILLIS_ABOVE: f64 = 1e11;

/// `null` stays `Null`; anything else must fit `ty`.
pub(crate) fn coerce(s: &Scalar<'_>, ty: FieldType) -> Result<FieldValue, String> {
    if *s == Scalar::Null {
        return Ok(FieldValue::Null);
    }
    let value = match ty {
        FieldType::Text => text(s).map(FieldValue::Text),
        FieldType::Integer => integer(s).map(FieldValue::Integer),
        FieldType::Number => number(s).map(FieldValue::Number),
        FieldType::Bool => boolean(s).map(FieldValue::Bool),
        FieldType::Date => date(s).map(FieldValue::Date),
        FieldType::DateTime => return date_time(s),
        FieldType::Enum(values) => {
            return enum_value(s, values)
                .map(|v| FieldValue::Text(v.into()))
                .ok_or_else(|| {
                    format!(
                        "expected {ty}, got {}; translate other values in the expression, \
                         e.g. `if . == \"x\" then \"y\" else . end`",
                        render(s)
                    )
                })
        }
    };
    value.ok_or_else(|| format!("expected {ty}, got {}", render(s)))
}

/// Text from strings, numbers and bools; integral numbers render without
/// ".0", because ids arrive as numbers.
pub(crate) fn text(s: &Scalar<'_>) -> Option<String> {
    match s {
        Scalar::Str(s) => Some(s.clone().into_owned()),
        Scalar::Int(i) => Some(i.to_string()),
        Scalar::BigInt(d) => Some(d.clone()),
        // f64's Display prints 3.0 as "3" and never uses exponents.
        Scalar::Float(f) if f.is_finite() => Some(f.to_string()),
        Scalar::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn integer(s: &Scalar<'_>) -> Option<i64> {
    match s {
        Scalar::Int(i) => Some(*i),
        // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
        Scalar::Float(f) if f.fract() == 0.0 && *f >= -(2f64.powi(63)) && *f < 2f64.powi(63) => {
            Some(*f as i64)
        }
        Scalar::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(s: &Scalar<'_>) -> Option<f64> {
    let n = match s {
        Scalar::Int(i) => *i as f64,
        Scalar::BigInt(d) => d.parse().ok()?,
        Scalar::Float(f) => *f,
        Scalar::Str(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    // Rust parses "inf" and "NaN"; neither is a measurement.
    n.is_finite().then_some(n)
}

fn boolean(s: &Scalar<'_>) -> Option<bool> {
    match s {
        Scalar::Bool(b) => Some(*b),
        Scalar::Int(1) => Some(true),
        Scalar::Int(0) => Some(false),
        Scalar::Float(f) if *f == 1.0 => Some(true),
        Scalar::Float(f) if *f == 0.0 => Some(false),
        Scalar::Str(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Scalar::Str(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `YYYY-MM-DD`, `YYYY/M/D`, or the date part of an RFC 3339 date-time (the
/// date as written, in its own offset).
fn date(s: &Scalar<'_>) -> Option<NaiveDate> {
    let Scalar::Str(s) = s else { return None };
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y/%m/%d"))
        .ok()
        .or_else(|| rfc3339(s).map(|t| t.date_naive()))
}

fn date_time(s: &Scalar<'_>) -> Result<FieldValue, String> {
    let expected = || format!("expected {}, got {}", FieldType::DateTime, render(s));
    let millis = match s {
        Scalar::Str(text) => {
            let text = text.trim();
            if let Some(t) = rfc3339(text) {
                return Ok(FieldValue::DateTime(t.with_timezone(&Utc)));
            }
            if is_zoneless(text) {
                return Err(format!(
                    "{}, which has no time-zone offset, so the instant is ambiguous; \
                     add the source's offset in the expression, e.g. `(.time + \"+08:00\")`",
                    expected()
                ));
            }
            if text.parse::<i64>().is_ok() {
                return Err(format!(
                    "{}; a Unix time must be a number: add `| tonumber` to the expression",
                    expected()
                ));
            }
            return Err(expected());
        }
        Scalar::Int(i) if (*i as f64).abs() > UNIX_MILLIS_ABOVE => *i,
        Scalar::Int(i) => i.saturating_mul(1000),
        Scalar::Float(f) if f.is_finite() && f.abs() > UNIX_MILLIS_ABOVE => f.round() as i64,
        Scalar::Float(f) if f.is_finite() => (f * 1000.0).round() as i64,
        _ => return Err(expected()),
    };
    DateTime::from_timestamp_millis(millis)
        .map(FieldValue::DateTime)
        .ok_or_else(|| format!("{}: out of range", expected()))
}

/// RFC 3339; chrono also takes a space for the `T`.
fn rfc3339(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

/// A local date-time without an offset (`2024-05-01 10:00:00`).
fn is_zoneless(s: &str) -> bool {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .any(|f| NaiveDateTime::parse_from_str(s, f).is_ok())
}

fn enum_value(s: &Scalar<'_>, values: &'static [&'static str]) -> Option<&'static str> {
    let Scalar::Str(s) = s else { return None };
    let s = s.trim();
    values.iter().copied().find(|v| v.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::borrow::Cow;
    use FieldType::*;

    fn str(s: &str) -> Scalar<'_> {
        Scalar::Str(Cow::Borrowed(s))
    }

    fn ok(s: Scalar<'_>, ty: FieldType) -> FieldValue {
        coerce(&s, ty).unwrap_or_else(|e| panic!("{s:?} as {ty}: {e}"))
    }

    fn err(s: Scalar<'_>, ty: FieldType) -> String {
        coerce(&s, ty).expect_err("should be rejected")
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> FieldValue {
        FieldValue::DateTime(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
    }

    #[test]
    fn null_is_null_for_every_type() {
        for ty in [Text, Integer, Number, Bool, Date, DateTime, Enum(&["a"])] {
            assert_eq!(ok(Scalar::Null, ty), FieldValue::Null);
        }
    }

    #[test]
    fn text_takes_strings_numbers_and_bools() {
        assert_eq!(ok(str("abc"), Text), FieldValue::Text("abc".into()));
        assert_eq!(
            ok(Scalar::Int(35436), Text),
            FieldValue::Text("35436".into())
        );
        assert_eq!(
            ok(Scalar::Float(35436.0), Text),
            FieldValue::Text("35436".into())
        );
        assert_eq!(ok(Scalar::Float(1.5), Text), FieldValue::Text("1.5".into()));
        assert_eq!(
            ok(Scalar::BigInt("18446744073709551615".into()), Text),
            FieldValue::Text("18446744073709551615".into())
        );
        assert_eq!(
            ok(Scalar::Bool(true), Text),
            FieldValue::Text("true".into())
        );
        let e = err(Scalar::Other("[1,2]".into()), Text);
        assert_eq!(e, "expected text, got [1,2]");
    }

    #[test]
    fn integer_takes_integral_numbers_and_integer_strings() {
        assert_eq!(ok(Scalar::Int(14), Integer), FieldValue::Integer(14));
        assert_eq!(ok(Scalar::Float(14.0), Integer), FieldValue::Integer(14));
        assert_eq!(ok(str(" 14 "), Integer), FieldValue::Integer(14));
        assert_eq!(ok(str("-3"), Integer), FieldValue::Integer(-3));
        assert_eq!(
            err(Scalar::Float(1.5), Integer),
            "expected integer, got 1.5"
        );
        assert_eq!(err(str("1.5"), Integer), "expected integer, got \"1.5\"");
        err(Scalar::Float(1e300), Integer);
        err(Scalar::BigInt("18446744073709551615".into()), Integer);
        err(Scalar::Bool(true), Integer);
    }

    #[test]
    fn number_takes_numbers_and_numeric_strings() {
        assert_eq!(ok(Scalar::Int(3), Number), FieldValue::Number(3.0));
        assert_eq!(ok(Scalar::Float(0.75), Number), FieldValue::Number(0.75));
        assert_eq!(ok(str("0.75"), Number), FieldValue::Number(0.75));
        assert_eq!(ok(str("91"), Number), FieldValue::Number(91.0));
        assert_eq!(err(str("NaN"), Number), "expected number, got \"NaN\"");
        err(str("inf"), Number);
        err(str("17/20"), Number);
        err(Scalar::Bool(false), Number);
    }

    #[test]
    fn bool_takes_bools_words_and_one_zero() {
        assert_eq!(ok(Scalar::Bool(true), Bool), FieldValue::Bool(true));
        assert_eq!(ok(str("true"), Bool), FieldValue::Bool(true));
        assert_eq!(ok(str("False"), Bool), FieldValue::Bool(false));
        assert_eq!(ok(Scalar::Int(1), Bool), FieldValue::Bool(true));
        assert_eq!(ok(Scalar::Int(0), Bool), FieldValue::Bool(false));
        assert_eq!(err(Scalar::Int(2), Bool), "expected bool, got 2");
        err(str("yes"), Bool);
    }

    #[test]
    fn date_takes_iso_slashes_and_rfc3339_date_part() {
        let d = |y, m, d| FieldValue::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert_eq!(ok(str("2024-05-01"), Date), d(2024, 5, 1));
        assert_eq!(ok(str("2024/5/1"), Date), d(2024, 5, 1));
        assert_eq!(ok(str("2024/05/01"), Date), d(2024, 5, 1));
        // The date as written, not shifted to UTC.
        assert_eq!(ok(str("2024-05-01T01:00:00+08:00"), Date), d(2024, 5, 1));
        assert_eq!(
            err(str("01.05.2024"), Date),
            "expected date (YYYY-MM-DD), got \"01.05.2024\""
        );
        err(str("2024-02-30"), Date);
        err(Scalar::Int(20240501), Date);
    }

    #[test]
    fn date_time_takes_rfc3339_in_any_offset_as_utc() {
        assert_eq!(
            ok(str("2024-05-01T10:00:00Z"), DateTime),
            utc(2024, 5, 1, 10, 0, 0)
        );
        assert_eq!(
            ok(str("2024-05-01T18:00:00+08:00"), DateTime),
            utc(2024, 5, 1, 10, 0, 0)
        );
        assert_eq!(
            ok(str("2024-05-01 18:00:00+08:00"), DateTime),
            utc(2024, 5, 1, 10, 0, 0)
        );
    }

    #[test]
    fn date_time_rejects_local_times_with_advice() {
        for local in [
            "2024-05-01 10:00:00",
            "2024-05-01T10:00:00",
            "2024-05-01 10:00",
        ] {
            let e = err(str(local), DateTime);
            assert!(e.contains("no time-zone offset"), "{e}");
            assert!(e.contains("+08:00"), "{e}");
        }
        assert_eq!(
            err(str("not a date"), DateTime),
            "expected date-time (RFC 3339 or Unix seconds), got \"not a date\""
        );
        let e = err(str("1714550400"), DateTime);
        assert!(e.contains("tonumber"), "{e}");
    }

    #[test]
    fn date_time_takes_unix_seconds_and_milliseconds() {
        assert_eq!(
            ok(Scalar::Int(1714557600), DateTime),
            utc(2024, 5, 1, 10, 0, 0)
        );
        assert_eq!(
            ok(Scalar::Int(1714557600000), DateTime),
            utc(2024, 5, 1, 10, 0, 0)
        );
        assert_eq!(
            ok(Scalar::Float(1714557600.0), DateTime),
            utc(2024, 5, 1, 10, 0, 0)
        );
        // DingTalk's punch times are in milliseconds.
        assert_eq!(
            ok(Scalar::Int(1599354720000), DateTime),
            utc(2020, 9, 6, 1, 12, 0)
        );
        err(Scalar::Bool(true), DateTime);
        err(Scalar::Int(i64::MAX), DateTime);
    }

    #[test]
    fn enum_matches_case_insensitively_and_stores_lower_case() {
        let statuses = Enum(hrhub_model::TICKET_STATUSES);
        assert_eq!(
            ok(str("Solved"), statuses),
            FieldValue::Text("solved".into())
        );
        assert_eq!(ok(str("open"), statuses), FieldValue::Text("open".into()));
        let e = err(str("archived"), statuses);
        assert!(
            e.starts_with("expected one of new, open, pending, hold, solved, closed, deleted, got \"archived\"; translate"),
            "{e}"
        );
        err(Scalar::Int(1), statuses);
    }
}
