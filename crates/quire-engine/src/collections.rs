//! Collections: named sets of documents a question or a chat can be scoped to.

use crate::catalog::Collection;
use crate::{Engine, Error, Result};

impl Engine {
    /// Adds documents (by id, path or name) to a collection, creating it.
    pub async fn add_to_collection(&self, name: &str, documents: &[String]) -> Result<Vec<String>> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::InvalidInput("a collection needs a name".into()));
        }
        let mut ids = Vec::new();
        for d in documents {
            ids.push(self.catalog.find(d).await?.id);
        }
        self.catalog.add_to_collection(name, &ids).await?;
        Ok(ids)
    }

    pub async fn remove_from_collection(&self, name: &str, documents: &[String]) -> Result<()> {
        self.catalog.collection_documents(name).await?;
        let mut ids = Vec::new();
        for d in documents {
            ids.push(self.catalog.find(d).await?.id);
        }
        self.catalog.remove_from_collection(name, &ids).await
    }

    pub async fn delete_collection(&self, name: &str) -> Result<()> {
        self.catalog.delete_collection(name).await
    }

    pub async fn collections(&self) -> Result<Vec<Collection>> {
        self.catalog.collections().await
    }
}
