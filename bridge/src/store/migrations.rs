//! Schema migrations, applied in order and recorded in `PRAGMA user_version`. Append only: a
//! released migration is never edited.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the server registry.
    "CREATE TABLE servers (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        source          TEXT NOT NULL,   -- JSON: where the server came from
        launch          TEXT NOT NULL,   -- JSON: how to run it (process or remote)
        secret_env      TEXT NOT NULL DEFAULT '[]', -- JSON: names of env vars filled from secrets
        auto_start      INTEGER NOT NULL DEFAULT 0,
        version         TEXT,
        install_path    TEXT,
        tool_timeout_ms INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );",
    // 2: settings, and chat sessions with their messages.
    "CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL              -- JSON
    );
    CREATE TABLE chat_sessions (
        id            TEXT PRIMARY KEY,
        title         TEXT NOT NULL,
        provider      TEXT,
        model         TEXT,
        system_prompt TEXT,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE chat_messages (
        session_id   TEXT NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,
        role         TEXT NOT NULL,
        content      TEXT NOT NULL,
        tool_calls   TEXT,               -- JSON: the calls an assistant message asked for
        tool_call_id TEXT,
        tool_name    TEXT,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    );",
    // 3: what sites may do: persisted grants, tool allowlists, limits, usage and the audit log.
    "CREATE TABLE grants (
        origin     TEXT NOT NULL,
        scope      TEXT NOT NULL,
        decision   TEXT NOT NULL,        -- ALLOW_ALWAYS or DENY
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (origin, scope)
    );
    CREATE TABLE allowed_tools (
        origin TEXT NOT NULL,
        tool   TEXT NOT NULL,            -- serverId/toolName
        PRIMARY KEY (origin, tool)
    );
    CREATE TABLE origin_limits (
        origin TEXT PRIMARY KEY,
        limits TEXT NOT NULL             -- JSON
    );
    CREATE TABLE usage (
        origin TEXT NOT NULL,
        kind   TEXT NOT NULL,            -- tool_call or tokens
        amount INTEGER NOT NULL,
        at     INTEGER NOT NULL
    );
    CREATE INDEX usage_by_origin ON usage (origin, kind, at);
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        origin      TEXT NOT NULL,
        tab_id      INTEGER,
        method      TEXT NOT NULL,
        tool        TEXT,
        outcome     TEXT NOT NULL,       -- ok or an error code; never arguments or results
        duration_ms INTEGER NOT NULL
    );",
    // 4: which secrets are set (ids only: values live in the OS keychain), servers' secrets as a
    // map from variable name to secret id, and OAuth sign-ins (metadata only: tokens live in the
    // keychain too).
    "UPDATE servers SET secret_env = (
         SELECT coalesce(json_group_object(value, servers.id || '/' || value), '{}') FROM json_each(servers.secret_env)
     ) WHERE json_type(secret_env) = 'array';
    CREATE TABLE secrets (
        id         TEXT PRIMARY KEY,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE sign_ins (
        resource            TEXT PRIMARY KEY, -- the protected resource: a remote server's URL
        issuer              TEXT NOT NULL,
        client_id           TEXT NOT NULL,
        token_endpoint      TEXT NOT NULL,
        revocation_endpoint TEXT,
        scope               TEXT,
        expires_at          INTEGER,          -- when the access token expires
        updated_at          INTEGER NOT NULL
    );",
    // 5: the gateway's clients (other AI apps reaching Harbor's servers): what each may call and
    // how often, and the SHA-256 of its key (the key itself is shown once and never stored).
    "CREATE TABLE gateway_clients (
        name           TEXT PRIMARY KEY,
        key_sha256     TEXT NOT NULL UNIQUE,
        key_hint       TEXT NOT NULL,     -- the key's first characters, to tell keys apart
        allow          TEXT NOT NULL,     -- JSON: server ids and serverId/toolName entries
        rate_per_min   INTEGER NOT NULL,
        concurrency    INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        last_used_at   INTEGER
    );",
    // 6: tool pins — what each granted tool looked like when the user allowed it (a fingerprint
    // and the definition, to show what changed). Tools allowed before pins existed are pinned on
    // their first use (an empty fingerprint).
    "CREATE TABLE tool_pins (
        origin      TEXT NOT NULL,
        tool        TEXT NOT NULL,       -- serverId/toolName
        sha256      TEXT NOT NULL,       -- of the definition; '' until first use
        definition  TEXT,                -- JSON: name, title, description, inputSchema, annotations
        approved_at INTEGER NOT NULL,
        PRIMARY KEY (origin, tool)
    );
    INSERT INTO tool_pins (origin, tool, sha256, definition, approved_at)
        SELECT origin, tool, '', NULL, 0 FROM allowed_tools;",
    // 7: a server's OS sandbox (JSON: enabled, network, folders); NULL runs it as the user.
    "ALTER TABLE servers ADD COLUMN sandbox TEXT;",
    // 8: the kind of caller of each audited call (page, chat, gateway); older gateway records are
    // recognised by their `gateway:` origin.
    "ALTER TABLE audit ADD COLUMN caller TEXT NOT NULL DEFAULT 'page';
    UPDATE audit SET caller = 'gateway' WHERE substr(origin, 1, 8) = 'gateway:';",
    // 9: a gateway client that sees tools and prompts under their servers' own names.
    "ALTER TABLE gateway_clients ADD COLUMN plain_names INTEGER NOT NULL DEFAULT 0;",
    // 10: how a sign-in authenticates at the token endpoint, and its grant (before: always the
    // browser's authorization code, and a secret, when there was one, in a Basic header).
    "ALTER TABLE sign_ins ADD COLUMN token_auth TEXT NOT NULL DEFAULT 'client_secret_basic';
    ALTER TABLE sign_ins ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'authorization_code';",
    // 11: the provider account whose access token a local server gets (JSON: issuer or
    // endpoints, client id, scope, variable); NULL: none.
    "ALTER TABLE servers ADD COLUMN account TEXT;",
    // 12: a gateway client in code mode (search, describe and run-code tools instead of every tool).
    "ALTER TABLE gateway_clients ADD COLUMN code_mode INTEGER NOT NULL DEFAULT 0;",
];

pub fn apply(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_record_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
    }
}
