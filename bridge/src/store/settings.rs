//! The `settings` table: named JSON values (the model providers, chat limits, …). Each setting
//! is read and written whole, with its type decided by the module that owns it.

use anyhow::{Context, Result};
use rusqlite::OptionalExtension;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Store;

impl Store {
    /// The setting `key`, or `None` when it was never set.
    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let text = self.cache.setting(key, || {
            Ok(self
                .conn()
                .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0))
                .optional()?)
        })?;
        text.map(|text| serde_json::from_str(&text).with_context(|| format!("the stored setting {key:?} is damaged")))
            .transpose()
    }

    pub fn set_setting<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, text.as_str()],
        )?;
        self.cache.forget_setting(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_absent_until_set_and_then_replaced_whole() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.setting::<Vec<u32>>("limits").unwrap(), None);
        store.set_setting("limits", &vec![1, 2]).unwrap();
        store.set_setting("limits", &vec![3]).unwrap();
        assert_eq!(store.setting::<Vec<u32>>("limits").unwrap(), Some(vec![3]));
    }
}
