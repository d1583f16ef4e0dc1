//! The REST face described as OpenAPI 3.1, served at `/api/v1/openapi.json` (the tests check it
//! with `openapi-spec-validator`, and check that what the routes answer has these shapes).

use serde_json::{json, Value};

/// The document, with `base` (the gateway's origin) as its server.
pub fn document(base: &str) -> Value {
    let error = json!({ "$ref": "#/components/responses/Error" });
    let rate_headers = json!({
        "X-RateLimit-Limit": { "$ref": "#/components/headers/RateLimitLimit" },
        "X-RateLimit-Remaining": { "$ref": "#/components/headers/RateLimitRemaining" },
        "X-RateLimit-Reset": { "$ref": "#/components/headers/RateLimitReset" },
    });
    let ok = |description: &str, schema: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
        })
    };
    let refusals = |more: Value| {
        let mut responses = json!({
            "401": { "$ref": "#/components/responses/Unauthorized" },
            "403": error.clone(),
        });
        if let (Some(all), Value::Object(more)) = (responses.as_object_mut(), more) {
            all.extend(more);
        }
        responses
    };
    let mut too_many = json!({
        "description": "Over the caller's rate limit.",
        "headers": rate_headers.clone(),
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    });
    too_many["headers"]["Retry-After"] = json!({ "$ref": "#/components/headers/RetryAfter" });
    let mut called = ok("The tool ran (a tool's own failure is `result.isError`).", "CallResult");
    called["headers"] = rate_headers.clone();

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Harbor gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The MCP servers Harbor runs, for scripts and services that do not speak MCP. The same callers and policy as the MCP endpoint at /mcp: each caller sees and calls only what its allowlist (or its roles) allow.",
        },
        "servers": [{ "url": base }],
        "security": [{ "bearer": [] }],
        "paths": {
            "/api/v1/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the gateway is up, and its servers' states.",
                    "security": [],
                    "responses": { "200": ok("Up.", "Health") },
                },
            },
            "/api/v1/servers": {
                "get": {
                    "operationId": "listServers",
                    "summary": "The servers the caller may use something of.",
                    "responses": refusals(json!({ "200": ok("The servers.", "ServerList") })),
                },
            },
            "/api/v1/servers/{id}": {
                "get": {
                    "operationId": "getServer",
                    "summary": "One server, with the tools the caller may call.",
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "responses": refusals(json!({ "200": ok("The server.", "ServerWithTools"), "404": error })),
                },
            },
            "/api/v1/tools": {
                "get": {
                    "operationId": "listTools",
                    "summary": "The tools the caller may call.",
                    "parameters": [
                        { "name": "server", "in": "query", "schema": { "type": "string" }, "description": "Only this server's." },
                        {
                            "name": "tag", "in": "query",
                            "schema": { "type": "string", "enum": ["read-only", "destructive", "idempotent", "open-world"] },
                            "description": "Only tools whose annotations say this of them.",
                        },
                    ],
                    "responses": refusals(json!({ "200": ok("The tools.", "ToolList"), "400": error })),
                },
            },
            "/api/v1/tools/call": {
                "post": {
                    "operationId": "callTool",
                    "summary": "Calls a tool, routed by its name when only one server the caller may use has it.",
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CallRequest" } } },
                    },
                    "responses": refusals(json!({
                        "200": called,
                        "400": error,
                        "404": error,
                        "409": {
                            "description": "More than one tool has this name: `error.candidates` lists them.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                        },
                        "429": too_many,
                        "502": error,
                        "503": error,
                        "504": error,
                    })),
                },
            },
            "/api/v1/requests": {
                "get": {
                    "operationId": "listRequests",
                    "summary": "The caller's own recent calls, newest first (metadata only: never arguments or results).",
                    "parameters": [{
                        "name": "limit", "in": "query",
                        "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 },
                    }],
                    "responses": refusals(json!({ "200": ok("The calls.", "RequestList"), "400": error })),
                },
            },
            "/api/v1/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "The caller's traffic and the servers' states (Prometheus text is at /metrics).",
                    "responses": refusals(json!({ "200": ok("The figures.", "Metrics") })),
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": { "200": { "description": "OpenAPI 3.1.", "content": { "application/json": {} } } },
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Harbor gateway client's key, or an access token from one of the team's identity providers.",
                },
            },
            "headers": {
                "RateLimitLimit": { "description": "Calls allowed per minute.", "schema": { "type": "integer" } },
                "RateLimitRemaining": { "description": "Calls left in this minute.", "schema": { "type": "integer" } },
                "RateLimitReset": { "description": "Seconds until the minute ends.", "schema": { "type": "integer" } },
                "RetryAfter": { "description": "Seconds to wait before calling again.", "schema": { "type": "integer" } },
            },
            "responses": {
                "Error": {
                    "description": "Refused or failed; `error.code` says which.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
                "Unauthorized": {
                    "description": "No bearer, or one that is not a key or a valid token. `WWW-Authenticate` points at the protected-resource metadata.",
                    "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
                    "content": { "text/plain": { "schema": { "type": "string" } } },
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": { "type": "string", "examples": ["ERR_TOOL_NOT_ALLOWED"] },
                                "message": { "type": "string" },
                                "candidates": { "type": "array", "items": { "type": "string" } },
                            },
                        },
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "servers"],
                    "properties": {
                        "status": { "const": "ok" },
                        "servers": { "$ref": "#/components/schemas/ServerCounts" },
                    },
                },
                "ServerCounts": {
                    "type": "object",
                    "required": ["running", "starting", "crashed"],
                    "properties": {
                        "running": { "type": "integer" },
                        "starting": { "type": "integer" },
                        "crashed": { "type": "integer" },
                    },
                },
                "Server": {
                    "type": "object",
                    "required": ["id", "state", "tools"],
                    "properties": {
                        "id": { "type": "string" },
                        "name": { "type": ["string", "null"] },
                        "state": { "type": "string", "examples": ["running"] },
                        "tools": { "type": "integer", "description": "How many of its tools the caller may call." },
                    },
                },
                "ServerList": {
                    "type": "object",
                    "required": ["servers"],
                    "properties": { "servers": { "type": "array", "items": { "$ref": "#/components/schemas/Server" } } },
                },
                "ServerWithTools": {
                    "type": "object",
                    "required": ["id", "state", "tools"],
                    "properties": {
                        "id": { "type": "string" },
                        "name": { "type": ["string", "null"] },
                        "state": { "type": "string" },
                        "tools": { "type": "array", "items": { "$ref": "#/components/schemas/Tool" } },
                    },
                },
                "Tool": {
                    "type": "object",
                    "required": ["name", "server", "tool", "inputSchema"],
                    "properties": {
                        "name": { "type": "string", "description": "server/tool" },
                        "server": { "type": "string" },
                        "tool": { "type": "string", "description": "The tool's own name." },
                        "title": { "type": ["string", "null"] },
                        "description": { "type": "string" },
                        "inputSchema": { "type": "object" },
                        "annotations": { "type": ["object", "null"] },
                    },
                },
                "ToolList": {
                    "type": "object",
                    "required": ["tools"],
                    "properties": { "tools": { "type": "array", "items": { "$ref": "#/components/schemas/Tool" } } },
                },
                "CallRequest": {
                    "type": "object",
                    "required": ["tool"],
                    "additionalProperties": false,
                    "properties": {
                        "tool": { "type": "string", "description": "server/tool, or a tool's own name." },
                        "server": { "type": "string", "description": "The server, when the name alone is ambiguous." },
                        "arguments": { "type": "object" },
                    },
                },
                "CallResult": {
                    "type": "object",
                    "required": ["tool", "result"],
                    "properties": {
                        "tool": { "type": "string", "description": "The server/tool that ran." },
                        "result": {
                            "type": "object",
                            "description": "MCP's CallToolResult: content, structuredContent, isError.",
                            "properties": {
                                "content": { "type": "array", "items": { "type": "object" } },
                                "structuredContent": { "type": "object" },
                                "isError": { "type": "boolean" },
                            },
                        },
                    },
                },
                "RequestList": {
                    "type": "object",
                    "required": ["requests"],
                    "properties": {
                        "requests": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["at", "method", "outcome", "durationMs"],
                                "properties": {
                                    "at": { "type": "integer", "description": "Unix time in seconds." },
                                    "method": { "type": "string" },
                                    "tool": { "type": ["string", "null"] },
                                    "outcome": { "type": "string", "description": "ok, or the error code." },
                                    "durationMs": { "type": "integer" },
                                    "replica": { "type": ["string", "null"], "description": "The replica that served it, when replicas share a database." },
                                },
                            },
                        },
                    },
                },
                "Metrics": {
                    "type": "object",
                    "required": ["client", "calls", "errors", "rateLimited", "servers"],
                    "properties": {
                        "client": { "type": "string" },
                        "calls": { "type": "integer" },
                        "errors": { "type": "integer" },
                        "rateLimited": { "type": "integer" },
                        "servers": { "$ref": "#/components/schemas/ServerCounts" },
                    },
                },
            },
        },
    })
}
