//! The Directory's form for servers Harbor runs itself: a REST API from its OpenAPI document
//! (where it answers, its token — to the OS keychain — and the skills that say how to use it), or
//! an MCP server written in JavaScript (the hosts its `fetch` may reach). A file by path, or by
//! URL with its SHA-256; the install goes through the Directory's progress box like any other.

use std::collections::BTreeMap;

use harbor_protocol::api::install::{InstallJsServerParams, InstallRestServiceParams};
use leptos::prelude::*;

use super::directory::Install;

/// Which kind of server the form adds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rest,
    Js,
}

/// What was typed: empty is none.
fn given(signal: RwSignal<String>) -> Option<String> {
    Some(signal.get_untracked().trim().to_owned()).filter(|s| !s.is_empty())
}

#[component]
pub fn AddHosted(install: impl Fn(Install, String) + Copy + Send + Sync + 'static) -> impl IntoView {
    let kind = RwSignal::new(Kind::Rest);
    let source = RwSignal::new(String::new());
    let sha256 = RwSignal::new(String::new());
    let id = RwSignal::new(String::new());
    let base_url = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let skills = RwSignal::new(String::new());
    let hosts = RwSignal::new(String::new());
    let field = |label: &'static str, name: &'static str, value: RwSignal<String>, placeholder: &'static str| {
        view! {
            <label for=name>{label}</label>
            <input id=name type="text" spellcheck="false" placeholder=placeholder
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(from) = given(source) else { return };
        let what = match kind.get_untracked() {
            Kind::Rest => {
                let secrets: BTreeMap<String, String> =
                    given(token).map(|t| ("HARBOR_API_TOKEN".to_owned(), t)).into_iter().collect();
                Install::RestService(InstallRestServiceParams {
                    source: from.clone(),
                    sha256: given(sha256),
                    id: given(id),
                    base_url: given(base_url),
                    skills: given(skills),
                    secrets,
                    ..InstallRestServiceParams::default()
                })
            }
            Kind::Js => Install::JsServer(InstallJsServerParams {
                source: from.clone(),
                sha256: given(sha256),
                id: given(id),
                allow_hosts: hosts
                    .get_untracked()
                    .split([',', ' ', '\n'])
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
                    .collect(),
                ..InstallJsServerParams::default()
            }),
        };
        // The token is in the keychain now (or the install says why not): not kept in the form.
        token.set(String::new());
        install(what, from);
    };
    view! {
        <details class="add-hosted">
            <summary>"Add a REST API or a JavaScript server"</summary>
            <form class="hosted-form" on:submit=submit>
                <label for="hosted-kind">"Kind"</label>
                <select id="hosted-kind" on:change=move |ev| {
                    kind.set(if event_target_value(&ev) == "js" { Kind::Js } else { Kind::Rest });
                }>
                    <option value="rest" selected=true>"REST API (OpenAPI document)"</option>
                    <option value="js">"JavaScript server (one file)"</option>
                </select>
                {field("File or URL", "hosted-source", source, "/path/to/openapi.yaml or https://…")}
                {field("SHA-256", "hosted-sha256", sha256, "required for a URL")}
                {field("Id", "hosted-id", id, "from the file's name if empty")}
                {move || match kind.get() {
                    Kind::Rest => view! {
                        {field("Base URL", "hosted-base-url", base_url, "if the document names none")}
                        <label for="hosted-token">"Token"</label>
                        <input id="hosted-token" type="password" autocomplete="off" placeholder="a bearer token, to your keychain"
                            prop:value=move || token.get() on:input=move |ev| token.set(event_target_value(&ev))/>
                        {field("Skills", "hosted-skills", skills, "a SKILL.md file or a folder of skills")}
                    }.into_any(),
                    Kind::Js => view! {
                        {field("Hosts", "hosted-hosts", hosts, "hosts its fetch may reach, comma-separated")}
                    }.into_any(),
                }}
                <button type="submit">"Add"</button>
            </form>
        </details>
    }
}
