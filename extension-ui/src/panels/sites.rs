//! The sites panel: every origin that asked for something, with each scope's grant (change it,
//! or clear a denial), its "allow once" grants per tab, the tools it may use, and its limits and
//! budgets with what it used. A tool whose server changed it since the user allowed it is shown
//! with what changed and a button to approve the new version (until then the site cannot use
//! it). Tool names are shown with invisible and look-alike characters made visible, and a tool
//! whose name imitates another server's is marked. Refetches on the bridge's
//! `permissions.changed` notifications.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use harbor_protocol::shown::visible_name;

use super::changed::changed_tools;
use crate::bus::Bus;

const SCOPES: [(&str, &str); 6] = [
    ("model:prompt", "Use your AI model"),
    ("model:tools", "Let the model use tools"),
    ("model:list", "See your models"),
    ("mcp:tools.list", "See allowed tools"),
    ("mcp:tools.call", "Run allowed tools"),
    ("browser:activeTab.read", "Read the active tab"),
];

#[component]
pub fn SitesPanel(bus: Bus) -> impl IntoView {
    let revision = bus.revision();
    let sites = LocalResource::new(move || {
        revision.track();
        async move { bus.request("permissions.sites", json!({})).await }
    });
    let tools = LocalResource::new(move || {
        revision.track();
        async move { bus.request("tools.list", json!({})).await }
    });
    view! {
        <section class="card sites" aria-labelledby="sites-title">
            <h2 id="sites-title">"Sites"</h2>
            {move || match sites.get() {
                None => view! { <p class="help">"Loading sites…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error" role="alert">{format!("Could not list sites: {}", error.message)}</p> }.into_any(),
                Some(Ok(list)) if list.as_array().is_none_or(|l| l.is_empty()) => view! {
                    <p class="help empty">"No site has asked for anything yet. When a page uses window.ai or window.agent, it appears here."</p>
                }.into_any(),
                Some(Ok(list)) => {
                    let catalog: Vec<(String, Option<String>)> = tools
                        .get()
                        .and_then(|t| t.ok())
                        .and_then(|t| t.as_array().cloned())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|t| {
                            let name = t["name"].as_str()?.to_owned();
                            Some((name, t["imitates"].as_str().map(str::to_owned)))
                        })
                        .collect();
                    view! {
                        <ul class="site-list">
                            {list.as_array().cloned().unwrap_or_default().into_iter().map(|site| {
                                view! { <SiteCard bus=bus site=site catalog=catalog.clone()/> }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn SiteCard(bus: Bus, site: Value, catalog: Vec<(String, Option<String>)>) -> impl IntoView {
    let origin = site["origin"].as_str().unwrap_or_default().to_owned();
    let failure = RwSignal::new(None::<String>);
    let send = move |method: &'static str, params: Value| {
        spawn_local(async move {
            failure.set(bus.request(method, params).await.err().map(|e| e.message));
        })
    };
    let allowed: Vec<String> =
        site["allowedTools"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect();
    let mut tool_names = catalog;
    for tool in &allowed {
        if !tool_names.iter().any(|(name, _)| name == tool) {
            tool_names.push((tool.clone(), None));
        }
    }
    let changed = {
        let origin = origin.clone();
        let items = site["changedTools"].as_array().cloned().unwrap_or_default();
        changed_tools(items, "This site", move |tool| {
            let params = json!({ "origin": origin, "tool": tool });
            spawn_local(async move {
                failure.set(bus.request("permissions.approveTool", params).await.err().map(|e| e.message));
            });
        })
    };
    let chosen = RwSignal::new(allowed);
    let scope_rows = SCOPES.iter().map(|(scope, label)| {
        let grant = site["scopes"][*scope].as_str().unwrap_or("NOT_GRANTED").to_owned();
        let origin = origin.clone();
        let id = format!("grant-{}-{}", slug(&origin), slug(scope));
        view! {
            <div class="scope-row" data-scope=*scope>
                <label for=id.clone()>{*label}</label>
                <select id=id on:change=move |ev| {
                    let value = event_target_value(&ev);
                    if value == "NOT_GRANTED" {
                        send("permissions.clear", json!({ "origin": origin, "scope": scope }));
                    } else {
                        send("permissions.set", json!({ "origin": origin, "scope": scope, "grant": value }));
                    }
                }>
                    {["NOT_GRANTED", "ALLOW_ALWAYS", "DENY"].into_iter().map(|option| {
                        let text = match option { "ALLOW_ALWAYS" => "Always allowed", "DENY" => "Denied", _ => "Ask" };
                        view! { <option value=option selected=grant == option>{text}</option> }
                    }).collect_view()}
                </select>
            </div>
        }
    }).collect_view();
    let once: Vec<String> = site["once"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let scopes: Vec<&str> = g["scopes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            format!("Allowed once in tab {}: {} ({} s left)", g["tabId"], scopes.join(", "), g["expiresInSeconds"])
        })
        .collect();
    let limits = site["limits"].clone();
    let usage = format!(
        "Used: {} tool calls this hour, {} model tokens today",
        site["usage"]["toolCallsThisHour"], site["usage"]["tokensToday"]
    );
    let field = |key: &'static str| RwSignal::new(limits[key].as_u64().map(|v| v.to_string()).unwrap_or_default());
    let (per_run, concurrent, timeout, per_hour, per_day) = (
        field("maxToolCallsPerRun"),
        field("maxConcurrentCalls"),
        field("toolTimeoutMs"),
        field("toolCallsPerHour"),
        field("tokensPerDay"),
    );
    let save_limits = {
        let origin = origin.clone();
        move || {
            let number = |s: RwSignal<String>| s.get_untracked().trim().parse::<u64>().ok();
            // Empty budgets are off; an empty limit takes its default.
            let mut limits = json!({ "toolCallsPerHour": number(per_hour), "tokensPerDay": number(per_day) });
            for (key, value) in
                [("maxToolCallsPerRun", per_run), ("maxConcurrentCalls", concurrent), ("toolTimeoutMs", timeout)]
            {
                if let Some(n) = number(value) {
                    limits[key] = json!(n);
                }
            }
            send("permissions.setLimits", json!({ "origin": origin, "limits": limits }));
        }
    };
    let tools_origin = origin.clone();
    let forget_origin = origin.clone();
    let slug_origin = slug(&origin);
    let tools_slug = slug_origin.clone();
    view! {
        <li class="site" data-origin=origin.clone()>
            <h3 class="site-origin">{origin.clone()}</h3>
            <div class="scope-grid">{scope_rows}</div>
            {changed}
            {once.into_iter().map(|line| view! { <p class="help once">{line}</p> }).collect_view()}
            <details class="site-tools">
                <summary>{move || format!("Tools it may use ({})", chosen.get().len())}</summary>
                {if tool_names.is_empty() {
                    view! { <p class="help">"No tools are running."</p> }.into_any()
                } else {
                    tool_names.into_iter().enumerate().map(|(i, (name, imitates))| {
                        let id = format!("tool-{tools_slug}-{i}");
                        let checked_name = name.clone();
                        let toggled_name = name.clone();
                        let tool_attr = name.clone();
                        let origin = tools_origin.clone();
                        view! {
                            <div class="tool-choice" data-tool=tool_attr>
                                <input type="checkbox" id=id.clone()
                                    prop:checked=move || chosen.get().contains(&checked_name)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|list| {
                                            list.retain(|t| *t != toggled_name);
                                            if on { list.push(toggled_name.clone()); }
                                        });
                                        send("permissions.setTools", json!({ "origin": origin, "tools": chosen.get_untracked() }));
                                    }/>
                                <label for=id>{visible_name(&name)}</label>
                                {imitates.map(|other| view! {
                                    <strong class="warning imitates">{format!("looks like {}", visible_name(&other))}</strong>
                                })}
                            </div>
                        }
                    }).collect_view().into_any()
                }}
            </details>
            <details class="site-limits">
                <summary>"Limits and budgets"</summary>
                <form class="limits" on:submit=move |ev| { ev.prevent_default(); save_limits(); }>
                    <NumberField prefix=slug_origin.clone() label="Tool calls per run" value=per_run/>
                    <NumberField prefix=slug_origin.clone() label="Calls at once" value=concurrent/>
                    <NumberField prefix=slug_origin.clone() label="Tool timeout (ms)" value=timeout/>
                    <NumberField prefix=slug_origin.clone() label="Tool calls per hour (empty: no budget)" value=per_hour/>
                    <NumberField prefix=slug_origin.clone() label="Model tokens per day (empty: no budget)" value=per_day/>
                    <button type="submit">"Save limits"</button>
                </form>
                <p class="help">{usage}</p>
            </details>
            <div class="actions">
                <button type="button" class="forget" on:click=move |_| send("permissions.clear", json!({ "origin": forget_origin }))>
                    "Forget this site"
                </button>
            </div>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </li>
    }
}

#[component]
fn NumberField(prefix: String, label: &'static str, value: RwSignal<String>) -> impl IntoView {
    let id = format!("limit-{prefix}-{}", slug(label));
    view! {
        <label for=id.clone()>{label}</label>
        <input type="number" min="0" id=id prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
    }
}

fn slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}
