//! The typed contract: every method's name, who may call it, its params, its result and its
//! stream events, by area.
//!
//! A method is a type implementing [`Method`] (an uninhabited marker, declared with
//! [`methods!`]); the bridge registers its handler against it and the sidebar and command line
//! call it through it, so both sides compile against the same shapes. A field renamed here fails
//! to compile wherever it is read. Params reject unknown fields where a typo must not pass
//! silently; results are open to additions. MCP's own open shapes (a tool's input schema, a tool
//! call's result, a resource's contents) stay JSON values: Harbor passes them through.

pub mod apps;
pub mod asks;
pub mod browser;
pub mod byoc;
pub mod chat;
pub mod forward;
pub mod gateway;
pub mod import;
pub mod install;
pub mod llm;
pub mod page;
pub mod permissions;
pub mod secrets;
pub mod servers;
pub mod sessions;
pub mod system;
pub mod tasks;
pub mod tools;
pub mod webmcp;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Who may call a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Web pages (through the relay) as well as Harbor's own pages.
    Page,
    /// Only Harbor's own extension pages, the background and the command line.
    Extension,
}

/// One method of the contract.
pub trait Method {
    /// The method's name on the wire, e.g. `servers.list`.
    const NAME: &'static str;
    const ACCESS: Access;
    type Params: Serialize + DeserializeOwned + Send + 'static;
    type Result: Serialize + DeserializeOwned + Send + 'static;
    /// What the method streams before its result ([`NoEvents`] for most).
    type Event: Serialize + DeserializeOwned + Send + 'static;
}

/// The params of a method that takes none: `{}` (or nothing at all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// The params of a page method that takes none: whatever a page sends is ignored, as the web
/// platform's dictionaries ignore members they do not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {}

/// The events of a method that streams none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoEvents {}

/// `{"id": "…"}`: the params of the many methods that act on one thing by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Id {
    pub id: String,
}

impl Id {
    pub fn new(id: impl Into<String>) -> Id {
        Id { id: id.into() }
    }
}

/// A field that may be absent (leave it), `null` (clear it) or a value (set it):
/// `#[serde(default, skip_serializing_if = "Option::is_none", with = "super::maybe")]` on an
/// `Option<Option<T>>`.
pub mod maybe {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &Option<Option<T>>, to: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(to),
            None => to.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(from: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(from).map(Some)
    }
}

/// Declares an area's methods: `Marker = "name", Access, Params => Result [, Event];`, and
/// the area's `METHODS` table.
#[macro_export]
macro_rules! methods {
    ($( $(#[$doc:meta])* $marker:ident = $name:literal, $access:ident, $params:ty => $result:ty $(, $event:ty)?; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $marker {}

            impl $crate::api::Method for $marker {
                const NAME: &'static str = $name;
                const ACCESS: $crate::api::Access = $crate::api::Access::$access;
                type Params = $params;
                type Result = $result;
                type Event = $crate::methods!(@event $($event)?);
            }
        )*

        /// Every method of this area, with who may call it.
        pub const METHODS: &[(&str, $crate::api::Access)] = &[$(($name, $crate::api::Access::$access)),*];
    };
    (@event) => { $crate::api::NoEvents };
    (@event $event:ty) => { $event };
}

/// Every method of the contract, with who may call it.
pub fn all() -> Vec<(&'static str, Access)> {
    [
        system::METHODS,
        servers::METHODS,
        tools::METHODS,
        install::METHODS,
        import::METHODS,
        llm::METHODS,
        chat::METHODS,
        permissions::METHODS,
        secrets::METHODS,
        gateway::METHODS,
        page::METHODS,
        browser::METHODS,
        byoc::METHODS,
        sessions::METHODS,
        webmcp::METHODS,
        apps::METHODS,
        asks::METHODS,
        tasks::METHODS,
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_unique() {
        let mut names: Vec<&str> = all().into_iter().map(|(name, _)| name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a method is declared twice");
    }

    #[test]
    fn empty_params_take_an_empty_object_and_refuse_fields() {
        assert!(serde_json::from_str::<Empty>("{}").is_ok());
        assert!(serde_json::from_str::<Empty>(r#"{"typo": 1}"#).is_err());
    }
}
