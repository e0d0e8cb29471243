//! The event catalog: which events hookbin can send, with a description and a sample payload
//! for each.
//!
//! The Ultimate Multisite catalog is compiled in; `--events FILE` adds catalogs in the same
//! JSON format (`{"events": [{"slug", "name", "description", "sample_payload"}]}`), so hookbin
//! can send any product's events. Slugs are unique across all loaded catalogs.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::payload::Payload;

/// The built-in catalog file.
const BUILT_IN: &str = include_str!("ultimate-multisite.json");

/// One event type a webhook can subscribe to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "CatalogEvent")]
pub struct EventType {
    pub slug: String,
    pub name: String,
    pub description: String,
    /// What "Send Test Event" sends, and what `{}` fires; always a JSON object.
    pub sample_payload: serde_json::Map<String, serde_json::Value>,
    /// The sample exactly as the catalog wrote it (compacted), which is what is sent.
    #[serde(skip)]
    pub sample: Payload,
}

/// An event as a catalog file writes it; the sample is kept as its text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogEvent {
    slug: String,
    name: String,
    description: String,
    sample_payload: Box<serde_json::value::RawValue>,
}

impl TryFrom<CatalogEvent> for EventType {
    type Error = String;

    fn try_from(e: CatalogEvent) -> Result<EventType, String> {
        let text = e.sample_payload.get();
        let sample = Payload::parse(text.as_bytes())
            .map_err(|why| format!("the sample_payload of {}: {why}", e.slug))?;
        Ok(EventType {
            sample_payload: serde_json::from_str(text).map_err(|why| why.to_string())?,
            sample,
            slug: e.slug,
            name: e.name,
            description: e.description,
        })
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    #[serde(default)]
    #[allow(dead_code)]
    product: Option<String>,
    events: Vec<EventType>,
}

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read event catalog {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("event catalog {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

/// All known event types, in catalog order.
#[derive(Clone, Debug)]
pub struct Catalog {
    events: Vec<EventType>,
    by_slug: HashMap<String, usize>,
}

impl Catalog {
    /// The built-in Ultimate Multisite catalog.
    pub fn built_in() -> Catalog {
        let mut c = Catalog {
            events: Vec::new(),
            by_slug: HashMap::new(),
        };
        c.add_json("built-in catalog", BUILT_IN)
            .expect("the built-in catalog is valid");
        c
    }

    /// The built-in catalog plus every file in `extra`, in order.
    pub fn load(extra: &[impl AsRef<Path>]) -> Result<Catalog, CatalogError> {
        let mut c = Catalog::built_in();
        for path in extra {
            let path = path.as_ref();
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
                path: shown.clone(),
                source,
            })?;
            c.add_json(&shown, &text)?;
        }
        Ok(c)
    }

    fn add_json(&mut self, path: &str, text: &str) -> Result<(), CatalogError> {
        let invalid = |message: String| CatalogError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: CatalogFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for event in file.events {
            let slug_ok = !event.slug.is_empty()
                && event.slug.len() <= 100
                && event.slug.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'_'
                        || b == b'-'
                        || b == b'.'
                });
            if !slug_ok {
                return Err(invalid(format!(
                    "event slug '{}' must be 1-100 of a-z, 0-9, '_', '-', '.'",
                    event.slug
                )));
            }
            if event.name.trim().is_empty() {
                return Err(invalid(format!("event '{}' has no name", event.slug)));
            }
            if self.by_slug.contains_key(&event.slug) {
                return Err(invalid(format!(
                    "event '{}' is already defined",
                    event.slug
                )));
            }
            self.by_slug.insert(event.slug.clone(), self.events.len());
            self.events.push(event);
        }
        Ok(())
    }

    /// Every event type, in catalog order.
    pub fn events(&self) -> &[EventType] {
        &self.events
    }

    /// The event type with this slug.
    pub fn get(&self, slug: &str) -> Option<&EventType> {
        self.by_slug.get(slug).map(|&i| &self.events[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_catalog_has_every_ultimate_multisite_event() {
        let c = Catalog::built_in();
        assert_eq!(c.events().len(), 23);
        let paid = c.get("payment_received").unwrap();
        assert_eq!(paid.name, "Payment Received");
        assert_eq!(paid.sample_payload["wu_version"], "2.4.13");
        assert!(paid.sample_payload.contains_key("payment_total"));
        assert!(paid.sample_payload.contains_key("membership_id"));
        assert!(paid.sample_payload.contains_key("customer_user_email"));
        for e in c.events() {
            assert!(!e.description.is_empty(), "{}", e.slug);
            assert!(e.sample_payload.contains_key("wu_version"), "{}", e.slug);
        }
    }

    #[test]
    fn extra_catalogs_add_events_and_reject_clashes() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"{"events":[{"slug":"order.paid","name":"Order paid","description":"d","sample_payload":{"id":1}}]}"#).unwrap();
        let c = Catalog::load(&[&good]).unwrap();
        assert_eq!(c.get("order.paid").unwrap().sample_payload["id"], 1);
        assert_eq!(c.events().len(), 24);

        let clash = dir.path().join("clash.json");
        std::fs::write(&clash, r#"{"events":[{"slug":"payment_received","name":"x","description":"","sample_payload":{}}]}"#).unwrap();
        let err = Catalog::load(&[&clash]).unwrap_err().to_string();
        assert!(err.contains("already defined"), "{err}");

        let not_object = dir.path().join("bad.json");
        std::fs::write(
            &not_object,
            r#"{"events":[{"slug":"a","name":"A","description":"","sample_payload":[1]}]}"#,
        )
        .unwrap();
        assert!(Catalog::load(&[&not_object]).is_err());
        assert!(Catalog::load(&[dir.path().join("missing.json")]).is_err());
    }
}
