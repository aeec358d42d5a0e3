//! The `http` connection type as a sans-io polling client.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use twinkit_core::http_link::{HttpLink, HttpResponse};
use twinkit_core::link::LinkEvent;
use twinkit_core::{CommandStatus, DeviceCommand, Inbound, Outbound};

fn ok(status: u16, etag: Option<&str>, body: serde_json::Value) -> Result<HttpResponse, String> {
    Ok(HttpResponse {
        status,
        etag: etag.map(str::to_string),
        body: body.to_string().into_bytes(),
    })
}

fn drain(link: &mut HttpLink) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

#[test]
fn polls_state_with_etag_and_telemetry_since_the_last_record() {
    let mut link = HttpLink::new("dev 1", 1_000);
    assert_eq!(link.poll_request(0), None, "nothing before start");
    link.start(0);
    let state = link.poll_request(0).unwrap();
    assert_eq!(
        (state.method, state.target.as_str()),
        ("GET", "/devices/dev%201/state")
    );
    assert_eq!(state.if_none_match, None);
    let telemetry = link.poll_request(0).unwrap();
    assert_eq!(telemetry.target, "/devices/dev%201/telemetry");
    assert_eq!(link.poll_request(0), None);

    link.handle_response(
        state.id,
        ok(
            200,
            Some("\"7\""),
            json!({"deviceId": "dev 1", "reported": {"t": 20}, "version": 7, "timestamp": 5}),
        ),
        10,
    );
    link.handle_response(telemetry.id, ok(200, None, json!({"deviceId": "dev 1", "records": [{"deviceId": "dev 1", "timestamp": 9, "values": {"t": 21}}], "next": 9, "more": false})), 10);
    let events = drain(&mut link);
    assert_eq!(events[0], LinkEvent::Up);
    assert!(matches!(
        &events[1],
        LinkEvent::Inbound {
            inbound: Inbound::Reported {
                timestamp: Some(5),
                ..
            },
            ..
        }
    ));
    assert!(
        matches!(&events[2], LinkEvent::Inbound { inbound: Inbound::Telemetry(d), .. } if d.timestamp == 9)
    );

    assert_eq!(link.poll_timeout(), Some(1_000));
    assert_eq!(link.poll_request(999), None);
    let again = link.poll_request(1_000).unwrap();
    assert_eq!(again.if_none_match.as_deref(), Some("\"7\""));
    assert_eq!(
        link.poll_request(1_000).unwrap().target,
        "/devices/dev%201/telemetry?since=9"
    );
    link.handle_response(again.id, ok(304, None, json!(null)), 1_001);
    assert!(drain(&mut link).is_empty(), "a 304 changes nothing");
}

#[test]
fn commands_are_posted_then_polled_until_finished() {
    let mut link = HttpLink::new("d", 1_000);
    link.start(0);
    let (a, b) = (link.poll_request(0).unwrap(), link.poll_request(0).unwrap());
    link.handle_response(a.id, ok(304, None, json!(null)), 1);
    link.handle_response(
        b.id,
        ok(
            200,
            None,
            json!({"deviceId": "d", "records": [], "more": false}),
        ),
        1,
    );
    drain(&mut link);
    let command: DeviceCommand = serde_json::from_value(json!({
        "commandId": "c1", "deviceId": "d", "name": "reboot", "payload": {}, "timestamp": 1, "updatedAt": 1, "timeoutAt": 30001, "status": "sent"
    }))
    .unwrap();
    link.send(Outbound::Command(command), 2).unwrap();
    let post = link.poll_request(2).unwrap();
    assert_eq!(
        (post.method, post.target.as_str()),
        ("POST", "/devices/d/commands")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(post.body.as_deref().unwrap()).unwrap(),
        json!({"commandId": "c1", "name": "reboot", "payload": {}})
    );
    link.handle_response(
        post.id,
        ok(
            202,
            None,
            json!({"commandId": "c1", "status": "acknowledged"}),
        ),
        3,
    );
    assert!(
        matches!(&drain(&mut link)[..], [LinkEvent::Inbound { inbound: Inbound::CommandResponse(r), .. }] if r.status == CommandStatus::Acknowledged)
    );
    let _ = (link.poll_request(1_000), link.poll_request(1_000));
    let status = link.poll_request(1_000).unwrap();
    assert_eq!(status.target, "/devices/d/commands/c1");
    link.handle_response(
        status.id,
        ok(
            200,
            None,
            json!({"commandId": "c1", "status": "completed", "result": {"ok": true}}),
        ),
        1_001,
    );
    assert!(
        matches!(&drain(&mut link)[..], [LinkEvent::Inbound { inbound: Inbound::CommandResponse(r), .. }] if r.status == CommandStatus::Completed)
    );
    let _ = (link.poll_request(2_000), link.poll_request(2_000));
    assert_eq!(
        link.poll_request(2_000),
        None,
        "a finished command is not polled again"
    );
}

#[test]
fn network_errors_and_5xx_take_the_link_down_and_bad_bodies_are_rejected() {
    let mut link = HttpLink::new("d", 1_000);
    link.start(0);
    let a = link.poll_request(0).unwrap();
    let b = link.poll_request(0).unwrap();
    link.handle_response(
        a.id,
        ok(
            200,
            None,
            json!({"deviceId": "d", "reported": {"__proto__": 1}, "version": 1, "timestamp": 1}),
        ),
        1,
    );
    let events = drain(&mut link);
    assert_eq!(events[0], LinkEvent::Up);
    assert!(
        matches!(&events[1], LinkEvent::Rejected { code, .. } if code == "INVALID_MESSAGE"),
        "{events:?}"
    );
    link.handle_response(b.id, Err("connection refused".into()), 2);
    assert!(
        matches!(&drain(&mut link)[..], [LinkEvent::Down { reason }] if reason == "connection refused")
    );
    assert_eq!(link.poll_request(5_000), None, "down until started again");
    assert!(link
        .send(
            Outbound::Desired {
                property: "p".into(),
                value: json!(1),
                version: 1,
                device_version: None,
            },
            5_000
        )
        .is_err());

    link.start(6_000);
    let c = link.poll_request(6_000).unwrap();
    link.handle_response(c.id, ok(503, None, json!(null)), 6_001);
    assert!(
        matches!(&drain(&mut link)[..], [LinkEvent::Down { reason }] if reason.contains("503"))
    );
}

#[test]
fn a_new_poll_round_waits_for_the_last_one_and_an_unanswered_round_takes_the_link_down() {
    let mut link = HttpLink::new("d", 1_000);
    link.start(0);
    let (state, telemetry) = (link.poll_request(0).unwrap(), link.poll_request(0).unwrap());
    link.handle_response(state.id, ok(304, None, json!(null)), 50);
    assert_eq!(drain(&mut link), vec![LinkEvent::Up]);

    // The telemetry GET is still unanswered: no new round, however late,
    // until the answer timeout.
    assert_eq!(link.answer_timeout(), 15_000);
    assert_eq!(link.poll_timeout(), Some(15_000));
    for now in [1_000, 5_000, 14_999] {
        assert_eq!(link.poll_request(now), None, "no pile-up at {now} ms");
    }

    // Answered late: the next round goes out at once.
    link.handle_response(
        telemetry.id,
        ok(
            200,
            None,
            json!({"deviceId": "d", "records": [], "more": false}),
        ),
        6_000,
    );
    assert_eq!(link.poll_timeout(), Some(1_000));
    let next = link.poll_request(6_000).unwrap();
    assert_eq!(next.target, "/devices/d/state");
    assert!(link.poll_request(6_000).is_some());
    assert_eq!(link.poll_request(6_000), None);

    // This round is never answered.
    assert_eq!(link.poll_timeout(), Some(21_000));
    assert_eq!(link.poll_request(20_999), None);
    assert_eq!(link.poll_request(21_000), None);
    assert_eq!(
        drain(&mut link),
        vec![LinkEvent::Down {
            reason: "the server did not answer within 15 s".into()
        }]
    );
    assert_eq!(link.poll_timeout(), None, "stopped until restarted");
    assert!(!link.is_up());
}

#[test]
fn a_posted_desired_value_does_not_hold_back_polling() {
    let mut link = HttpLink::new("d", 1_000);
    link.start(0);
    let (a, b) = (link.poll_request(0).unwrap(), link.poll_request(0).unwrap());
    link.handle_response(a.id, ok(304, None, json!(null)), 1);
    link.handle_response(
        b.id,
        ok(
            200,
            None,
            json!({"deviceId": "d", "records": [], "more": false}),
        ),
        1,
    );
    link.send(
        Outbound::Desired {
            property: "setpoint".into(),
            value: json!(21),
            version: 1,
            device_version: None,
        },
        2,
    )
    .unwrap();
    assert_eq!(link.poll_request(2).unwrap().method, "POST");
    assert_eq!(link.poll_request(1_000).unwrap().target, "/devices/d/state");
}
