//! What the API never shows in full. Phone numbers are matching keys inside
//! the hub, not data it hands out, and a payload kept for an admin to debug
//! a mapping must not carry a credential (OWASP API3:2023, excessive data
//! exposure). Redaction goes by field name, so ids that happen to be digits
//! stay readable.

use serde_json::Value;

/// `+86 138-0013-8000` → `*******8000`: the last four digits, enough for a
/// person to recognise their own number and useless to anyone else.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let shown = digits.len().saturating_sub(4);
    let mut out = "*".repeat(shown.max(4));
    if digits.len() > 4 {
        out.extend(&digits[shown..]);
    }
    out
}

fn is_phone_field(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("mobile") || key.contains("phone") || key == "tel"
}

fn is_secret_field(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "secret", "password", "aes_key", "aeskey"]
        .iter()
        .any(|word| key.contains(word))
}

/// Masks phone fields and blanks credential fields, at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if is_phone_field(key) => *s = mask_phone(s),
                    Value::String(s) if is_secret_field(key) => *s = "[redacted]".into(),
                    _ => redact(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// [`redact`] for anything serializable.
pub fn redacted(value: impl serde::Serialize) -> Value {
    let mut value = serde_json::to_value(value).unwrap_or(Value::Null);
    redact(&mut value);
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phones_keep_their_last_four_digits_only() {
        assert_eq!(mask_phone("+86 138-0013-8000"), "*********8000");
        assert_eq!(mask_phone("13800138000"), "*******8000");
        assert_eq!(mask_phone("123"), "****");
        assert_eq!(mask_phone(""), "****");
    }

    #[test]
    fn redaction_goes_by_field_name_at_any_depth() {
        let mut v = json!({
            "userid": "0123456789",
            "mobile": "13800138000",
            "extattr": {"telephone": "010-62345678", "Phone": "+1 415 555 0100"},
            "list": [{"access_token": "abc", "name": "Li"}],
            "count": 13800138000u64
        });
        redact(&mut v);
        assert_eq!(
            v,
            json!({
                "userid": "0123456789",
                "mobile": "*******8000",
                "extattr": {"telephone": "*******5678", "Phone": "*******0100"},
                "list": [{"access_token": "[redacted]", "name": "Li"}],
                "count": 13800138000u64
            })
        );
    }
}
