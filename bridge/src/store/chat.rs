//! The `chat_sessions` and `chat_messages` tables: conversations that outlive Firefox.
//!
//! A session's messages are appended in order (`seq`), a turn's messages in one transaction, so
//! a crash never leaves a tool call without its result. Deleting a session deletes its messages.

use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, Row};

use super::{now, Store};
use crate::llm::{Message, Role};

pub use harbor_protocol::api::chat::{SessionInfo, StoredMessage};

const SESSION_COLUMNS: &str = "s.id, s.title, s.provider, s.model, s.system_prompt, s.created_at, s.updated_at,
    (SELECT COUNT(*) FROM chat_messages m WHERE m.session_id = s.id)";

impl Store {
    pub fn create_session(
        &self,
        title: &str,
        provider: Option<&str>,
        model: Option<&str>,
        system_prompt: Option<&str>,
    ) -> Result<SessionInfo> {
        let conn = self.conn();
        let id: String = conn.query_row(
            "INSERT INTO chat_sessions (id, title, provider, model, system_prompt, created_at, updated_at)
             VALUES (lower(hex(randomblob(8))), ?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
            rusqlite::params![title, provider, model, system_prompt, now()],
            |row| row.get(0),
        )?;
        drop(conn);
        self.session(&id)?.context("the new session vanished")
    }

    /// Every session, the most recently used first.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM chat_sessions s ORDER BY s.updated_at DESC, s.rowid DESC"
        ))?;
        let rows = statement.query_map([], read_session)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn session(&self, id: &str) -> Result<Option<SessionInfo>> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {SESSION_COLUMNS} FROM chat_sessions s WHERE s.id = ?1"), [id], read_session)
            .optional()?)
    }

    /// Renames a session; `false` when there is none.
    pub fn rename_session(&self, id: &str, title: &str) -> Result<bool> {
        let changed = self.conn().execute(
            "UPDATE chat_sessions SET title = ?2, updated_at = ?3 WHERE id = ?1",
            rusqlite::params![id, title, now()],
        )?;
        Ok(changed > 0)
    }

    /// Records the provider and model a session last used.
    pub fn set_session_model(&self, id: &str, provider: &str, model: &str) -> Result<()> {
        self.conn()
            .execute("UPDATE chat_sessions SET provider = ?2, model = ?3 WHERE id = ?1", [id, provider, model])?;
        Ok(())
    }

    /// Deletes a session and its messages; `false` when there is none.
    pub fn delete_session(&self, id: &str) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM chat_sessions WHERE id = ?1", [id])? > 0)
    }

    /// A session's messages in order.
    pub fn messages(&self, id: &str) -> Result<Vec<StoredMessage>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT seq, role, content, tool_calls, tool_call_id, tool_name, created_at
             FROM chat_messages WHERE session_id = ?1 ORDER BY seq",
        )?;
        let rows = statement.query_map([id], read_message)?;
        rows.map(|row| row?).collect()
    }

    /// Appends `messages` to a session in one transaction.
    pub fn append_messages(&self, id: &str, messages: &[Message]) -> Result<()> {
        let mut conn = self.conn();
        // Immediate: it takes the write lock at once, so it waits for the audit writer instead of
        // failing when a read it began with would have to be upgraded.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let next: i64 =
            tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE session_id = ?1", [id], |r| {
                r.get(0)
            })?;
        let at = now();
        for (offset, message) in messages.iter().enumerate() {
            let calls =
                if message.tool_calls.is_empty() { None } else { Some(serde_json::to_string(&message.tool_calls)?) };
            tx.execute(
                "INSERT INTO chat_messages (session_id, seq, role, content, tool_calls, tool_call_id, tool_name, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    id,
                    next + offset as i64,
                    message.role.as_str(),
                    message.content,
                    calls,
                    message.tool_call_id,
                    message.tool_name,
                    at
                ],
            )?;
        }
        tx.execute("UPDATE chat_sessions SET updated_at = ?2 WHERE id = ?1", rusqlite::params![id, at])?;
        tx.commit()?;
        Ok(())
    }
}

fn read_session(row: &Row<'_>) -> rusqlite::Result<SessionInfo> {
    Ok(SessionInfo {
        id: row.get(0)?,
        title: row.get(1)?,
        provider: row.get(2)?,
        model: row.get(3)?,
        system_prompt: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        message_count: row.get(7)?,
    })
}

fn read_message(row: &Row<'_>) -> rusqlite::Result<Result<StoredMessage>> {
    let seq: i64 = row.get(0)?;
    let role: String = row.get(1)?;
    let calls: Option<String> = row.get(3)?;
    let content: String = row.get(2)?;
    let tool_call_id: Option<String> = row.get(4)?;
    let tool_name: Option<String> = row.get(5)?;
    let created_at: i64 = row.get(6)?;
    let parse = || -> Result<StoredMessage> {
        let role: Role = serde_json::from_value(serde_json::Value::String(role))?;
        let tool_calls = calls.map(|c| serde_json::from_str(&c)).transpose()?.unwrap_or_default();
        Ok(StoredMessage { seq, message: Message { role, content, tool_calls, tool_call_id, tool_name }, created_at })
    };
    Ok(parse().with_context(|| format!("stored chat message {seq} is damaged")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    #[test]
    fn sessions_keep_their_messages_in_order_and_delete_with_them() {
        let store = Store::in_memory().unwrap();
        let session = store.create_session("Tokyo", Some("ollama"), None, None).unwrap();
        assert_eq!(session.message_count, 0);
        let call = ToolCall { id: "c1".into(), name: "time__now".into(), arguments: serde_json::json!({}) };
        let mut asked = Message::new(Role::Assistant, "");
        asked.tool_calls.push(call.clone());
        let turn = [Message::new(Role::User, "time?"), asked, Message::tool_result(&call, "12:00")];
        store.append_messages(&session.id, &turn).unwrap();
        store.append_messages(&session.id, &[Message::new(Role::Assistant, "noon")]).unwrap();
        let stored: Vec<Message> = store.messages(&session.id).unwrap().into_iter().map(|m| m.message).collect();
        assert_eq!(stored.len(), 4);
        assert_eq!(stored[..3], turn);
        assert!(store.rename_session(&session.id, "Time in Tokyo").unwrap());
        assert_eq!(store.sessions().unwrap()[0].title, "Time in Tokyo");
        assert!(store.delete_session(&session.id).unwrap());
        assert!(store.messages(&session.id).unwrap().is_empty());
        assert!(!store.rename_session(&session.id, "x").unwrap());
    }
}
