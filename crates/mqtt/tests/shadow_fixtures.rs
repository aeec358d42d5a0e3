//! The shadow mode against the document examples of AWS's public Device
//! Shadow documentation (tests/fixtures/aws-shadow/README.md gives each
//! file's source).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::{json, Value};
use twinkit_core::Inbound;
use twinkit_mqtt::shadow::{
    decode, ShadowDocument, ShadowMessage, ShadowRequest, ShadowState, ShadowTopic,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/aws-shadow/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn map(value: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(value).unwrap()
}

#[test]
fn update_requests_from_the_mqtt_topics_page() {
    let ShadowMessage::Request(desired) =
        decode(ShadowTopic::Update, &fixture("update-request-desired.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        desired.state.desired,
        Some(Some(map(json!({"color": "red", "power": "on"}))))
    );
    assert_eq!(desired.state.reported, None);
    assert!(
        desired.to_inbound().is_err(),
        "a desired request reports nothing"
    );

    let ShadowMessage::Request(reported) = decode(
        ShadowTopic::Update,
        &fixture("update-request-reported.json"),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        reported.to_inbound().unwrap(),
        Inbound::Reported {
            values: map(json!({"color": "red", "power": "on"})),
            timestamp: None,
            version: None,
        }
    );
    // What we build for a report serializes to AWS's own example.
    let ours = ShadowRequest::reported(map(json!({"color": "red", "power": "on"})));
    let theirs: Value = serde_json::from_slice(&fixture("update-request-reported.json")).unwrap();
    assert_eq!(serde_json::to_value(&ours).unwrap(), theirs);
    let ours = ShadowRequest::desired(map(json!({"color": "red", "power": "on"})), None);
    let theirs: Value = serde_json::from_slice(&fixture("update-request-desired.json")).unwrap();
    assert_eq!(serde_json::to_value(&ours).unwrap(), theirs);
}

#[test]
fn documents_with_delta_from_the_documents_page() {
    let ShadowMessage::Document(doc) = decode(
        ShadowTopic::GetAccepted,
        &fixture("document-with-delta.json"),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(doc.desired(), map(json!({"color": "RED", "state": "STOP"})));
    assert_eq!(
        doc.state.delta,
        Some(map(json!({"color": "RED", "state": "STOP"})))
    );
    // The example keeps version and timestamp inside metadata: kept, not lost.
    let metadata = doc.metadata.as_ref().unwrap();
    assert_eq!(metadata.other["version"], json!(17));
    assert_eq!(
        metadata.desired.as_ref().unwrap()["color"],
        json!({"timestamp": 12345})
    );
    assert_eq!(
        doc.to_inbound().unwrap(),
        Inbound::Reported {
            values: map(json!({"color": "GREEN", "engine": "ON"})),
            timestamp: None,
            version: None,
        }
    );

    let ShadowMessage::Document(nested) = decode(
        ShadowTopic::UpdateAccepted,
        &fixture("document-nested-delta.json"),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(nested.version, Some(18));
    assert_eq!(
        nested.state.delta,
        Some(map(json!({"lights": {"color": {"g": 255}}})))
    );
    // AWS seconds become twinkit milliseconds.
    assert_eq!(
        nested.to_inbound().unwrap(),
        Inbound::Reported {
            values: map(json!({"lights": {"color": {"r": 255, "g": 0, "b": 255}}})),
            timestamp: Some(123_456_789_000),
            version: None,
        }
    );
}

#[test]
fn empty_and_null_properties() {
    let request: ShadowRequest =
        serde_json::from_slice(&fixture("update-request-desired-null.json")).unwrap();
    assert_eq!(
        request.state.desired,
        Some(None),
        "explicit null kept apart from absent"
    );
    assert_eq!(
        request.state.reported,
        Some(Some(map(json!({"color": "red"}))))
    );
    // Re-serialized, the null survives.
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        serde_json::from_slice::<Value>(&fixture("update-request-desired-null.json")).unwrap()
    );

    let state: ShadowState = serde_json::from_slice(&fixture("state-reported-only.json")).unwrap();
    assert_eq!(state.reported, Some(Some(map(json!({"temp": 55})))));
    assert_eq!(state.desired, None);
    let state: ShadowState = serde_json::from_slice(&fixture("state-desired-only.json")).unwrap();
    assert_eq!(state.desired, Some(Some(map(json!({"color": "RED"})))));

    let ShadowMessage::Document(empty) =
        decode(ShadowTopic::GetAccepted, &fixture("empty-document.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(empty, ShadowDocument::default());
    assert_eq!(empty.to_inbound(), None);
}

#[test]
fn arrays_are_values_and_cannot_hold_null() {
    let state: ShadowState = serde_json::from_slice(&fixture("state-array.json")).unwrap();
    let request = ShadowRequest {
        state,
        ..ShadowRequest::default()
    };
    assert!(request.validate().is_ok());
    let state: ShadowState =
        serde_json::from_slice(&fixture("state-array-with-null.json")).unwrap();
    let request = ShadowRequest {
        state,
        client_token: Some("t1".into()),
        version: None,
    };
    let error = request.validate().unwrap_err();
    assert_eq!(error.code, 400);
    assert_eq!(error.client_token.as_deref(), Some("t1"));
    let long = ShadowRequest {
        client_token: Some("x".repeat(65)),
        ..ShadowRequest::default()
    };
    assert_eq!(long.validate().unwrap_err().message, "Invalid clientToken");
}

#[test]
fn accepted_delta_and_error_documents_from_the_templates() {
    let ShadowMessage::Document(accepted) = decode(
        ShadowTopic::UpdateAccepted,
        &fixture("accepted-from-template.json"),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(accepted.client_token.as_deref(), Some("token"));
    assert_eq!(accepted.version, Some(7));
    assert_eq!(accepted.desired()["attributeN"], json!(true));

    let ShadowMessage::Delta(delta) = decode(
        ShadowTopic::UpdateDelta,
        &fixture("delta-from-template.json"),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        delta.state,
        map(json!({"attribute1": 2, "attribute2": "string2", "attributeN": true}))
    );
    assert_eq!(
        delta.metadata.unwrap()["attribute1"],
        json!({"timestamp": 1700000000})
    );

    let ShadowMessage::Rejected(error) = decode(
        ShadowTopic::UpdateRejected,
        &fixture("error-from-template.json"),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (error.code, error.message.as_str()),
        (409, "Version conflict")
    );
    assert_eq!(decode(ShadowTopic::Get, b"").unwrap(), ShadowMessage::Get);
}
