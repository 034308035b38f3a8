//! The SQLite catalog of documents (sqlx, with embedded migrations).

use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Importing,
    Imported,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Importing => "importing",
            Status::Imported => "imported",
            Status::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "imported" => Status::Imported,
            "failed" => Status::Failed,
            _ => Status::Importing,
        }
    }
}

/// A document as the catalog knows it.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentInfo {
    pub id: String,
    pub path: String,
    pub name: String,
    pub format: Option<String>,
    pub encoding: Option<String>,
    pub size: u64,
    pub hash: String,
    pub status: Status,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub pages: Option<u32>,
    pub chunks: u32,
    pub chars: u64,
    pub added_at: i64,
    pub updated_at: i64,
}

pub struct Catalog {
    pool: SqlitePool,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn row_to_doc(r: &sqlx::sqlite::SqliteRow) -> Result<DocumentInfo> {
    Ok(DocumentInfo {
        id: r.try_get("id")?,
        path: r.try_get("path")?,
        name: r.try_get("name")?,
        format: r.try_get("format")?,
        encoding: r.try_get("encoding")?,
        size: r.try_get::<i64, _>("size")? as u64,
        hash: r.try_get("hash")?,
        status: Status::parse(&r.try_get::<String, _>("status")?),
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        pages: r.try_get::<Option<i64>, _>("pages")?.map(|p| p as u32),
        chunks: r.try_get::<i64, _>("chunks")? as u32,
        chars: r.try_get::<i64, _>("chars")? as u64,
        added_at: r.try_get("added_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// What a finished import writes for one document.
pub struct Outcome<'a> {
    pub status: Status,
    pub format: Option<&'a str>,
    pub encoding: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub pages: Option<u32>,
    pub chunks: u32,
    pub chars: u64,
}

impl Catalog {
    pub async fn open(file: &Path) -> Result<Self> {
        let url = format!("sqlite://{}", file.display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Catalog { pool })
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM library_meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO library_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<DocumentInfo>> {
        let row = sqlx::query("SELECT * FROM documents WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_to_doc).transpose()
    }

    pub async fn list(&self) -> Result<Vec<DocumentInfo>> {
        let rows = sqlx::query("SELECT * FROM documents ORDER BY name COLLATE NOCASE, path").fetch_all(&self.pool).await?;
        rows.iter().map(row_to_doc).collect()
    }

    /// Finds a document by id, id prefix, full path or file name; ambiguity is an error.
    pub async fn find(&self, key: &str) -> Result<DocumentInfo> {
        let docs = self.list().await?;
        if let Some(d) = docs.iter().find(|d| d.id == key || d.path == key) {
            return Ok(d.clone());
        }
        let canonical = std::fs::canonicalize(key).ok().map(|p| p.display().to_string());
        let matches: Vec<&DocumentInfo> = docs
            .iter()
            .filter(|d| {
                Some(&d.path) == canonical.as_ref() || d.name == key || (key.len() >= 4 && d.id.starts_with(key))
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::UnknownDocument(key.to_string())),
            many => Err(Error::InvalidInput(format!(
                "`{key}` matches {} documents ({}); give the id or the full path",
                many.len(),
                many.iter().map(|d| d.id.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Records that an import of this file version has begun.
    pub async fn begin(&self, id: &str, path: &str, name: &str, size: u64, hash: &str) -> Result<()> {
        let t = now();
        sqlx::query(
            "INSERT INTO documents (id, path, name, size, hash, status, added_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'importing', ?, ?)
             ON CONFLICT(id) DO UPDATE SET path = excluded.path, name = excluded.name, size = excluded.size,
               hash = excluded.hash, status = 'importing', error_code = NULL, error_message = NULL,
               updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(path)
        .bind(name)
        .bind(size as i64)
        .bind(hash)
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn finish(&self, id: &str, o: Outcome<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE documents SET status = ?, format = ?, encoding = ?, error_code = ?, error_message = ?,
               pages = ?, chunks = ?, chars = ?, updated_at = ? WHERE id = ?",
        )
        .bind(o.status.as_str())
        .bind(o.format)
        .bind(o.encoding)
        .bind(o.error_code)
        .bind(o.error_message)
        .bind(o.pages.map(i64::from))
        .bind(i64::from(o.chunks))
        .bind(o.chars as i64)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM documents WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
