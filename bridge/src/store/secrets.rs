//! The `secrets` and `sign_ins` tables: which secrets are set, and the metadata of OAuth
//! sign-ins. Never a value or a token: those live in the OS keychain (`crate::secrets`).

use anyhow::Result;
use rusqlite::OptionalExtension;

use super::{now, Store};

/// A secret that is set, without its value.
pub use harbor_protocol::api::secrets::{Grant, SecretRecord, SignIn, SignInParams, TokenAuth};

impl Store {
    pub fn record_secret(&self, id: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO secrets (id, updated_at) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET updated_at = ?2",
            rusqlite::params![id, now()],
        )?;
        Ok(())
    }

    pub fn forget_secret(&self, id: &str) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM secrets WHERE id = ?1", [id])? == 1)
    }

    pub fn secret_records(&self) -> Result<Vec<SecretRecord>> {
        let conn = self.conn();
        let mut statement = conn.prepare("SELECT id, updated_at FROM secrets ORDER BY id")?;
        let rows = statement.query_map([], |row| Ok(SecretRecord { id: row.get(0)?, updated_at: row.get(1)? }))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn save_sign_in(&self, sign_in: &SignIn) -> Result<()> {
        self.conn().execute(
            "INSERT INTO sign_ins (resource, issuer, client_id, token_endpoint, revocation_endpoint, scope, expires_at,
                 updated_at, token_auth, grant_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(resource) DO UPDATE SET issuer = ?2, client_id = ?3, token_endpoint = ?4,
                 revocation_endpoint = ?5, scope = ?6, expires_at = ?7, updated_at = ?8, token_auth = ?9,
                 grant_type = ?10",
            rusqlite::params![
                sign_in.resource,
                sign_in.issuer,
                sign_in.client_id,
                sign_in.token_endpoint,
                sign_in.revocation_endpoint,
                sign_in.scope,
                sign_in.expires_at,
                now(),
                sign_in.token_auth.name(),
                sign_in.grant.name()
            ],
        )?;
        Ok(())
    }

    pub fn sign_in(&self, resource: &str) -> Result<Option<SignIn>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT resource, issuer, client_id, token_endpoint, revocation_endpoint, scope, expires_at, updated_at,
                     token_auth, grant_type
                 FROM sign_ins WHERE resource = ?1",
                [resource],
                |row| {
                    Ok(SignIn {
                        resource: row.get(0)?,
                        issuer: row.get(1)?,
                        client_id: row.get(2)?,
                        token_endpoint: row.get(3)?,
                        revocation_endpoint: row.get(4)?,
                        scope: row.get(5)?,
                        expires_at: row.get(6)?,
                        updated_at: row.get(7)?,
                        token_auth: TokenAuth::parse(&row.get::<_, String>(8)?).unwrap_or_default(),
                        grant: Grant::parse(&row.get::<_, String>(9)?).unwrap_or_default(),
                    })
                },
            )
            .optional()?)
    }

    pub fn delete_sign_in(&self, resource: &str) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM sign_ins WHERE resource = ?1", [resource])? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_listed_by_id_only_and_sign_ins_round_trip() {
        let store = Store::in_memory().unwrap();
        store.record_secret("time/API_KEY").unwrap();
        store.record_secret("time/API_KEY").unwrap();
        assert_eq!(store.secret_records().unwrap().len(), 1);
        assert!(store.forget_secret("time/API_KEY").unwrap());
        assert!(!store.forget_secret("time/API_KEY").unwrap());
        let sign_in = SignIn {
            resource: "http://127.0.0.1:9/mcp".into(),
            issuer: "http://127.0.0.1:8".into(),
            client_id: "abc".into(),
            token_endpoint: "http://127.0.0.1:8/token".into(),
            revocation_endpoint: None,
            scope: Some("tools".into()),
            expires_at: Some(10),
            updated_at: 0,
            token_auth: TokenAuth::PrivateKeyJwt,
            grant: Grant::ClientCredentials,
        };
        store.save_sign_in(&sign_in).unwrap();
        let read = store.sign_in(&sign_in.resource).unwrap().unwrap();
        assert_eq!((read.client_id.as_str(), read.expires_at), ("abc", Some(10)));
        assert_eq!((read.token_auth, read.grant), (TokenAuth::PrivateKeyJwt, Grant::ClientCredentials));
        assert!(store.delete_sign_in(&sign_in.resource).unwrap());
    }
}
