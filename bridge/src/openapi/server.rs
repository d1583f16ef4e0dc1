//! A REST service as an MCP server on stdin/stdout (`harbor-bridge openapi-server DOCUMENT`):
//! `tools/list` is the document's operations, `tools/call` one HTTP request to the service.
//!
//! Credentials come from the environment, where Harbor puts the server's secrets from the
//! keychain (`--secret HARBOR_API_TOKEN=ID`), and go where the document's security schemes say:
//! `HARBOR_API_TOKEN` as a bearer token, `HARBOR_API_KEY` in the apiKey scheme's header or query
//! parameter, `HARBOR_API_USERNAME`/`HARBOR_API_PASSWORD` as basic, and
//! `HARBOR_API_CLIENT_ID`/`HARBOR_API_CLIENT_SECRET` for an access token by OAuth client
//! credentials at the scheme's token URL (kept until a minute before it expires). A response is
//! the tool's result: JSON as structured content and text, anything else as text (at most
//! [`MAX_RESPONSE`]); a status other than 2xx is a tool error naming it, so the model sees why.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use rmcp::handler::server::skill_catalog::SkillCatalog;
use rmcp::model::{
    GetSkillRequestParams, GetSkillResult, ListResourcesResult, ListSkillsResult, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestParams, ReadResourceResponse,
};

use super::breaker::Breakers;
use super::{Location, Operation, Scheme, Service};

/// The most of a response body a tool result carries.
pub const MAX_RESPONSE: usize = 1 << 20;
/// How long one request to the service may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The service's credentials, from the environment.
#[derive(Clone, Default)]
pub struct Credentials {
    pub token: Option<String>,
    pub key: Option<String>,
    pub basic: Option<(String, String)>,
    pub client: Option<(String, String)>,
}

impl Credentials {
    pub fn from_env() -> Credentials {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Credentials {
            token: var("HARBOR_API_TOKEN"),
            key: var("HARBOR_API_KEY"),
            basic: var("HARBOR_API_USERNAME").zip(var("HARBOR_API_PASSWORD")),
            client: var("HARBOR_API_CLIENT_ID").zip(var("HARBOR_API_CLIENT_SECRET")),
        }
    }
}

/// What a request carries to prove who sends it.
enum Proof {
    Bearer(String),
    Basic(String, String),
    Header(String, String),
    Query(String, String),
    Nothing,
}

/// The MCP server over one service.
#[derive(Clone)]
pub struct OpenApiServer {
    service: Arc<Service>,
    base: String,
    credentials: Credentials,
    http: reqwest::Client,
    /// An access token from client credentials, and until when it holds.
    token: Arc<Mutex<Option<(String, Instant)>>>,
    /// Each endpoint's circuit breaker.
    breakers: Arc<Breakers>,
    /// The service's skills, when it has some.
    skills: Option<Arc<SkillCatalog>>,
}

impl OpenApiServer {
    pub fn new(service: Service, base: Option<String>, credentials: Credentials) -> Result<OpenApiServer, String> {
        let base = base
            .or_else(|| service.base.clone())
            .ok_or("the document names no server URL: give the service's address with --base-url".to_owned())?;
        let base = base.trim_end_matches('/').to_owned();
        url::Url::parse(&base).map_err(|e| format!("{base:?} is not a URL: {e}"))?;
        let http = crate::http::client_builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up HTTP: {e}"))?;
        Ok(OpenApiServer {
            service: Arc::new(service),
            base,
            credentials,
            http,
            token: Arc::default(),
            breakers: Arc::default(),
            skills: None,
        })
    }

    /// The same server, also serving the skills in `folder` (each a folder with its SKILL.md).
    pub fn with_skills(mut self, folder: &std::path::Path) -> Result<OpenApiServer, String> {
        let catalog = SkillCatalog::from_dir(folder).map_err(|e| format!("the skills: {e}"))?;
        self.skills = Some(Arc::new(catalog));
        Ok(self)
    }

    /// The skills, or the answer for a server that has none.
    fn catalog(&self) -> Result<&SkillCatalog, ErrorData> {
        self.skills.as_deref().ok_or_else(|| ErrorData::invalid_params("this service has no skills", None))
    }

    /// The request for `operation` with `arguments`, credentials added.
    async fn request(
        &self,
        operation: &Operation,
        arguments: &Map<String, Value>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let text = |value: &Value| match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut path = operation.path.clone();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for param in &operation.params {
            let Some(value) = arguments.get(&param.name).filter(|v| !v.is_null()) else {
                if param.required {
                    return Err(format!("the argument {:?} is required", param.name));
                }
                continue;
            };
            match param.location {
                Location::Path => {
                    let encoded: String = url::form_urlencoded::byte_serialize(text(value).as_bytes()).collect();
                    path = path.replace(&format!("{{{}}}", param.name), &encoded.replace('+', "%20"));
                }
                Location::Query => query.push((param.name.clone(), text(value))),
                Location::Header => headers.push((param.name.clone(), text(value))),
            }
        }
        let mut url =
            url::Url::parse(&format!("{}{path}", self.base)).map_err(|e| format!("the operation's URL: {e}"))?;
        let proof = self.proof().await?;
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &query {
                pairs.append_pair(name, value);
            }
            if let Proof::Query(name, value) = &proof {
                pairs.append_pair(name, value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut request = self.http.request(operation.method.clone(), url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match (operation.body, arguments.get("body")) {
            (Some(_), Some(body)) => request = request.json(body),
            (Some(true), None) => return Err("the argument \"body\" is required".into()),
            _ => {}
        }
        Ok(match proof {
            Proof::Bearer(token) => request.bearer_auth(token),
            Proof::Basic(user, password) => request.basic_auth(user, Some(password)),
            Proof::Header(name, value) => request.header(name, value),
            Proof::Query(..) | Proof::Nothing => request,
        })
    }

    /// The credentials the service's schemes ask for (a bearer token when it names none).
    async fn proof(&self) -> Result<Proof, String> {
        let schemes = &self.service.schemes;
        let credentials = &self.credentials;
        if let Some((token_url, scopes)) = schemes.iter().find_map(|s| match s {
            Scheme::ClientCredentials { token_url, scopes } if credentials.client.is_some() => {
                Some((token_url, scopes))
            }
            _ => None,
        }) {
            return Ok(Proof::Bearer(self.client_token(token_url, scopes).await?));
        }
        for scheme in schemes {
            match (scheme, credentials) {
                (Scheme::ApiKey { name, location }, Credentials { key: Some(key), .. }) => {
                    return Ok(match location {
                        Location::Query => Proof::Query(name.clone(), key.clone()),
                        _ => Proof::Header(name.clone(), key.clone()),
                    })
                }
                (Scheme::Basic, Credentials { basic: Some((user, password)), .. }) => {
                    return Ok(Proof::Basic(user.clone(), password.clone()))
                }
                (Scheme::Bearer, Credentials { token: Some(token), .. }) => return Ok(Proof::Bearer(token.clone())),
                _ => {}
            }
        }
        Ok(match (schemes.is_empty(), &credentials.token) {
            (true, Some(token)) => Proof::Bearer(token.clone()),
            _ => Proof::Nothing,
        })
    }

    async fn client_token(&self, token_url: &str, scopes: &[String]) -> Result<String, String> {
        let mut held = self.token.lock().await;
        if let Some((token, _)) = held.as_ref().filter(|(_, until)| Instant::now() < *until) {
            return Ok(token.clone());
        }
        let (id, secret) = self.credentials.client.clone().unwrap_or_default();
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !scopes.is_empty() {
                form.append_pair("scope", &scopes.join(" "));
            }
            form.finish()
        };
        let answer = self
            .http
            .post(token_url)
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("the token endpoint {token_url} did not answer: {e}"))?;
        if !answer.status().is_success() {
            return Err(format!("the token endpoint refused the service's client credentials ({})", answer.status()));
        }
        let answer: Value = answer.json().await.map_err(|e| format!("the token endpoint's answer: {e}"))?;
        let token = answer["access_token"].as_str().ok_or("the token endpoint sent no access_token")?.to_owned();
        let lasts = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(300).saturating_sub(60).max(1));
        *held = Some((token.clone(), Instant::now() + lasts));
        Ok(token)
    }

    async fn call(&self, operation: &Operation, arguments: Map<String, Value>) -> CallToolResult {
        let failed = |why: String| CallToolResult::error(vec![ContentBlock::text(why)]);
        let request = match self.request(operation, &arguments).await {
            Ok(request) => request,
            Err(why) => return failed(why),
        };
        let endpoint = operation.name.as_str();
        if let Err(open) = self.breakers.admit(endpoint, Instant::now()) {
            return failed(open.message(endpoint));
        }
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(error) => {
                let why = if error.is_timeout() { "did not answer in time" } else { "could not be reached" };
                self.breakers.record(endpoint, Some(format!("the service {why}")), Instant::now());
                return failed(format!("the service {why}: {error}"));
            }
        };
        let status = answer.status();
        let (body, cut) = match crate::http::read_capped(answer, MAX_RESPONSE).await {
            Ok(read) => read,
            Err(error) => {
                self.breakers.record(endpoint, Some("its answer broke off".into()), Instant::now());
                return failed(format!("the service's answer broke off: {error}"));
            }
        };
        match status {
            _ if status.is_server_error() => self.breakers.record(endpoint, Some(status.to_string()), Instant::now()),
            _ if status.is_success() => self.breakers.record(endpoint, None, Instant::now()),
            _ => self.breakers.release(endpoint),
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return failed(format!("the service answered {status}: {text}"));
        }
        // A whole JSON answer is also the structured result (an object as it is, else wrapped).
        let structured = match cut {
            true => None,
            false => serde_json::from_str::<Value>(&text).ok().map(|value| match value {
                Value::Object(object) => Value::Object(object),
                other => json!({ "result": other }),
            }),
        };
        let text = if cut { format!("{text}\n(cut at {MAX_RESPONSE} bytes)") } else { text };
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = structured;
        result
    }
}

impl ServerHandler for OpenApiServer {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        let capabilities = match self.skills {
            Some(_) => ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_skills_with_directory_read()
                .build(),
            None => ServerCapabilities::builder().enable_tools().build(),
        };
        rmcp::model::ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("harbor-openapi", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!("The REST API \"{}\": one tool per operation.", self.service.title))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools: Vec<Tool> = self
            .service
            .operations
            .iter()
            .filter_map(|op| {
                serde_json::from_value(json!({
                    "name": op.name,
                    "description": if op.description.is_empty() { format!("{} {}", op.method, op.path) } else { op.description.clone() },
                    "inputSchema": op.input_schema,
                    "annotations": op.annotations(),
                }))
                .ok()
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(operation) = self.service.operations.iter().find(|o| o.name == request.name) else {
            return Err(ErrorData::invalid_params(format!("there is no operation {:?}", request.name), None));
        };
        Ok(self.call(operation, request.arguments.unwrap_or_default()).await.into())
    }

    async fn list_skills(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        Ok(self.catalog()?.list_skills())
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        self.catalog()?.get_skill(&request.uri)
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        self.catalog()?.read_resource_directory(&request.uri)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(self.skills.as_deref().map(SkillCatalog::resources).unwrap_or_default()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.catalog()?
            .read_resource(&request.uri)
            .map(Into::into)
            .ok_or_else(|| ErrorData::resource_not_found(request.uri, None))
    }
}

/// `harbor-bridge openapi-server DOCUMENT [--base-url URL] [--skills FOLDER]`: serves until
/// stdin closes.
pub fn serve(document: &str, base: Option<String>, skills: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let service = super::parse(document).map_err(anyhow::Error::msg)?;
    for skipped in &service.skipped {
        eprintln!("left out: {skipped}");
    }
    let mut server = OpenApiServer::new(service, base, Credentials::from_env()).map_err(anyhow::Error::msg)?;
    if let Some(folder) = skills {
        server = server.with_skills(&folder).map_err(anyhow::Error::msg)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let running = server.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(schemes: Vec<Scheme>, credentials: Credentials) -> OpenApiServer {
        let service = Service {
            title: "t".into(),
            base: Some("http://127.0.0.1:9".into()),
            operations: Vec::new(),
            schemes,
            skipped: Vec::new(),
        };
        OpenApiServer::new(service, None, credentials).unwrap()
    }

    #[tokio::test]
    async fn credentials_go_where_the_documents_schemes_say() {
        let key = Credentials { key: Some("k".into()), token: Some("t".into()), ..Credentials::default() };
        let in_query = Scheme::ApiKey { name: "api_key".into(), location: Location::Query };
        assert!(
            matches!(server(vec![in_query], key.clone()).proof().await.unwrap(), Proof::Query(n, v) if n == "api_key" && v == "k")
        );
        let in_header = Scheme::ApiKey { name: "X-Key".into(), location: Location::Header };
        assert!(
            matches!(server(vec![in_header], key.clone()).proof().await.unwrap(), Proof::Header(n, _) if n == "X-Key")
        );
        // A bearer scheme takes the token, not the key; a document with no scheme gets the token.
        assert!(
            matches!(server(vec![Scheme::Bearer], key.clone()).proof().await.unwrap(), Proof::Bearer(t) if t == "t")
        );
        assert!(matches!(server(vec![], key.clone()).proof().await.unwrap(), Proof::Bearer(t) if t == "t"));
        let basic = Credentials { basic: Some(("u".into(), "p".into())), ..Credentials::default() };
        assert!(matches!(server(vec![Scheme::Basic], basic).proof().await.unwrap(), Proof::Basic(u, _) if u == "u"));
        // Credentials the document has no place for are not sent anywhere.
        assert!(matches!(server(vec![Scheme::Basic], key).proof().await.unwrap(), Proof::Nothing));
    }

    #[test]
    fn a_service_with_no_address_asks_for_one() {
        let service =
            Service { title: "t".into(), base: None, operations: Vec::new(), schemes: Vec::new(), skipped: Vec::new() };
        let Err(why) = OpenApiServer::new(service, None, Credentials::default()) else { panic!("no address") };
        assert!(why.contains("--base-url"), "{why}");
    }
}
