//! Which model servers Harbor uses: the configured providers, the active one and its model, and
//! finding servers that run on this machine.
//!
//! With nothing configured, Harbor uses Ollama at its default address (`OLLAMA_HOST` when set,
//! as Ollama itself does), so a user with Ollama running needs no setup. The configuration is
//! one setting (`llm`) in the database.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ollama::Ollama;
use super::openai::OpenAi;
use super::wire::{ApiKey, HttpProvider};
use super::{LlmError, Provider};
use crate::secrets::{SecretError, Secrets};
use crate::store::Store;

pub use harbor_protocol::api::llm::{Active, LlmSettings, ProviderConfig, ProviderKind, ProviderStatus};

const SETTING: &str = "llm";

/// Model servers that run on their usual local ports.
const WELL_KNOWN: &[(&str, ProviderKind, &str, &str)] = &[
    ("ollama", ProviderKind::Ollama, "Ollama", "http://127.0.0.1:11434"),
    ("lmstudio", ProviderKind::OpenAi, "LM Studio", "http://127.0.0.1:1234"),
    ("llamafile", ProviderKind::OpenAi, "llamafile / llama.cpp", "http://127.0.0.1:8080"),
    ("vllm", ProviderKind::OpenAi, "vLLM", "http://127.0.0.1:8000"),
    ("jan", ProviderKind::OpenAi, "Jan", "http://127.0.0.1:1337"),
];

/// The notification of a change to the providers or the choice between them.
pub const LLM_CHANGED: &str = "llm.changed";

/// The model servers and the choice between them.
pub struct Llm {
    store: Store,
    http: crate::http::Lazy,
    /// `(provider, model)` pairs that refused native tools, for the text tool format.
    text_tools: Mutex<HashSet<(String, String)>>,
    /// Where API keys live; without it (unit tests, benchmarks) providers send none.
    secrets: Option<Arc<Secrets>>,
    /// Told `llm.changed` when the providers or the choice between them change.
    notifier: Option<crate::rpc::Notifier>,
    /// The built-in engine's folder (`<data>/models`): the `builtin` provider, listed whenever
    /// this Harbor has the engine, and the default when no model server answers.
    models: Option<std::path::PathBuf>,
    /// The catalog models downloading now (one download each at a time).
    downloading: Mutex<HashSet<String>>,
}

/// The built-in provider's id.
pub const BUILTIN: &str = "builtin";

/// The setting that holds the models' mirror.
const MIRROR: &str = "builtin.mirror";

impl Llm {
    pub fn new(store: Store) -> Llm {
        let http = crate::http::Lazy::new(|builder| {
            builder
                .connect_timeout(Duration::from_secs(3))
                // Loading a large model can take minutes before the first token; a stream that
                // says nothing for this long is dead.
                .read_timeout(Duration::from_secs(300))
        });
        Llm {
            store,
            http,
            text_tools: Mutex::default(),
            secrets: None,
            notifier: None,
            models: None,
            downloading: Mutex::default(),
        }
    }

    /// The built-in engine reads its models from `folder`.
    pub fn with_models(mut self, folder: std::path::PathBuf) -> Llm {
        self.models = Some(folder);
        self
    }

    /// The built-in provider over the models folder, when this Harbor has the engine.
    fn builtin_config(&self) -> Option<ProviderConfig> {
        let folder = self.models.as_ref().filter(|_| cfg!(feature = "builtin-model"))?;
        Some(ProviderConfig {
            id: BUILTIN.into(),
            kind: ProviderKind::Builtin,
            name: "Built-in model".into(),
            base_url: folder.display().to_string(),
            api_key_secret: None,
        })
    }

    /// The built-in engine's catalog and folder.
    pub fn catalog(&self) -> harbor_protocol::api::llm::BuiltinCatalog {
        let folder = self.models.clone().unwrap_or_default();
        harbor_protocol::api::llm::BuiltinCatalog {
            folder: folder.display().to_string(),
            engine: cfg!(feature = "builtin-model"),
            models: super::catalog::listed(&folder),
        }
    }

    /// Downloads catalog model `id` into the models folder (see `catalog`), reporting progress.
    pub async fn download(
        &self,
        id: &str,
        from: Option<&str>,
        progress: impl FnMut(u64, u64),
    ) -> Result<harbor_protocol::api::llm::Downloaded, harbor_protocol::ErrorObject> {
        use harbor_protocol::{ErrorCode, ErrorObject};
        let folder = self.models.clone().ok_or_else(|| ErrorObject::invalid("this bridge has no models folder"))?;
        if !super::catalog::entries().iter().any(|e| e.model.id == id) {
            return Err(ErrorObject::invalid(format!("the catalog has no model {id:?}; see llm.builtin.catalog")));
        }
        if !self.downloading.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned()) {
            return Err(ErrorObject::invalid(format!("{id} is downloading already; wait for that download")));
        }
        let mirrored = self.mirror().map(|base| {
            let file = super::catalog::entries()
                .into_iter()
                .find(|e| e.model.id == id)
                .map(|e| e.url.rsplit('/').next().unwrap_or_default().to_owned());
            format!("{}/{}", base.trim_end_matches('/'), file.unwrap_or_default())
        });
        let from = from.map(str::to_owned).or(mirrored);
        let outcome = match self.http.get() {
            Ok(http) => super::catalog::download(id, &folder, from.as_deref(), &http, progress).await.map_err(|e| e.0),
            Err(why) => Err(why),
        };
        let outcome = outcome.map_err(|why| ErrorObject::new(ErrorCode::ModelFailed, why));
        self.downloading.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        let path = outcome?;
        if let Some(notifier) = &self.notifier {
            notifier.publish(LLM_CHANGED, serde_json::json!({}));
        }
        let model = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(harbor_protocol::api::llm::Downloaded { model, path: path.display().to_string() })
    }

    /// The mirror catalog models download from (`llm.builtin.mirror`), if one is set.
    pub fn mirror(&self) -> Option<String> {
        self.store.setting::<harbor_protocol::api::llm::Mirror>(MIRROR).ok().flatten().and_then(|m| m.url)
    }

    pub fn set_mirror(&self, url: Option<String>) -> Result<(), harbor_protocol::ErrorObject> {
        if let Some(url) = &url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| harbor_protocol::ErrorObject::invalid(format!("{url:?} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(harbor_protocol::ErrorObject::invalid(format!(
                    "{url:?} must be an http:// or https:// URL"
                )));
            }
        }
        let mirror = harbor_protocol::api::llm::Mirror { url };
        self.store.set_setting(MIRROR, &mirror).map_err(|e| harbor_protocol::ErrorObject::invalid(format!("{e:#}")))
    }

    /// [`Llm::download`] with its progress sent to `events` (about every MiB, and at the end).
    pub async fn download_reporting(
        &self,
        id: &str,
        from: Option<&str>,
        events: &crate::rpc::EventSink,
    ) -> Result<harbor_protocol::api::llm::Downloaded, harbor_protocol::ErrorObject> {
        use harbor_protocol::api::llm::DownloadProgress;
        let (tell, mut told) = tokio::sync::mpsc::channel::<DownloadProgress>(4);
        let relay = async {
            while let Some(progress) = told.recv().await {
                events.emit(&progress).await;
            }
        };
        let mut last = 0u64;
        let downloading = async move {
            let outcome = self
                .download(id, from, |loaded, total| {
                    if loaded == total || loaded >= last + (1 << 20) || loaded < last {
                        last = loaded;
                        let _ = tell.try_send(DownloadProgress { loaded, total });
                    }
                })
                .await;
            drop(tell);
            outcome
        };
        let (outcome, ()) = tokio::join!(downloading, relay);
        outcome
    }

    /// The catalog model a page may have downloaded now (the first not installed), when this
    /// Harbor has the engine; and whether one is downloading.
    pub fn downloadable(&self) -> (Option<String>, bool) {
        if !cfg!(feature = "builtin-model") || self.models.is_none() {
            return (None, false);
        }
        let catalog = self.catalog();
        let next = catalog.models.into_iter().find(|m| !m.installed).map(|m| m.id);
        (next, !self.downloading.lock().unwrap_or_else(|p| p.into_inner()).is_empty())
    }

    /// The built-in provider and its first model, if it has one now.
    async fn builtin_fallback(&self) -> Option<(Arc<dyn Provider>, String)> {
        let provider = builtin(self.builtin_config()?).ok()?;
        let first = provider.models().await.ok()?.into_iter().next()?;
        Some((provider, first.name))
    }

    /// Changes to the providers or the choice are published as `llm.changed` (the sidebar's
    /// model picker refreshes).
    pub fn with_notifier(mut self, notifier: crate::rpc::Notifier) -> Llm {
        self.notifier = Some(notifier);
        self
    }

    /// Providers' API keys come from `secrets`.
    pub fn with_secrets(mut self, secrets: Arc<Secrets>) -> Llm {
        self.secrets = Some(secrets);
        self
    }

    /// Keeps `key` as provider `id`'s API key in the keychain; returns the secret's id.
    pub async fn keep_api_key(&self, id: &str, key: &str) -> Result<String, SecretError> {
        let secrets = self.secrets.as_ref().ok_or_else(|| SecretError::Unavailable("no keychain here".into()))?;
        let secret = format!("llm/{id}");
        secrets.set(&secret, key).await?;
        Ok(secret)
    }

    /// The API key a provider stored before, so a change of URL or name keeps it.
    pub fn api_key_of(&self, id: &str) -> Option<String> {
        self.settings().ok()?.providers.into_iter().find(|p| p.id == id)?.api_key_secret
    }

    /// Forgets a removed provider's API key.
    pub async fn forget_api_key(&self, secret: &str) {
        if let Some(secrets) = &self.secrets {
            let _ = secrets.delete(secret).await;
        }
    }

    /// The providers (the built-in one always among them when this Harbor has the engine) and
    /// the choice between them.
    pub fn settings(&self) -> anyhow::Result<LlmSettings> {
        let mut settings: LlmSettings = self.store.setting(SETTING)?.unwrap_or_else(default_settings);
        if let Some(builtin) = self.builtin_config() {
            if !settings.providers.iter().any(|p| p.id == BUILTIN) {
                settings.providers.push(builtin);
            }
        }
        Ok(settings)
    }

    /// Adds or replaces a provider (by id).
    pub fn set_provider(&self, config: ProviderConfig) -> Result<LlmSettings, String> {
        check(&config)?;
        let mut settings = self.settings().map_err(|e| format!("{e:#}"))?;
        match settings.providers.iter_mut().find(|p| p.id == config.id) {
            Some(existing) => *existing = config,
            None => settings.providers.push(config),
        }
        self.save(settings)
    }

    pub fn remove_provider(&self, id: &str) -> Result<LlmSettings, String> {
        let mut settings = self.settings().map_err(|e| format!("{e:#}"))?;
        let before = settings.providers.len();
        settings.providers.retain(|p| p.id != id);
        if settings.providers.len() == before {
            return Err(format!("no provider {id:?}"));
        }
        if settings.active.provider.as_deref() == Some(id) {
            settings.active = Active { provider: settings.providers.first().map(|p| p.id.clone()), model: None };
        }
        self.save(settings)
    }

    /// Makes `provider` (and `model`, when given) the default.
    pub fn select(&self, provider: &str, model: Option<String>) -> Result<LlmSettings, String> {
        let mut settings = self.settings().map_err(|e| format!("{e:#}"))?;
        if !settings.providers.iter().any(|p| p.id == provider) {
            return Err(format!("no provider {provider:?}; add it first"));
        }
        settings.active = Active { provider: Some(provider.to_owned()), model };
        self.save(settings)
    }

    fn save(&self, settings: LlmSettings) -> Result<LlmSettings, String> {
        self.store.set_setting(SETTING, &settings).map_err(|e| format!("cannot save the model settings: {e:#}"))?;
        if let Some(notifier) = &self.notifier {
            notifier.publish(LLM_CHANGED, serde_json::json!({}));
        }
        Ok(settings)
    }

    /// The provider `id`, or the active one.
    pub fn provider(&self, id: Option<&str>) -> Result<Arc<dyn Provider>, LlmError> {
        let settings = self.settings().map_err(|e| LlmError::Failed(format!("{e:#}")))?;
        let id = id.map(str::to_owned).or(settings.active.provider.clone());
        let config = match &id {
            Some(id) => settings.providers.iter().find(|p| &p.id == id),
            None => settings.providers.first(),
        };
        let config = config.cloned().ok_or_else(|| LlmError::Unavailable {
            url: "(none)".into(),
            why: match id {
                Some(id) => format!("no provider {id:?} is configured"),
                None => "no provider is configured".into(),
            },
            fix: "Add a model provider in Harbor's settings.".into(),
        })?;
        self.build(config)
    }

    fn build(&self, config: ProviderConfig) -> Result<Arc<dyn Provider>, LlmError> {
        if config.kind == ProviderKind::Builtin {
            return builtin(config);
        }
        let http = self.http.get().map_err(LlmError::Failed)?;
        let key = match (&config.api_key_secret, &self.secrets) {
            (Some(id), Some(secrets)) => Some(ApiKey { secrets: secrets.clone(), id: id.clone() }),
            _ => None,
        };
        Ok(match config.kind {
            ProviderKind::Ollama => Arc::new(HttpProvider::<Ollama>::new(config, http, key)),
            ProviderKind::OpenAi => Arc::new(HttpProvider::<OpenAi>::new(config, http, key)),
            ProviderKind::Builtin => return builtin(config),
        })
    }

    /// The provider and model to use: the ones named, else the active ones, else the active
    /// provider's first model.
    pub async fn resolve(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<(Arc<dyn Provider>, String), LlmError> {
        let settings = self.settings().map_err(|e| LlmError::Failed(format!("{e:#}")))?;
        let chosen = self.provider(provider)?;
        if let Some(model) = model {
            return Ok((chosen, model.to_owned()));
        }

        if settings.active.provider.as_deref() == Some(chosen.config().id.as_str()) {
            if let Some(model) = settings.active.model {
                return Ok((chosen, model));
            }
        }
        let models = match chosen.models().await {
            Ok(models) => models,
            // No provider named, no model chosen, and the server not answering (the defaults on a
            // machine with no model server): the built-in model, when it has one.
            Err(error @ LlmError::Unavailable { .. })
                if provider.is_none() && chosen.config().kind != ProviderKind::Builtin =>
            {
                return self.builtin_fallback().await.ok_or(error);
            }
            Err(error) => return Err(error),
        };
        let first = models.into_iter().next().ok_or_else(|| LlmError::Unavailable {
            url: chosen.config().base_url.clone(),
            why: "it runs but offers no models".into(),
            fix: match chosen.config().kind {
                ProviderKind::Ollama => "Pull a model: `ollama pull llama3.2`.".into(),
                ProviderKind::OpenAi => "Load a model in the model server.".into(),
                ProviderKind::Builtin => ProviderKind::Builtin.start_hint().into(),
            },
        })?;
        Ok((chosen, first.name))
    }

    /// Every configured provider and the well-known local ones, each probed now (concurrently,
    /// each within a second).
    pub async fn status(&self) -> anyhow::Result<(Vec<ProviderStatus>, Active)> {
        let settings = self.settings()?;
        let mut candidates: Vec<(ProviderConfig, bool)> =
            settings.providers.iter().map(|p| (p.clone(), false)).collect();
        for (id, kind, name, url) in WELL_KNOWN {
            let taken = candidates.iter().any(|(p, _)| p.base_url.trim_end_matches('/') == *url || p.id == *id);
            if !taken {
                let config = ProviderConfig {
                    id: (*id).into(),
                    kind: *kind,
                    name: (*name).into(),
                    base_url: (*url).into(),
                    api_key_secret: None,
                };
                candidates.push((config, true));
            }
        }
        let default = settings.active.provider.clone().or(settings.providers.first().map(|p| p.id.clone()));
        let probes = candidates.into_iter().map(|(config, detected)| {
            let provider = self.build(config.clone());
            let is_default = default.as_deref() == Some(config.id.as_str()) && !detected;
            async move {
                let answer = match provider {
                    Ok(provider) => tokio::time::timeout(Duration::from_secs(1), provider.models()).await,
                    Err(error) => Ok(Err(error)),
                };
                let (models, error) = match answer {
                    Ok(Ok(models)) => (models.into_iter().map(|m| m.name).collect(), None),
                    Ok(Err(error)) => (Vec::new(), Some(error.to_string())),
                    Err(_) => (Vec::new(), Some(format!("{} did not answer within a second", config.base_url))),
                };
                ProviderStatus { available: error.is_none(), config, models, is_default, error, detected }
            }
        });
        let mut found = futures::future::join_all(probes).await;
        // Well-known ports that nothing answers on are noise, not news.
        found.retain(|p| !p.detected || p.available);
        Ok((found, settings.active))
    }

    /// Whether `(provider, model)` needs the text tool format.
    pub fn uses_text_tools(&self, provider: &str, model: &str) -> bool {
        self.text_tools.lock().unwrap_or_else(|p| p.into_inner()).contains(&(provider.to_owned(), model.to_owned()))
    }

    /// Remembers that `(provider, model)` refused native tools.
    pub fn use_text_tools(&self, provider: &str, model: &str) {
        self.text_tools.lock().unwrap_or_else(|p| p.into_inner()).insert((provider.to_owned(), model.to_owned()));
    }
}

fn check(config: &ProviderConfig) -> Result<(), String> {
    let id_ok = !config.id.is_empty()
        && config.id.len() <= 32
        && config.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        return Err(format!("provider id {:?} is not valid: use 1 to 32 letters, digits, '-' or '_'", config.id));
    }
    if config.kind == ProviderKind::Builtin {
        // A file or folder on this machine, which need not exist yet (a model to download).
        let path = config.base_url.strip_prefix("file://").unwrap_or(&config.base_url);
        if !std::path::Path::new(path).is_absolute() {
            return Err(format!(
                "{:?} must be the absolute path of a .gguf file or of a folder of them",
                config.base_url
            ));
        }
        return Ok(());
    }
    let url = reqwest::Url::parse(&config.base_url).map_err(|e| format!("{:?} is not a URL: {e}", config.base_url))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{:?} must be an http:// or https:// URL", config.base_url));
    }
    Ok(())
}

fn default_settings() -> LlmSettings {
    let ollama = ProviderConfig {
        id: "ollama".into(),
        kind: ProviderKind::Ollama,
        name: "Ollama".into(),
        base_url: default_ollama_url(std::env::var("OLLAMA_HOST").ok().as_deref()),
        api_key_secret: None,
    };
    LlmSettings { providers: vec![ollama], active: Active { provider: Some("ollama".into()), model: None } }
}

/// Ollama's address from `OLLAMA_HOST` the way Ollama reads it (`host`, `host:port` or a URL;
/// `0.0.0.0` means this machine), else `http://127.0.0.1:11434`.
fn default_ollama_url(host: Option<&str>) -> String {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return "http://127.0.0.1:11434".into();
    };
    let (scheme, rest) = match host.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("http", host),
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.replacen("0.0.0.0", "127.0.0.1", 1);
    let has_port = rest.rsplit_once(':').is_some_and(|(_, port)| port.chars().all(|c| c.is_ascii_digit()));
    if has_port {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}:11434")
    }
}

/// The built-in provider, when this bridge was built with it (the `builtin-model` feature).
fn builtin(config: ProviderConfig) -> Result<Arc<dyn Provider>, LlmError> {
    #[cfg(feature = "builtin-model")]
    return Ok(Arc::new(super::builtin::BuiltinProvider::new(config)));
    #[cfg(not(feature = "builtin-model"))]
    Err(LlmError::Unavailable {
        url: config.base_url,
        why: "this Harbor was built without its built-in model".into(),
        fix: "Use a model server (Ollama, LM Studio, …), or a Harbor built with the `builtin-model` feature.".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_is_read_like_ollama_reads_it() {
        assert_eq!(default_ollama_url(None), "http://127.0.0.1:11434");
        assert_eq!(default_ollama_url(Some("0.0.0.0")), "http://127.0.0.1:11434");
        assert_eq!(default_ollama_url(Some("box.lan:9999")), "http://box.lan:9999");
        assert_eq!(default_ollama_url(Some("https://ollama.example/")), "https://ollama.example:11434");
    }

    #[test]
    fn providers_are_added_selected_and_removed() {
        let llm = Llm::new(Store::in_memory().unwrap());
        let lm = ProviderConfig {
            id: "lm".into(),
            kind: ProviderKind::OpenAi,
            name: "LM Studio".into(),
            base_url: "http://127.0.0.1:1234".into(),
            api_key_secret: None,
        };
        assert!(llm.set_provider(ProviderConfig { base_url: "ftp://x".into(), ..lm.clone() }).is_err());
        llm.set_provider(lm.clone()).unwrap();
        let settings = llm.select("lm", Some("qwen".into())).unwrap();
        assert_eq!(settings.providers.len(), 2);
        assert_eq!(settings.active, Active { provider: Some("lm".into()), model: Some("qwen".into()) });
        assert!(llm.select("ghost", None).is_err());
        let settings = llm.remove_provider("lm").unwrap();
        assert_eq!(settings.active.provider.as_deref(), Some("ollama"));
    }
}
