//! Bounds on names and values, so hostile or oversized input gets a clear
//! error instead of exhausting memory or reaching JavaScript as a prototype
//! key.

use serde_json::Value;

use crate::error::TwinError;

/// Longest device id, property name or command name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest string inside a value, in bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Largest value (its JSON encoding, approximately), in bytes.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;
/// Deepest nesting of arrays and objects inside a value.
pub const MAX_VALUE_DEPTH: usize = 32;
/// Most properties a device configuration may declare.
pub const MAX_PROPERTIES: usize = 1024;
/// Most undeclared properties a twin keeps from reports; more are rejected.
pub const MAX_UNKNOWN_PROPERTIES: usize = 64;

/// Keys that would reach a JavaScript object's prototype chain when the
/// value is handed to the page, so they are refused everywhere.
pub const RESERVED_KEYS: [&str; 3] = ["__proto__", "constructor", "prototype"];

/// Why a name was refused; `None` when it is acceptable.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("is longer than 128 bytes")
    } else if RESERVED_KEYS.contains(&name) {
        Some("is a reserved JavaScript key")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Checks a property or command name, naming it in the error.
pub fn check_name(name: &str) -> Result<(), TwinError> {
    match name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(TwinError::InvalidName {
            name: printable(name),
            reason,
        }),
    }
}

/// Checks a value's size, depth and keys; `what` names it in the error
/// (`format_args!`, so the hot path formats nothing unless it fails).
pub fn check_value(what: std::fmt::Arguments<'_>, value: &Value) -> Result<(), TwinError> {
    let mut budget = MAX_VALUE_BYTES;
    walk(value, 0, &mut budget).map_err(|reason| TwinError::ValueTooLarge {
        what: printable(&what.to_string()),
        reason,
    })
}

fn walk(value: &Value, depth: usize, budget: &mut usize) -> Result<(), String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!("nests deeper than {MAX_VALUE_DEPTH} levels"));
    }
    let cost = match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => {
            if s.len() > MAX_STRING_BYTES {
                return Err(format!(
                    "holds a string longer than {MAX_STRING_BYTES} bytes"
                ));
            }
            s.len() + 2
        }
        Value::Array(items) => {
            for item in items {
                walk(item, depth + 1, budget)?;
            }
            2 + items.len()
        }
        Value::Object(map) => {
            for (key, item) in map {
                if RESERVED_KEYS.contains(&key.as_str()) {
                    return Err(format!("holds the reserved key `{key}`"));
                }
                if key.len() > MAX_STRING_BYTES {
                    return Err(format!("holds a key longer than {MAX_STRING_BYTES} bytes"));
                }
                *budget = budget.checked_sub(key.len() + 4).ok_or_else(too_large)?;
                walk(item, depth + 1, budget)?;
            }
            2
        }
    };
    *budget = budget.checked_sub(cost).ok_or_else(too_large)?;
    Ok(())
}

fn too_large() -> String {
    format!("is larger than {MAX_VALUE_BYTES} bytes")
}

/// A name shortened and stripped of control characters, safe to put in an
/// error message or a log line.
pub fn printable(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_bad_names() {
        assert!(check_name("temperature").is_ok());
        for bad in ["", "__proto__", "constructor", "prototype", "a\u{0}b"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_name(&"x".repeat(129)).is_err());
        assert!(check_name(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn refuses_hostile_and_oversized_values() {
        assert!(check_value(format_args!("v"), &json!({"a": [1, 2, {"b": "c"}]})).is_ok());
        let err = check_value(
            format_args!("v"),
            &json!({"a": {"__proto__": {"polluted": true}}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("__proto__"), "{err}");
        assert!(check_value(format_args!("v"), &json!("x".repeat(MAX_STRING_BYTES + 1))).is_err());
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(check_value(format_args!("v"), &deep).is_err());
        let wide = Value::Array(vec![json!("y".repeat(1000)); 300]);
        assert!(check_value(format_args!("v"), &wide).is_err());
    }

    #[test]
    fn printable_strips_control_characters_and_truncates() {
        assert_eq!(printable("a\nb"), "a?b");
        assert_eq!(printable(&"z".repeat(100)).chars().count(), 65);
    }
}
