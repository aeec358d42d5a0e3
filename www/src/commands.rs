//! The command console: send a command with a JSON payload and follow each
//! command through its lifecycle (pending → sent → acknowledged →
//! completed | failed).

use leptos::prelude::*;
use serde_json::Value;
use twinkit_core::{CommandStatus, DeviceCommand, Millis};
use twinkit_leptos::SendCommandFn;

use crate::format;

/// Commands the simulated devices know, with a payload to start from.
const COMMANDS: [(&str, &str); 4] = [
    ("calibrate", "{}"),
    ("reboot", "{}"),
    ("resetWear", "{}"),
    (
        "fault",
        r#"{"kind": "stuck", "property": "temperature", "value": 95}"#,
    ),
];

const STEPS: [CommandStatus; 4] = [
    CommandStatus::Pending,
    CommandStatus::Sent,
    CommandStatus::Acknowledged,
    CommandStatus::Completed,
];

/// The command console of a device.
#[component]
pub fn CommandConsole(
    commands: Signal<Vec<DeviceCommand>>,
    send_command: SendCommandFn,
    now: Signal<Millis>,
) -> impl IntoView {
    let name = RwSignal::new(COMMANDS[0].0.to_string());
    let payload = RwSignal::new(COMMANDS[0].1.to_string());
    let error = RwSignal::new(None::<String>);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = payload.get_untracked();
        let parsed: Result<Value, _> = if text.trim().is_empty() {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_str(&text)
        };
        match parsed {
            Err(e) => error.set(Some(format!("payload is not JSON: {e}"))),
            Ok(body) => match send_command(&name.get_untracked(), body) {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(e.to_string())),
            },
        }
    };
    let pick = move |ev| {
        let picked = event_target_value(&ev);
        if let Some((_, example)) = COMMANDS.iter().find(|(n, _)| *n == picked) {
            payload.set((*example).to_string());
        }
        name.set(picked);
    };
    view! {
        <section class="panel commands">
            <h2>"Commands"</h2>
            <form class="command-form" on:submit=send>
                <select name="command" on:change=pick prop:value=move || name.get()>
                    {COMMANDS.iter().map(|(n, _)| view! { <option value=*n>{*n}</option> }).collect::<Vec<_>>()}
                </select>
                <input
                    class="payload"
                    name="payload"
                    spellcheck="false"
                    prop:value=move || payload.get()
                    on:input=move |ev| payload.set(event_target_value(&ev))
                />
                <button type="submit">"Send"</button>
            </form>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
            <p class="muted small hint">
                "fault payloads: stuck (property, value), drift (property, rate), spikes (property, probability, magnitude), "
                "dropConnection (durationMs), malformed (count), clear (property)."
            </p>
            <ol class="command-list">
                <For
                    each=move || commands.get()
                    key=|c| (c.command_id.clone(), c.status)
                    let:command
                >
                    <CommandRow command=command now=now/>
                </For>
            </ol>
        </section>
    }
}

#[component]
fn CommandRow(command: DeviceCommand, now: Signal<Millis>) -> impl IntoView {
    let failed = command.status == CommandStatus::Failed;
    let reached = |step: CommandStatus| -> bool {
        let rank = |s: CommandStatus| STEPS.iter().position(|x| *x == s).unwrap_or(3);
        rank(step) <= rank(command.status)
    };
    let steps = STEPS
        .iter()
        .map(|step| {
            let label = if *step == CommandStatus::Completed && failed {
                "failed"
            } else {
                step.as_str()
            };
            let class = if *step == CommandStatus::Completed && failed {
                "step failed"
            } else if reached(*step) {
                "step done"
            } else {
                "step"
            };
            view! { <span class=class>{label}</span> }
        })
        .collect::<Vec<_>>();
    let outcome = command.error.clone().or_else(|| {
        command
            .result
            .as_ref()
            .filter(|r| !r.is_null())
            .map(Value::to_string)
    });
    let updated = command.updated_at;
    view! {
        <li class="command" data-command-id=command.command_id.clone() data-name=command.name.clone() data-status=command.status.as_str()>
            <div class="command-head">
                <code>{command.name.clone()}</code>
                <span class="muted small">{format::short_id(&command.command_id).to_string()}</span>
                <span class="muted small">{move || format::ago(now.get(), Some(updated))}</span>
            </div>
            <div class="steps">{steps}</div>
            {outcome.map(|o| view! { <div class="command-outcome small">{o}</div> })}
        </li>
    }
}
