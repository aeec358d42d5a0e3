//! Values across the boundary: JavaScript in (checked: finite numbers,
//! plain objects and arrays, bounded size, no prototype keys) and out (plain
//! objects through `JSON.parse`, so `JSON.stringify` and property access just
//! work and no prototype can be touched).

use std::collections::BTreeMap;

use js_sys::{Array, JsString, Object, Reflect, JSON};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use twinkit_core::limits::{MAX_STRING_BYTES, MAX_VALUE_DEPTH, RESERVED_KEYS};
use twinkit_core::{ConfigError, TwinError};
use wasm_bindgen::{JsCast, JsValue};

/// Largest input accepted from JavaScript in one call (configs included),
/// counted as UTF-16 units of strings and keys plus a little per value.
pub const MAX_INPUT_UNITS: usize = 4 * 1024 * 1024;

/// A thrown error: a JavaScript `Error` named `TwinError` with a `code`.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("TwinError");
    // Setting an own data property on a fresh Error cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// A core error as a thrown JavaScript error.
pub fn twin_error(error: &TwinError) -> JsValue {
    js_error(error.code(), &error.to_string())
}

/// A runtime error as a thrown JavaScript error.
pub fn web_error(error: &twinkit_web::WebError) -> JsValue {
    js_error(error.code(), &error.to_string())
}

/// Runtime results as thrown JavaScript errors.
pub trait OrThrow<T> {
    /// The value, or the error as a thrown `TwinError`.
    fn or_throw(self) -> Result<T, JsValue>;
}

impl<T> OrThrow<T> for Result<T, twinkit_web::WebError> {
    fn or_throw(self) -> Result<T, JsValue> {
        self.map_err(|e| web_error(&e))
    }
}

/// A configuration error as a thrown JavaScript error.
pub fn config_error(error: &ConfigError) -> JsValue {
    js_error("INVALID_CONFIG", &error.to_string())
}

/// Converts a core value to a plain JavaScript value.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| js_error("INTERNAL", &format!("could not serialize: {e}")))?;
    JSON::parse(&text)
}

/// Converts a JavaScript value to JSON, refusing what JSON cannot carry
/// faithfully or safely. `what` names the argument in errors.
pub fn from_js(value: &JsValue, what: &str) -> Result<Value, JsValue> {
    let mut budget = MAX_INPUT_UNITS;
    walk(value, 0, &mut budget)
        .map_err(|reason| js_error("INVALID_INPUT", &format!("{what}: {reason}")))
}

/// Converts a JavaScript object to a map of its own enumerable keys.
pub fn object_from_js(value: &JsValue, what: &str) -> Result<BTreeMap<String, Value>, JsValue> {
    match from_js(value, what)? {
        Value::Object(map) => Ok(map.into_iter().collect()),
        other => Err(js_error(
            "INVALID_INPUT",
            &format!(
                "{what}: expected an object, got {}",
                twinkit_core::value::json_type_name(&other)
            ),
        )),
    }
}

/// A value per key of a JavaScript object, each read on its own so one
/// unreadable value (NaN, a function) refuses only its key: `Err(reason)`.
pub type Entries = Vec<(String, Result<Value, String>)>;

/// Reads an object's own enumerable keys one by one (see [`Entries`]).
pub fn entries_from_js(value: &JsValue, what: &str) -> Result<Entries, JsValue> {
    if value.is_null() || !value.is_object() || Array::is_array(value) {
        return Err(js_error(
            "INVALID_INPUT",
            &format!("{what}: expected an object"),
        ));
    }
    let object: &Object = value.unchecked_ref();
    let mut budget = MAX_INPUT_UNITS;
    let mut out = Vec::new();
    for key in Object::keys(object).iter() {
        let name = key.as_string().unwrap_or_default();
        spend(&mut budget, name.len())
            .map_err(|r| js_error("INVALID_INPUT", &format!("{what}: {r}")))?;
        let item = Reflect::get(object, &key)?;
        out.push((name, walk(&item, 1, &mut budget)));
        if budget == 0 {
            return Err(js_error(
                "INVALID_INPUT",
                &format!("{what}: is larger than {MAX_INPUT_UNITS} units"),
            ));
        }
    }
    Ok(out)
}

fn walk(value: &JsValue, depth: usize, budget: &mut usize) -> Result<Value, String> {
    // Configs nest a little deeper than values (properties[i].…).
    if depth > MAX_VALUE_DEPTH + 4 {
        return Err(format!("nests deeper than {MAX_VALUE_DEPTH} levels"));
    }
    spend(budget, 8)?;
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        return number(n).map(Value::Number);
    }
    if let Some(s) = value.dyn_ref::<JsString>() {
        let units = s.length() as usize;
        // UTF-16 units never exceed UTF-8 bytes, so this refuses before copying.
        if units > MAX_STRING_BYTES {
            return Err(format!(
                "holds a string longer than {MAX_STRING_BYTES} bytes"
            ));
        }
        spend(budget, units)?;
        return Ok(Value::String(String::from(s)));
    }
    if Array::is_array(value) {
        let array: &Array = value.unchecked_ref();
        let mut items = Vec::with_capacity(array.length().min(1024) as usize);
        for item in array.iter() {
            items.push(walk(&item, depth + 1, budget)?);
        }
        return Ok(Value::Array(items));
    }
    if value.is_function() || value.is_symbol() || value.is_bigint() {
        return Err(format!(
            "holds a {}, which JSON cannot carry",
            value.js_typeof().as_string().unwrap_or_default()
        ));
    }
    if value.is_object() {
        let object: &Object = value.unchecked_ref();
        let mut map = Map::new();
        for key in Object::keys(object).iter() {
            let name = key.as_string().unwrap_or_default();
            if RESERVED_KEYS.contains(&name.as_str()) {
                return Err(format!("holds the reserved key `{name}`"));
            }
            spend(budget, name.len())?;
            let item =
                Reflect::get(object, &key).map_err(|_| format!("could not read key `{name}`"))?;
            // Like JSON.stringify: a key whose value is undefined is absent.
            if item.is_undefined() {
                continue;
            }
            map.insert(name, walk(&item, depth + 1, budget)?);
        }
        return Ok(Value::Object(map));
    }
    Err("holds a value of an unsupported type".into())
}

/// A JavaScript number as JSON: integral values within the safe-integer
/// range become integers (so `1000` reads as a count of milliseconds), the
/// rest floats; NaN and the infinities are refused.
fn number(n: f64) -> Result<Number, String> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
        return Ok(Number::from(n as i64));
    }
    Number::from_f64(n).ok_or_else(|| format!("{n} is not a finite number"))
}

fn spend(budget: &mut usize, units: usize) -> Result<(), String> {
    *budget = budget
        .checked_sub(units)
        .ok_or_else(|| format!("is larger than {MAX_INPUT_UNITS} units"))?;
    Ok(())
}

/// A timestamp from JavaScript: a finite, non-negative number of
/// milliseconds, rounded down.
pub fn millis(value: &Value, what: &str) -> Result<u64, JsValue> {
    match value.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n.floor() as u64),
        _ => Err(js_error(
            "INVALID_INPUT",
            &format!("{what} must be a non-negative number of milliseconds"),
        )),
    }
}

/// An optional count from JavaScript (`limit`): a finite, non-negative number.
pub fn count(value: Option<f64>, what: &str) -> Result<Option<usize>, JsValue> {
    match value {
        None => Ok(None),
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n.floor() as usize)),
        Some(n) => Err(js_error(
            "INVALID_INPUT",
            &format!("{what} must be a non-negative number, got {n}"),
        )),
    }
}

pub use twinkit_web::now;
