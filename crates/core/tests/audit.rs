//! Audit: every twin-to-device action recorded, bounded, queryable,
//! exported as CSV and JSON.
#![allow(clippy::unwrap_used)]

mod common;

use common::{local_twin, thermostat_config, values};
use serde_json::json;
use twinkit_core::audit::{to_csv, CSV_HEADER};
use twinkit_core::{
    Actor, AuditAction, AuditEntry, AuditOutcome, AuditQuery, CommandResponse, CommandStatus,
    DigitalTwin, Outbound, TwinOptions,
};

fn outcomes(twin: &DigitalTwin) -> Vec<AuditOutcome> {
    twin.audit().entries().map(AuditEntry::outcome).collect()
}

#[test]
fn a_desired_value_is_queued_sent_then_reached() {
    let mut twin = local_twin("d");
    twin.connect(0);
    let w = twin
        .set_desired_as("setpoint", json!(70), None, Actor::User, 10)
        .unwrap();
    let entry = twin.audit().get(w.audit_id.unwrap()).unwrap();
    assert_eq!(entry.actor(), &Actor::User);
    assert_eq!(entry.timestamp(), 10);
    assert_eq!(entry.device_id(), "d");
    assert_eq!(
        entry.action(),
        &AuditAction::Desired {
            property: "setpoint".into(),
            value: json!(70),
            version: w.version
        }
    );
    assert_eq!(entry.outcome(), AuditOutcome::Queued);
    twin.poll_outbound(11).unwrap();
    assert_eq!(outcomes(&twin), [AuditOutcome::Sent]);
    twin.apply_reported(values(&[("setpoint", json!(69))]), 12);
    assert_eq!(outcomes(&twin), [AuditOutcome::Sent]);
    twin.apply_reported(values(&[("setpoint", json!(70))]), 13);
    let entry = twin.audit().entries().next().unwrap();
    assert_eq!(
        (entry.outcome(), entry.outcome_at()),
        (AuditOutcome::Reached, 13)
    );
    // A later report does not move a final outcome.
    twin.apply_reported(values(&[("setpoint", json!(60))]), 14);
    assert_eq!(outcomes(&twin), [AuditOutcome::Reached]);
}

#[test]
fn a_desired_value_replaced_before_it_was_reached_is_superseded() {
    let mut twin = local_twin("d");
    twin.set_desired("setpoint", json!(70), 1).unwrap();
    twin.set_desired_as("setpoint", json!(72), None, Actor::rule("cool-down"), 2)
        .unwrap();
    twin.set_desired("setpoint", serde_json::Value::Null, 3)
        .unwrap();
    assert_eq!(
        outcomes(&twin),
        [
            AuditOutcome::Superseded,
            AuditOutcome::Superseded,
            AuditOutcome::Queued
        ]
    );
    // Already reported: reached at once.
    twin.apply_reported(values(&[("mode", json!("eco"))]), 4);
    twin.set_desired("mode", json!("eco"), 5).unwrap();
    let last = twin.audit().entries().last().unwrap();
    assert_eq!(last.outcome(), AuditOutcome::Reached);
    assert!(last.detail().unwrap().contains("already reported"));
}

#[test]
fn refused_and_unchanged_edits_are_not_audited() {
    let mut twin = local_twin("d");
    assert!(twin.set_desired("setpoint", json!(1_000), 1).is_err());
    assert!(twin.set_desired("temperature", json!(1), 1).is_err());
    // Clearing what was never set changes nothing.
    twin.set_desired("setpoint", serde_json::Value::Null, 1)
        .unwrap();
    let v = twin.state().version();
    twin.set_desired("setpoint", json!(70), 2).unwrap();
    assert!(twin.set_desired_if("setpoint", json!(71), v, 3).is_err());
    assert_eq!(twin.audit().len(), 1);
    // A hostile rule id is refused before anything happens.
    let err = twin
        .set_desired_as("setpoint", json!(71), None, Actor::rule("__proto__"), 4)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_NAME");
    assert_eq!(twin.audit().len(), 1);
}

#[test]
fn commands_are_audited_through_their_whole_lifecycle() {
    let mut twin = local_twin("d");
    twin.connect(0);
    let c = twin
        .send_command_as("calibrate", json!({"ref": 25}), Actor::script("nightly"), 1)
        .unwrap();
    let failing = twin.send_command("reboot", json!(null), 2).unwrap();
    assert!(matches!(twin.poll_outbound(3), Some(Outbound::Command(_))));
    assert_eq!(outcomes(&twin), [AuditOutcome::Sent, AuditOutcome::Queued]);
    let respond = |id: &str, status| CommandResponse {
        command_id: id.to_string(),
        status,
        result: Some(json!({"offset": 0.5})),
        error: None,
    };
    twin.handle_command_response(&respond(&c.command_id, CommandStatus::Acknowledged), 4)
        .unwrap();
    assert_eq!(outcomes(&twin)[0], AuditOutcome::Acknowledged);
    twin.handle_command_response(&respond(&c.command_id, CommandStatus::Completed), 5)
        .unwrap();
    let first = twin.audit().entries().next().unwrap();
    assert_eq!(first.outcome(), AuditOutcome::Completed);
    assert_eq!(first.detail(), Some(r#"{"offset":0.5}"#));
    assert_eq!(first.actor(), &Actor::script("nightly"));
    let AuditAction::Command {
        command_id, name, ..
    } = first.action()
    else {
        panic!()
    };
    assert_eq!((command_id, name.as_str()), (&c.command_id, "calibrate"));
    // The second times out.
    twin.handle_timeout(failing.timeout_at);
    let second = twin.audit().entries().nth(1).unwrap();
    assert_eq!(second.outcome(), AuditOutcome::Failed);
    assert!(second.detail().unwrap().contains("timed out"));
}

#[test]
fn queries_filter_by_actor_target_time_and_outcome() {
    let mut twin = local_twin("d");
    twin.set_desired("setpoint", json!(70), 10).unwrap();
    twin.set_desired_as("mode", json!("cool"), None, Actor::rule("r1"), 20)
        .unwrap();
    twin.send_command_as("reboot", json!(null), Actor::rule("r1"), 30)
        .unwrap();
    twin.set_desired("setpoint", json!(71), 40).unwrap();
    let q = |q: serde_json::Value| -> Vec<u64> {
        let query: AuditQuery = serde_json::from_value(q).unwrap();
        twin.audit_entries(&query).iter().map(|e| e.id()).collect()
    };
    assert_eq!(q(json!({})), [1, 2, 3, 4]);
    assert_eq!(q(json!({"actor": {"kind": "rule", "id": "r1"}})), [2, 3]);
    assert_eq!(q(json!({"actor": {"kind": "user"}})), [1, 4]);
    assert_eq!(q(json!({"target": "setpoint"})), [1, 4]);
    assert_eq!(q(json!({"since": 20, "until": 40})), [2, 3]);
    assert_eq!(q(json!({"outcome": "superseded"})), [1]);
    assert_eq!(q(json!({"limit": 2})), [3, 4]);
    assert!(serde_json::from_value::<AuditQuery>(json!({"sinse": 1})).is_err());
}

#[test]
fn the_log_is_bounded() {
    let mut options = TwinOptions::default();
    options.audit_capacity = 3;
    let mut config = thermostat_config();
    config.connection_type = None;
    config.connection_config = None;
    let mut twin = DigitalTwin::with_options(config, options).unwrap();
    for i in 0..10u64 {
        twin.set_desired("setpoint", json!(60 + i), i).unwrap();
    }
    let ids: Vec<u64> = twin.audit().entries().map(AuditEntry::id).collect();
    assert_eq!(ids, [8, 9, 10]);
    assert!(twin.audit().get(7).is_none());
    assert_eq!(twin.audit().get(9).unwrap().timestamp(), 8);
    // Dropped entries are no longer updated (and nothing panics).
    twin.apply_reported(values(&[("setpoint", json!(69))]), 20);
    assert_eq!(
        twin.audit().get(10).unwrap().outcome(),
        AuditOutcome::Reached
    );
}

#[test]
fn csv_export_follows_rfc_4180() {
    let mut twin = local_twin("d");
    twin.set_desired("mode", json!("a,\"b\"\r\nc"), 5).unwrap();
    twin.set_desired("setpoint", json!(70), 6).unwrap();
    let csv = twin.audit_csv(&AuditQuery::default());
    // Golden: header, then each field as RFC 4180 wants it.
    let expected = concat!(
        "id,deviceId,timestamp,actor,approvedBy,kind,target,value,commandId,version,outcome,outcomeAt,detail\r\n",
        // The JSON text "a,\"b\"\r\nc" holds a comma and quotes: quoted, quotes doubled.
        "1,d,5,user,,desired,mode,\"\"\"a,\\\"\"b\\\"\"\\r\\nc\"\"\",,1,queued,5,\r\n",
        "2,d,6,user,,desired,setpoint,70,,2,queued,6,\r\n",
    );
    assert_eq!(csv, expected);
    // A real CSV reader gets every field back.
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        CSV_HEADER
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][7], json!("a,\"b\"\r\nc").to_string());
    assert_eq!(&rows[0][10], "queued");
}

#[test]
fn csv_quotes_line_breaks_in_details_and_names() {
    let mut twin = local_twin("d");
    twin.connect(0);
    let c = twin
        .send_command_as("x", json!(null), Actor::script("a b,c"), 1)
        .unwrap();
    twin.poll_outbound(2);
    twin.handle_command_response(
        &CommandResponse {
            command_id: c.command_id.clone(),
            status: CommandStatus::Failed,
            result: None,
            error: Some("line one\nline \"two\"".into()),
        },
        3,
    )
    .unwrap();
    let csv = to_csv(twin.audit().entries());
    assert!(csv.contains(",\"script:a b,c\","), "{csv}");
    assert!(
        csv.ends_with(",failed,3,\"line one\nline \"\"two\"\"\"\r\n"),
        "{csv}"
    );
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[3], "script:a b,c");
    assert_eq!(&row[8], c.command_id);
    assert_eq!(&row[12], "line one\nline \"two\"");
}

#[test]
fn json_export_reads_back_as_the_same_entries() {
    let mut twin = local_twin("d");
    twin.set_desired_as("mode", json!("cool"), None, Actor::rule("r1"), 1)
        .unwrap();
    twin.send_command("reboot", json!({"delay": 5}), 2).unwrap();
    let text = twin.audit_json(&AuditQuery::default());
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value[0]["actor"], json!({"kind": "rule", "id": "r1"}));
    assert_eq!(value[0]["action"]["kind"], "desired");
    assert_eq!(value[1]["action"]["kind"], "command");
    assert_eq!(value[1]["action"]["payload"], json!({"delay": 5}));
    assert_eq!(value[1]["outcomeAt"], 2);
    let back: Vec<AuditEntry> = serde_json::from_str(&text).unwrap();
    let kept: Vec<AuditEntry> = twin.audit().entries().cloned().collect();
    assert_eq!(back, kept);
}

#[test]
fn a_persisted_trail_is_restored_only_into_a_twin_that_recorded_nothing() {
    let mut twin = local_twin("d");
    twin.connect(0);
    for (i, v) in [60, 61, 62].into_iter().enumerate() {
        twin.set_desired("setpoint", json!(v), 10 + i as u64)
            .unwrap();
    }
    twin.poll_outbound(20).unwrap();
    twin.apply_reported(values(&[("setpoint", json!(62))]), 21);
    assert_eq!(twin.sync_records_total(), 2);
    // As a store hands them back: JSON, one entry lost to retention at the
    // front (id 1) and a gap (id 2 missing) before the kept run.
    let stored: Vec<AuditEntry> = twin
        .audit()
        .entries()
        .map(|e| serde_json::from_value(serde_json::to_value(e).unwrap()).unwrap())
        .collect();
    let sync = twin.sync_history(None, None);

    let mut fresh = local_twin("d");
    let mut partial = stored.clone();
    partial.remove(1);
    assert_eq!(
        fresh.restore_journal(partial, sync.clone()).unwrap(),
        (1, 2)
    );
    assert_eq!(
        fresh
            .audit()
            .entries()
            .map(AuditEntry::id)
            .collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(fresh.sync_history(None, None), sync);
    // Restored records are not counted as recorded, and new entries follow.
    assert_eq!(fresh.sync_records_total(), 0);
    let next = fresh
        .set_desired_as("setpoint", json!(70), None, Actor::User, 30)
        .unwrap();
    assert_eq!(next.audit_id, Some(4));

    // Entries of another device are skipped; a twin with entries refuses.
    let mut other = local_twin("e");
    assert_eq!(
        other.restore_journal(stored.clone(), Vec::new()).unwrap(),
        (0, 0)
    );
    let err = fresh.restore_journal(stored, Vec::new()).unwrap_err();
    assert_eq!(err.code(), "NOT_RESTORABLE");
    assert_eq!(fresh.audit().len(), 2, "nothing was replaced");
}

#[test]
fn restoring_a_lifecycle_state_applies_it_but_never_revives_a_decommissioned_twin() {
    use twinkit_core::LifecycleState;
    let mut twin = local_twin("d");
    twin.connect(0);
    assert_eq!(
        twin.restore_lifecycle(LifecycleState::Provisioned, 1)
            .unwrap(),
        LifecycleState::Active
    );
    assert!(twin.send_command("reboot", json!({}), 2).is_err());
    twin.restore_lifecycle(LifecycleState::Decommissioned, 3)
        .unwrap();
    let err = twin
        .restore_lifecycle(LifecycleState::Active, 4)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
    assert_eq!(twin.lifecycle(), LifecycleState::Decommissioned);
}
