//! What servers ask the user, above every panel: a form to fill in, a page to visit, or leave
//! for the user's model to answer the server's messages — each naming the server and whom its
//! call runs for, until the user answers, the server stops asking, or the ask expires (the
//! bridge's `asks`; every open sidebar shows the same ones).
//!
//! A form is built from the server's schema with the fields model both the sidebar and the
//! bridge use (`harbor_protocol::form`), starting from the schema's defaults; what the user
//! typed is checked field by field here, and again by the bridge before the server sees it.

use std::collections::HashMap;

use harbor_protocol::api::asks::{Action, Asked, AsksAnswer, SampledMessage, UserAnswer, UserAsk};
use harbor_protocol::form::{self, Field, FieldKind};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};

use crate::bus::Bus;

#[component]
pub fn AsksPanel(bus: Bus) -> impl IntoView {
    let asks = bus.asks();
    view! {
        <section class="asks" aria-label="Servers asking you" hidden=move || asks.get().is_empty()>
            <For each=move || asks.get() key=|ask| ask.ask_id let:ask>
                <AskCard bus=bus ask=ask/>
            </For>
        </section>
    }
}

#[component]
fn AskCard(bus: Bus, ask: UserAsk) -> impl IntoView {
    let failure = RwSignal::new(None::<String>);
    let sending = RwSignal::new(false);
    let ask_id = ask.ask_id;
    let send = move |action: Action, content: Option<Map<String, Value>>| {
        sending.set(true);
        spawn_local(async move {
            // On success the ask closes everywhere (`asks.changed`) and this card goes with it.
            if let Err(error) = bus.call::<AsksAnswer>(UserAnswer { ask_id, action, content }).await {
                failure.set(Some(error.message));
            }
            sending.set(false);
        });
    };
    let heading = format!("{} asks you", ask.server_id);
    let callers = match ask.callers.as_slice() {
        [] => None,
        callers => Some(format!("During a call for {}.", callers.join(", "))),
    };
    let body = match ask.asked {
        Asked::Form { message, requested_schema } => match form::fields(&requested_schema) {
            Ok(fields) => view! { <FormAsk message=message fields=fields send=send sending=sending/> }.into_any(),
            Err(why) => view! { <p class="error">{why}</p> }.into_any(),
        },
        Asked::Url { message, url, .. } => {
            view! { <UrlAsk message=message url=url send=send sending=sending/> }.into_any()
        }
        Asked::Sampling { system_prompt, messages, max_tokens, answer } => view! {
            <SamplingAsk system_prompt=system_prompt messages=messages max_tokens=max_tokens answer=answer send=send sending=sending/>
        }
        .into_any(),
    };
    let label = heading.clone();
    view! {
        <article class="card ask" data-ask=ask_id.to_string() aria-label=label>
            <h2 class="ask-head">{heading}</h2>
            {callers.map(|c| view! { <p class="help">{c}</p> })}
            {body}
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </article>
    }
}

/// The buttons every kind of ask ends with but the form's own.
#[component]
fn Refuse(
    send: impl Fn(Action, Option<Map<String, Value>>) + Copy + 'static,
    sending: RwSignal<bool>,
) -> impl IntoView {
    view! {
        <button type="button" class="decline" disabled=move || sending.get() on:click=move |_| send(Action::Decline, None)>"Decline"</button>
        <button type="button" class="cancel" disabled=move || sending.get() on:click=move |_| send(Action::Cancel, None)>"Not now"</button>
    }
}

#[component]
fn FormAsk(
    message: String,
    fields: Vec<Field>,
    send: impl Fn(Action, Option<Map<String, Value>>) + Copy + 'static,
    sending: RwSignal<bool>,
) -> impl IntoView {
    // What is in each input now, as typed (text, numbers, a single choice), or as set.
    let typed: RwSignal<HashMap<String, Value>> = RwSignal::new(
        fields
            .iter()
            .map(|f| {
                let start = match (&f.kind, &f.default) {
                    (FieldKind::Boolean, d) => d.clone().unwrap_or(Value::Bool(false)),
                    (FieldKind::Choices { .. }, d) => d.clone().unwrap_or(Value::Array(Vec::new())),
                    (_, Some(Value::String(s))) => Value::String(s.clone()),
                    (_, Some(other)) => Value::String(other.to_string()),
                    (_, None) => Value::String(String::new()),
                };
                (f.name.clone(), start)
            })
            .collect(),
    );
    let problem = RwSignal::new(None::<String>);
    let all = fields.clone();
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match content(&all, &typed.get_untracked()) {
            Ok(content) => {
                problem.set(None);
                send(Action::Accept, Some(content));
            }
            Err(why) => problem.set(Some(why)),
        }
    };
    let inputs = fields.into_iter().map(|field| view! { <FieldInput field=field typed=typed/> }).collect_view();
    view! {
        <form class="ask-form" on:submit=submit>
            <p class="ask-message">{message}</p>
            {inputs}
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <div class="actions">
                <button type="submit" class="accept" disabled=move || sending.get()>"Send"</button>
                <Refuse send=send sending=sending/>
            </div>
        </form>
    }
}

/// The form's answer from what is in its inputs, or the first field that does not fit.
fn content(fields: &[Field], typed: &HashMap<String, Value>) -> Result<Map<String, Value>, String> {
    let mut content = Map::new();
    for field in fields {
        let value = match (&field.kind, typed.get(&field.name)) {
            (_, Some(Value::String(text))) => field.parse(text)?,
            (FieldKind::Choices { .. }, Some(Value::Array(picked))) if picked.is_empty() && !field.required => None,
            (_, Some(value)) => Some(value.clone()),
            (_, None) => None,
        };
        if let Some(value) = value {
            content.insert(field.name.clone(), value);
        }
    }
    form::check(fields, &content)?;
    Ok(content)
}

#[component]
fn FieldInput(field: Field, typed: RwSignal<HashMap<String, Value>>) -> impl IntoView {
    let id = format!("ask-field-{}", field.name);
    let name = field.name.clone();
    let label = if field.required { format!("{} (required)", field.title) } else { field.title.clone() };
    let about = field.description.clone().map(|d| view! { <span class="help field-about">{d}</span> });
    let key = name.clone();
    let set = move |value: Value| {
        typed.update(|t| {
            t.insert(key.clone(), value);
        })
    };
    let current = {
        let name = name.clone();
        move || typed.with(|t| t.get(&name).cloned().unwrap_or(Value::Null))
    };
    let text_of = move |value: Value| match value {
        Value::String(s) => s,
        _ => String::new(),
    };
    let input = match field.kind.clone() {
        FieldKind::Boolean => view! {
            <input type="checkbox" id=id.clone() name=name.clone()
                prop:checked=move || current().as_bool().unwrap_or(false)
                on:change=move |e| set(Value::Bool(event_target_checked(&e)))/>
        }
        .into_any(),
        FieldKind::Choice { options } => {
            let none = (!field.required).then(|| view! { <option value="">"—"</option> });
            let options =
                options.into_iter().map(|o| view! { <option value=o.value.clone()>{o.label}</option> }).collect_view();
            view! {
                <select id=id.clone() name=name.clone() prop:value=move || text_of(current())
                    on:change=move |e| set(Value::String(event_target_value(&e)))>
                    {none}{options}
                </select>
            }
            .into_any()
        }
        FieldKind::Choices { options, .. } => {
            let boxes = options
                .into_iter()
                .map(|o| {
                    let value = o.value.clone();
                    let picked = {
                        let value = value.clone();
                        let current = current.clone();
                        move || current().as_array().is_some_and(|a| a.iter().any(|v| v.as_str() == Some(&value)))
                    };
                    let set = set.clone();
                    let current = current.clone();
                    let toggle = move |e| {
                        let mut now: Vec<Value> = current().as_array().cloned().unwrap_or_default();
                        now.retain(|v| v.as_str() != Some(&value));
                        if event_target_checked(&e) {
                            now.push(Value::String(value.clone()));
                        }
                        set(Value::Array(now));
                    };
                    view! {
                        <label class="check"><input type="checkbox" prop:checked=picked on:change=toggle/>{o.label}</label>
                    }
                })
                .collect_view();
            view! { <div class="choices" id=id.clone() role="group">{boxes}</div> }.into_any()
        }
        FieldKind::Text { format, .. } => {
            let kind = match format.as_deref() {
                Some("email") => "email",
                Some("uri") => "url",
                Some("date") => "date",
                Some("date-time") => "datetime-local",
                _ => "text",
            };
            view! {
                <input type=kind id=id.clone() name=name.clone() prop:value=move || text_of(current())
                    on:input=move |e| set(Value::String(event_target_value(&e)))/>
            }
            .into_any()
        }
        FieldKind::Number { integer, .. } => view! {
            <input type="number" step=if integer { "1" } else { "any" } id=id.clone() name=name.clone()
                prop:value=move || text_of(current())
                on:input=move |e| set(Value::String(event_target_value(&e)))/>
        }
        .into_any(),
    };
    view! {
        <div class="ask-field">
            <label for=id>{label}</label>
            {about}
            {input}
        </div>
    }
}

#[component]
fn UrlAsk(
    message: String,
    url: String,
    send: impl Fn(Action, Option<Map<String, Value>>) + Copy + 'static,
    sending: RwSignal<bool>,
) -> impl IntoView {
    // The address is shown whole, its site first, so the user sees where it leads before going.
    let site = url.split('/').nth(2).unwrap_or_default().to_owned();
    view! {
        <p class="ask-message">{message}</p>
        <p class="help">"It wants you to open a page on "<strong class="ask-site">{site}</strong>":"</p>
        <pre class="command ask-url">{url.clone()}</pre>
        <div class="actions">
            <a class="button accept" href=url target="_blank" rel="noopener noreferrer"
                on:click=move |_| send(Action::Accept, None)>"Open page"</a>
            <Refuse send=send sending=sending/>
        </div>
    }
}

#[component]
fn SamplingAsk(
    system_prompt: Option<String>,
    messages: Vec<SampledMessage>,
    max_tokens: u64,
    answer: Option<String>,
    send: impl Fn(Action, Option<Map<String, Value>>) + Copy + 'static,
    sending: RwSignal<bool>,
) -> impl IntoView {
    let shown =
        messages.into_iter().map(|m| view! { <li><span class="badge">{m.role}</span>" "{m.text}</li> }).collect_view();
    // Asked twice: before the model runs, then with its answer, before the server gets it.
    let accept = if answer.is_some() { "Send this answer" } else { "Let my model answer" };
    view! {
        <p class="ask-message">{format!("It wants your model to answer (up to {max_tokens} tokens):")}</p>
        {system_prompt.map(|s| view! { <p class="help">"Instructions: "{s}</p> })}
        <ul class="sampled">{shown}</ul>
        {answer.map(|a| view! { <p class="help">"Your model answered:"</p><pre class="result sampled-answer">{a}</pre> })}
        <div class="actions">
            <button type="button" class="accept" disabled=move || sending.get()
                on:click=move |_| send(Action::Accept, None)>{accept}</button>
            <Refuse send=send sending=sending/>
        </div>
    }
}
