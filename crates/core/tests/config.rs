//! Configuration: reference shapes, validation errors that name the field.

mod common;

use serde_json::json;
use twinkit_core::config::{CriticalBand, DEFAULT_TELEMETRY_INTERVAL_MS};
use twinkit_core::{
    ConfigError, ConnectionType, DeviceConfig, DigitalTwin, FleetManager, PropertyType, TwinError,
    TwinOptions,
};

fn with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<DeviceConfig, ConfigError> {
    let mut json = common::thermostat_json();
    edit(&mut json);
    DeviceConfig::from_json(&json.to_string())
}

#[test]
fn reads_the_reference_configuration() {
    let config = common::thermostat_config();
    config.validate().unwrap();
    assert_eq!(config.device_type, "thermostat");
    assert_eq!(config.properties[0].kind, PropertyType::Number);
    assert_eq!(config.properties[0].unit.as_deref(), Some("fahrenheit"));
    assert!(config.properties[1].writable);
    assert_eq!(config.connection_type, Some(ConnectionType::Websocket));
    let conn = config.connection_config.as_ref().unwrap();
    assert_eq!(conn.reconnect_interval, Some(5000));
    // Round trip keeps everything but the password.
    let back = serde_json::to_value(&config).unwrap();
    assert_eq!(back["properties"][1]["min"], json!(55.0));
    assert_eq!(back["connectionConfig"]["username"], json!("device-001"));
}

#[test]
fn optional_fields_default() {
    let config = DeviceConfig::from_json(
        r#"{"id":"a","name":"A","type":"t","properties":[{"name":"x","type":"number"}]}"#,
    )
    .unwrap();
    assert!(!config.properties[0].writable);
    assert!(!config.properties[0].telemetry);
    assert_eq!(
        config.telemetry_interval_ms(),
        DEFAULT_TELEMETRY_INTERVAL_MS
    );
    assert_eq!(config.connection_type, None);
}

#[test]
fn empty_id_name_or_type_is_refused_by_field() {
    for (field, edit) in [
        ("id", json!({"id": ""})),
        ("name", json!({"name": "  "})),
        ("type", json!({"type": ""})),
    ] {
        let err = with(|j| {
            for (k, v) in edit.as_object().unwrap() {
                j[k] = v.clone();
            }
        })
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Empty {
                field: field.into()
            }
        );
        assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
    }
}

#[test]
fn empty_property_name_is_refused_by_field() {
    let err = with(|j| j["properties"][2]["name"] = json!("")).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Empty {
            field: "properties[2].name".into()
        }
    );
}

#[test]
fn duplicate_property_names_are_refused() {
    let err = with(|j| j["properties"][3]["name"] = json!("setpoint")).unwrap_err();
    assert_eq!(
        err,
        ConfigError::DuplicateProperty {
            index: 3,
            name: "setpoint".into()
        }
    );
    assert!(err.to_string().contains("properties[3].name"));
}

#[test]
fn min_greater_than_max_is_refused() {
    let err = with(|j| j["properties"][1]["min"] = json!(90)).unwrap_err();
    assert!(
        matches!(err, ConfigError::MinGreaterThanMax { index: 1, ref name, min, max }
        if name == "setpoint" && min == 90.0 && max == 85.0),
        "{err:?}"
    );
}

#[test]
fn unknown_property_type_is_refused_by_field() {
    let err = with(|j| j["properties"][2]["type"] = json!("float")).unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownPropertyType {
            index: 2,
            value: "float".into()
        }
    );
    assert!(err.to_string().contains("properties[2].type"));
}

#[test]
fn unknown_connection_type_is_refused_by_field() {
    let err = with(|j| j["connectionType"] = json!("carrier-pigeon")).unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownConnectionType {
            value: "carrier-pigeon".into()
        }
    );
    assert!(err.to_string().contains("connectionType"));
}

#[test]
fn wrong_shapes_name_their_path() {
    let err = with(|j| j["properties"][0]["min"] = json!("cold")).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Malformed { path, .. } if path == "properties[0].min"),
        "{err:?}"
    );
    let err = with(|j| j["telemetryInterval"] = json!(-5)).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Malformed { path, .. } if path == "telemetryInterval"),
        "{err:?}"
    );
    let err = DeviceConfig::from_json("{not json").unwrap_err();
    assert!(matches!(err, ConfigError::Malformed { .. }));
}

#[test]
fn other_invalid_fields_are_refused() {
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("id", Box::new(|j| j["id"] = json!("a/b"))),
        ("id", Box::new(|j| j["id"] = json!("a#"))),
        ("id", Box::new(|j| j["id"] = json!("x".repeat(200)))),
        (
            "properties[0].name",
            Box::new(|j| j["properties"][0]["name"] = json!("__proto__")),
        ),
        (
            "properties[2].min",
            Box::new(|j| j["properties"][2]["min"] = json!(1)),
        ),
        (
            "properties[4].telemetry",
            Box::new(|j| j["properties"][4]["telemetry"] = json!(true)),
        ),
        (
            "telemetryInterval",
            Box::new(|j| j["telemetryInterval"] = json!(0)),
        ),
        (
            "connectionConfig.url",
            Box::new(|j| j["connectionConfig"]["url"] = json!("ftp://x")),
        ),
        (
            "connectionConfig.reconnectInterval",
            Box::new(|j| j["connectionConfig"]["reconnectInterval"] = json!(0)),
        ),
    ];
    for (field, edit) in cases {
        match with(edit) {
            Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let err = with(|j| j["connectionConfig"]["url"] = json!("")).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Empty {
            field: "connectionConfig.url".into()
        }
    );
    let err = with(|j| {
        j.as_object_mut().unwrap().remove("connectionConfig");
    })
    .unwrap_err();
    assert_eq!(
        err,
        ConfigError::Empty {
            field: "connectionConfig".into()
        }
    );
}

#[test]
fn http_needs_an_http_url() {
    let err = with(|j| j["connectionType"] = json!("http")).unwrap_err();
    assert!(
        matches!(err, ConfigError::Invalid { ref field, .. } if field == "connectionConfig.url")
    );
    with(|j| {
        j["connectionType"] = json!("http");
        j["connectionConfig"]["url"] = json!("https://iot.example.com/api");
    })
    .unwrap();
}

#[test]
fn the_password_never_leaks() {
    let config = common::thermostat_config();
    let debug = format!("{config:?}");
    assert!(!debug.contains("secret"), "{debug}");
    assert!(debug.contains("<redacted>"));
    let json = serde_json::to_string(&config).unwrap();
    assert!(!json.contains("secret"), "{json}");
    let twin = DigitalTwin::new(config).unwrap();
    assert!(!format!("{twin:?}").contains("secret"));
}

#[test]
fn a_refused_config_creates_nothing() {
    let mut fleet = FleetManager::new();
    let mut bad = common::thermostat_config();
    bad.properties[1].min = Some(100.0);
    let err = fleet.add_device(bad).unwrap_err();
    assert!(matches!(
        err,
        TwinError::Config(ConfigError::MinGreaterThanMax { .. })
    ));
    assert!(fleet.is_empty());
    assert!(fleet.device("device-001").is_none());
}

#[test]
fn history_capacity_defaults_to_a_day_at_the_interval() {
    let at = |ms: u64| {
        let mut c = common::thermostat_config();
        c.telemetry_interval = Some(ms);
        c.default_history_capacity()
    };
    assert_eq!(at(1_000), 86_400);
    assert_eq!(at(30_000), 2_880);
    assert_eq!(at(7_000), 12_343); // rounded up: at least 24 h
    assert_eq!(at(600_000), 1_000); // floor
    assert_eq!(at(100), 100_000); // ceiling
}

#[test]
fn options_are_validated() {
    let config = common::thermostat_config();
    let check = |o: TwinOptions| DigitalTwin::with_options(config.clone(), o).unwrap_err();
    let mut o = TwinOptions::default();
    o.history_capacity = Some(0);
    assert!(
        matches!(check(o), ConfigError::Invalid { ref field, .. } if field == "historyCapacity")
    );
    let mut o = TwinOptions::default();
    o.hysteresis = 1.5;
    assert!(matches!(check(o), ConfigError::Invalid { ref field, .. } if field == "hysteresis"));
    let mut o = TwinOptions::default();
    o.critical_bands
        .insert("mode".into(), CriticalBand::default());
    assert!(
        matches!(check(o), ConfigError::Invalid { ref field, .. } if field == "criticalBands.mode")
    );
    let o: TwinOptions = serde_json::from_value(json!({"commandTimeout": 5000})).unwrap();
    assert_eq!(o.command_timeout, 5000);
    assert_eq!(o.hysteresis, TwinOptions::default().hysteresis);
}

#[test]
fn from_value_names_paths_like_from_json() {
    let mut json = common::thermostat_json();
    json["properties"][1]["max"] = json!(true);
    let err = DeviceConfig::from_value(json).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Malformed { path, .. } if path == "properties[1].max"),
        "{err:?}"
    );
    assert!(DeviceConfig::from_value(common::thermostat_json()).is_ok());
    let err = TwinOptions::from_value(json!({"commandTimeout": "soon"})).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Malformed { path, .. } if path == "commandTimeout"),
        "{err:?}"
    );
}

#[test]
fn mqtt_device_ids_that_would_break_topics_are_refused_at_config_time() {
    for id in ["plant/1", "dev+1", "dev#", "dev\u{0}x"] {
        let error = twinkit_core::DeviceConfig::from_value(serde_json::json!({
            "id": id, "name": "D", "type": "t", "properties": [],
            "connectionType": "mqtt", "connectionConfig": { "url": "ws://127.0.0.1:9001" }
        }))
        .unwrap_err();
        assert!(error.to_string().contains("id"), "{id:?}: {error}");
    }
}
