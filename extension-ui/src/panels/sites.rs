//! The sites panel: every origin that asked for something, with each scope's grant (change it,
//! or clear a denial), its "allow once" grants per tab, the tools it may use, and its limits and
//! budgets with what it used. A tool whose server changed it since the user allowed it is shown
//! with what changed and a button to approve the new version (until then the site cannot use
//! it). Tool names are shown with invisible and look-alike characters made visible, and a tool
//! whose name imitates another server's is marked. Refetches on the bridge's
//! `permissions.changed` notifications.

use harbor_protocol::api::permissions::{
    ApproveTool, ClearGrants, Grant, Limits, PermissionsApproveTool, PermissionsClear, PermissionsSet,
    PermissionsSetLimits, PermissionsSetTools, PermissionsSites, Scope, SetGrant, SetLimits, SetTools, SiteSummary,
};
use harbor_protocol::api::tools::{ServerFilter, ToolsList};
use harbor_protocol::api::Empty;
use leptos::prelude::*;
use leptos::task::spawn_local;

use harbor_protocol::shown::visible_name;

use super::changed::changed_tools;
use crate::bus::Bus;

const SCOPES: [(Scope, &str); 14] = [
    (Scope::ModelPrompt, "Use your AI model"),
    (Scope::ModelTools, "Let the model use tools"),
    (Scope::ModelList, "See your models"),
    (Scope::ToolsList, "See allowed tools"),
    (Scope::ToolsCall, "Run allowed tools"),
    (Scope::ActiveTabRead, "Read the active tab"),
    (Scope::ActiveTabInteract, "Act in its page"),
    (Scope::ActiveTabScreenshot, "Take pictures of its page"),
    (Scope::TabsRead, "See this window's tabs"),
    (Scope::TabsCreate, "Open and close tabs"),
    (Scope::Navigate, "Navigate its tab"),
    (Scope::WebFetch, "Fetch other sites"),
    (Scope::ServersRegister, "Add its MCP server"),
    (Scope::ChatOpen, "Open Harbor's chat"),
];

/// What a site card's controls change.
#[derive(Clone)]
enum Change {
    Set(SetGrant),
    Clear(ClearGrants),
    Tools(SetTools),
    Limits(SetLimits),
}

#[component]
pub fn SitesPanel(bus: Bus) -> impl IntoView {
    let revision = bus.revision();
    let sites = LocalResource::new(move || {
        revision.track();
        async move { bus.call::<PermissionsSites>(Empty {}).await }
    });
    let tools = LocalResource::new(move || {
        revision.track();
        async move { bus.call::<ToolsList>(ServerFilter::default()).await }
    });
    view! {
        <section class="card sites" aria-labelledby="sites-title">
            <h2 id="sites-title">"Sites"</h2>
            {move || match sites.get() {
                None => view! { <p class="help">"Loading sites…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error" role="alert">{format!("Could not list sites: {}", error.message)}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="help empty">"No site has asked for anything yet. When a page uses window.ai or window.agent, it appears here."</p>
                }.into_any(),
                Some(Ok(list)) => {
                    let catalog: Vec<(String, Option<String>)> = tools
                        .get()
                        .and_then(|t| t.ok())
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| (t.name, t.imitates))
                        .collect();
                    view! {
                        <ul class="site-list">
                            {list.into_iter().map(|site| {
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
fn SiteCard(bus: Bus, site: SiteSummary, catalog: Vec<(String, Option<String>)>) -> impl IntoView {
    let origin = site.permissions.origin.clone();
    let failure = RwSignal::new(None::<String>);
    let send = move |change: Change| {
        spawn_local(async move {
            let outcome = match change {
                Change::Set(p) => bus.call::<PermissionsSet>(p).await,
                Change::Clear(p) => bus.call::<PermissionsClear>(p).await,
                Change::Tools(p) => bus.call::<PermissionsSetTools>(p).await,
                Change::Limits(p) => bus.call::<PermissionsSetLimits>(p).await,
            };
            failure.set(outcome.err().map(|e| e.message));
        })
    };
    let allowed = site.permissions.allowed_tools.clone();
    let mut tool_names = catalog;
    for tool in &allowed {
        if !tool_names.iter().any(|(name, _)| name == tool) {
            tool_names.push((tool.clone(), None));
        }
    }
    let changed = {
        let origin = origin.clone();
        changed_tools(site.changed_tools.clone(), "This site", move |tool| {
            let params = ApproveTool { origin: origin.clone(), tool };
            spawn_local(async move {
                failure.set(bus.call::<PermissionsApproveTool>(params).await.err().map(|e| e.message));
            });
        })
    };
    let chosen = RwSignal::new(allowed);
    let scope_rows = SCOPES.iter().map(|(scope, label)| {
        let scope = *scope;
        let grant = site.permissions.scopes.get(scope.as_str()).copied().unwrap_or(Grant::NotGranted);
        let origin = origin.clone();
        let id = format!("grant-{}-{}", slug(&origin), slug(scope.as_str()));
        view! {
            <div class="scope-row" data-scope=scope.as_str()>
                <label for=id.clone()>{*label}</label>
                <select id=id on:change=move |ev| {
                    let origin = origin.clone();
                    match event_target_value(&ev).as_str() {
                        "ALLOW_ALWAYS" => send(Change::Set(SetGrant { origin, scope, grant: Grant::AllowAlways })),
                        "DENY" => send(Change::Set(SetGrant { origin, scope, grant: Grant::Deny })),
                        _ => send(Change::Clear(ClearGrants { origin, scope: Some(scope) })),
                    }
                }>
                    {[Grant::NotGranted, Grant::AllowAlways, Grant::Deny].into_iter().map(|option| {
                        let text = match option { Grant::AllowAlways => "Always allowed", Grant::Deny => "Denied", _ => "Ask" };
                        // "Allow once" shows as what it falls back to: asking again.
                        let shown = if grant == Grant::AllowOnce { Grant::NotGranted } else { grant };
                        view! { <option value=option.as_str() selected=shown == option>{text}</option> }
                    }).collect_view()}
                </select>
            </div>
        }
    }).collect_view();
    let once: Vec<String> = site
        .once
        .iter()
        .map(|g| {
            let scopes: Vec<&str> = g.scopes.iter().map(|s| s.as_str()).collect();
            format!("Allowed once in tab {}: {} ({} s left)", g.tab_id, scopes.join(", "), g.expires_in_seconds)
        })
        .collect();
    let limits = site.limits.clone();
    let usage = format!(
        "Used: {} tool calls this hour, {} model tokens today",
        site.usage.tool_calls_this_hour, site.usage.tokens_today
    );
    let field = |value: Option<u64>| RwSignal::new(value.map(|v| v.to_string()).unwrap_or_default());
    let code_mode = RwSignal::new(limits.code_mode);
    let (per_run, concurrent, timeout, per_hour, per_day) = (
        field(Some(u64::from(limits.max_tool_calls_per_run))),
        field(Some(u64::from(limits.max_concurrent_calls))),
        field(Some(limits.tool_timeout_ms)),
        field(limits.tool_calls_per_hour.map(u64::from)),
        field(limits.tokens_per_day),
    );
    let save_limits = {
        let origin = origin.clone();
        move || {
            let number = |s: RwSignal<String>| s.get_untracked().trim().parse::<u64>().ok();
            let small = |s: RwSignal<String>| number(s).and_then(|n| u32::try_from(n).ok());
            // Empty budgets are off; an empty limit takes its default.
            let defaults = Limits::default();
            let limits = Limits {
                max_tool_calls_per_run: small(per_run).unwrap_or(defaults.max_tool_calls_per_run),
                max_concurrent_calls: small(concurrent).unwrap_or(defaults.max_concurrent_calls),
                tool_timeout_ms: number(timeout).unwrap_or(defaults.tool_timeout_ms),
                tool_calls_per_hour: small(per_hour),
                tokens_per_day: number(per_day),
                code_mode: code_mode.get_untracked(),
            };
            send(Change::Limits(SetLimits { origin: origin.clone(), limits }));
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
                                        send(Change::Tools(SetTools { origin: origin.clone(), tools: chosen.get_untracked() }));
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
                    <div class="tool-choice code-mode">
                        <input type="checkbox" id=format!("code-{slug_origin}") prop:checked=move || code_mode.get()
                            on:change=move |ev| code_mode.set(event_target_checked(&ev))/>
                        <label for=format!("code-{slug_origin}")>"Its agent runs in code mode (searches your tools and calls them from code)"</label>
                    </div>
                    <button type="submit">"Save limits"</button>
                </form>
                <p class="help">{usage}</p>
            </details>
            <div class="actions">
                <button type="button" class="forget" on:click=move |_| send(Change::Clear(ClearGrants { origin: forget_origin.clone(), scope: None }))>
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
