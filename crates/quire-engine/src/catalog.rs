//! The SQLite catalog (sqlx, with embedded migrations): documents, chats and collections.

use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use crate::answer::Answer;
use crate::chat::{ChatInfo, ChatMessage, ChatScope};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
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
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
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
    /// What the user can do about the failure (from its code).
    pub error_hint: Option<crate::Hint>,
    pub pages: Option<u32>,
    pub chunks: u32,
    pub chars: u64,
    pub added_at: i64,
    pub updated_at: i64,
    /// What the document is, for people (registrant, form and period of a
    /// filing; a declared title; the file name).
    pub title: Option<String>,
    /// The header embedded with its passages ([`crate::context`]); `None`
    /// for a document imported before headers existed.
    #[serde(skip)]
    pub context: Option<String>,
    /// Its financial-statement pages as JSON ([`crate::statements`]); `None`
    /// for a document imported before statement pages were told.
    #[serde(skip)]
    pub statements: Option<String>,
    /// The pages recognised by OCR, as JSON (`[3, 4]`); `None` when none was.
    #[serde(skip)]
    pub ocr_pages: Option<String>,
    /// For a file attached to a message: the message's document id.
    pub parent: Option<String>,
    /// For a file attached to a message: its number in the message.
    #[serde(skip)]
    pub part: Option<u32>,
}

pub struct Catalog {
    pool: SqlitePool,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
        error_hint: r
            .try_get::<Option<String>, _>("error_code")?
            .as_deref()
            .and_then(crate::Hint::for_code),
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        pages: r.try_get::<Option<i64>, _>("pages")?.map(|p| p as u32),
        chunks: r.try_get::<i64, _>("chunks")? as u32,
        chars: r.try_get::<i64, _>("chars")? as u64,
        added_at: r.try_get("added_at")?,
        updated_at: r.try_get("updated_at")?,
        title: r.try_get("title")?,
        context: r.try_get("context")?,
        statements: r.try_get("statements")?,
        ocr_pages: r.try_get("ocr_pages")?,
        parent: r.try_get("parent")?,
        part: r.try_get::<Option<i64>, _>("part")?.map(|p| p as u32),
    })
}

/// What a finished import writes for one document.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub status: Status,
    pub format: Option<&'a str>,
    pub encoding: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub pages: Option<u32>,
    pub chunks: u32,
    pub chars: u64,
    pub title: Option<&'a str>,
    pub context: Option<&'a str>,
    pub statements: Option<&'a str>,
    /// The pages recognised by OCR, as JSON; `None` when none was.
    pub ocr_pages: Option<&'a str>,
}

/// A document about to be written: its file version.
pub struct Begun<'a> {
    pub id: &'a str,
    pub path: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub hash: &'a str,
    /// A message's attachment: the message's document id and the
    /// attachment's number.
    pub parent: Option<(&'a str, u32)>,
}

async fn begin_on(c: &mut sqlx::SqliteConnection, d: &Begun<'_>) -> Result<()> {
    let t = now();
    sqlx::query(
        "INSERT INTO documents (id, path, name, size, hash, status, added_at, updated_at, parent, part)
         VALUES (?, ?, ?, ?, ?, 'importing', ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET path = excluded.path, name = excluded.name, size = excluded.size,
           hash = excluded.hash, status = 'importing', error_code = NULL, error_message = NULL,
           updated_at = excluded.updated_at, parent = excluded.parent, part = excluded.part",
    )
    .bind(d.id)
    .bind(d.path)
    .bind(d.name)
    .bind(d.size as i64)
    .bind(d.hash)
    .bind(t)
    .bind(t)
    .bind(d.parent.map(|p| p.0))
    .bind(d.parent.map(|p| p.1 as i64))
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn finish_on(c: &mut sqlx::SqliteConnection, id: &str, o: &Outcome<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE documents SET status = ?, format = ?, encoding = ?, error_code = ?, error_message = ?,
           pages = ?, chunks = ?, chars = ?, title = ?, context = ?, statements = ?, ocr_pages = ?,
           updated_at = ? WHERE id = ?",
    )
    .bind(o.status.as_str())
    .bind(o.format)
    .bind(o.encoding)
    .bind(o.error_code)
    .bind(o.error_message)
    .bind(o.pages.map(i64::from))
    .bind(i64::from(o.chunks))
    .bind(o.chars as i64)
    .bind(o.title)
    .bind(o.context)
    .bind(o.statements)
    .bind(o.ocr_pages)
    .bind(now())
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn dequeue_on(c: &mut sqlx::SqliteConnection, path: &str) -> Result<()> {
    sqlx::query("DELETE FROM import_queue WHERE path = ?")
        .bind(path)
        .execute(&mut *c)
        .await?;
    Ok(())
}

impl Catalog {
    pub async fn open(file: &Path) -> Result<Self> {
        let url = format!("sqlite://{}", file.display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Catalog { pool })
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM library_meta WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
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
        let row = sqlx::query("SELECT * FROM documents WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_doc).transpose()
    }

    pub async fn list(&self) -> Result<Vec<DocumentInfo>> {
        let rows = sqlx::query("SELECT * FROM documents ORDER BY name COLLATE NOCASE, path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_doc).collect()
    }

    /// One page of the document list: filtered by status and by text (in the
    /// name, title or path, case-insensitive), sorted, with the number of
    /// documents of each status that match the text.
    pub async fn page(&self, q: &crate::api::DocumentQuery) -> Result<crate::api::DocumentPage> {
        use crate::api::DocumentSort;
        let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let pattern = text.map(|t| {
            let escaped = t
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let text_clause = if pattern.is_some() {
            "(name LIKE ?1 ESCAPE '\\' OR IFNULL(title, '') LIKE ?1 ESCAPE '\\' OR path LIKE ?1 ESCAPE '\\')"
        } else {
            "?1 IS NULL"
        };
        let mut counts = crate::api::StatusCounts::default();
        let rows = sqlx::query(&format!(
            "SELECT status, COUNT(*) AS n FROM documents WHERE {text_clause} GROUP BY status"
        ))
        .bind(&pattern)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let n: i64 = r.try_get("n")?;
            counts.add(
                Status::parse(&r.try_get::<String, _>("status")?),
                n as usize,
            );
        }
        let library = if pattern.is_some() {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM documents")
                .fetch_one(&self.pool)
                .await? as usize
        } else {
            counts.all
        };
        let total = counts.of(q.status);
        let column = match q.sort.unwrap_or_default() {
            DocumentSort::Name => "name COLLATE NOCASE",
            DocumentSort::Status => "status",
            DocumentSort::Pages => "IFNULL(pages, 0)",
            DocumentSort::Chunks => "chunks",
            DocumentSort::Size => "size",
            DocumentSort::Added => "added_at",
            DocumentSort::Updated => "updated_at",
        };
        let dir = if q.desc.unwrap_or(false) {
            "DESC"
        } else {
            "ASC"
        };
        let offset = q.offset.unwrap_or(0);
        let limit = q.limit.map_or(-1, |l| l as i64);
        let rows = sqlx::query(&format!(
            "SELECT * FROM documents WHERE {text_clause} AND (?2 IS NULL OR status = ?2) \
             ORDER BY {column} {dir}, name COLLATE NOCASE, path, id LIMIT ?3 OFFSET ?4"
        ))
        .bind(&pattern)
        .bind(q.status.map(Status::as_str))
        .bind(limit)
        .bind(offset as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(crate::api::DocumentPage {
            documents: rows.iter().map(row_to_doc).collect::<Result<_>>()?,
            total,
            offset,
            counts,
            library,
        })
    }

    /// Finds a document by id, id prefix, full path or file name; ambiguity is an error.
    pub async fn find(&self, key: &str) -> Result<DocumentInfo> {
        let docs = self.list().await?;
        if let Some(d) = docs.iter().find(|d| d.id == key || d.path == key) {
            return Ok(d.clone());
        }
        let canonical = std::fs::canonicalize(key)
            .ok()
            .map(|p| p.display().to_string());
        let matches: Vec<&DocumentInfo> = docs
            .iter()
            .filter(|d| {
                Some(&d.path) == canonical.as_ref()
                    || d.name == key
                    || (key.len() >= 4 && d.id.starts_with(key))
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::UnknownDocument(key.to_string())),
            many => Err(Error::InvalidInput(format!(
                "`{key}` matches {} documents ({}); give the id or the full path",
                many.len(),
                many.iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Records that an import of this file version has begun.
    pub async fn begin(
        &self,
        id: &str,
        path: &str,
        name: &str,
        size: u64,
        hash: &str,
    ) -> Result<()> {
        let mut c = self.pool.acquire().await?;
        let d = Begun {
            id,
            path,
            name,
            size,
            hash,
            parent: None,
        };
        begin_on(&mut c, &d).await
    }

    pub async fn finish(&self, id: &str, o: Outcome<'_>) -> Result<()> {
        let mut c = self.pool.acquire().await?;
        finish_on(&mut c, id, &o).await
    }

    /// Marks many documents as being written, in one transaction: what a
    /// crash leaves in this state is undone when the library next opens.
    pub async fn begin_all(&self, docs: &[Begun<'_>]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for d in docs {
            begin_on(&mut tx, d).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records many finished documents and takes their files off the import
    /// queue, in one transaction.
    pub async fn finish_all(&self, docs: &[(&str, Outcome<'_>)], paths: &[&str]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (id, o) in docs {
            finish_on(&mut tx, id, o).await?;
        }
        for p in paths {
            dequeue_on(&mut tx, p).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Puts files on the import queue (a file already on it stays, forced
    /// if either asks).
    pub async fn enqueue(&self, paths: &[String], force: bool) -> Result<()> {
        let t = now();
        let mut tx = self.pool.begin().await?;
        for p in paths {
            sqlx::query(
                "INSERT INTO import_queue (path, force, queued_at) VALUES (?, ?, ?)
                 ON CONFLICT(path) DO UPDATE SET force = MAX(force, excluded.force)",
            )
            .bind(p)
            .bind(force as i64)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes a file off the import queue.
    pub async fn dequeue(&self, path: &str) -> Result<()> {
        let mut c = self.pool.acquire().await?;
        dequeue_on(&mut c, path).await
    }

    /// Forgets every queued file.
    pub async fn clear_queue(&self) -> Result<usize> {
        Ok(sqlx::query("DELETE FROM import_queue")
            .execute(&self.pool)
            .await?
            .rows_affected() as usize)
    }

    /// The files waiting to be imported, oldest first, and whether each is forced.
    pub async fn queued(&self) -> Result<Vec<(String, bool)>> {
        let rows = sqlx::query("SELECT path, force FROM import_queue ORDER BY queued_at, path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("path")?, r.try_get::<i64, _>("force")? != 0)))
            .collect()
    }

    /// `(id, path, parent)` of the documents whose import began and did not finish.
    pub async fn unfinished(&self) -> Result<Vec<(String, String, Option<String>)>> {
        let rows = sqlx::query("SELECT id, path, parent FROM documents WHERE status = 'importing'")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("path")?, r.try_get("parent")?)))
            .collect()
    }

    /// Moves a document to another path (a renamed or moved file with the
    /// same content): its record, collections included, under its new id.
    pub async fn move_document(&self, from: &str, to: &str, path: &str, name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM documents WHERE id = ?")
            .bind(to)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO documents (id, path, name, format, encoding, size, hash, status, error_code,
               error_message, pages, chunks, chars, added_at, updated_at, title, context, statements,
               ocr_pages, parent, part)
             SELECT ?, ?, ?, format, encoding, size, hash, status, error_code, error_message, pages,
               chunks, chars, added_at, ?, title, context, statements, ocr_pages, parent, part
             FROM documents WHERE id = ?",
        )
        .bind(to)
        .bind(path)
        .bind(name)
        .bind(now())
        .bind(from)
        .execute(&mut *tx)
        .await?;
        // A message's attachments name it as their parent.
        sqlx::query("UPDATE documents SET parent = ? WHERE parent = ?")
            .bind(to)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE collection_documents SET doc_id = ? WHERE doc_id = ?")
            .bind(to)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM documents WHERE id = ?")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        dequeue_on(&mut tx, path).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Imported documents with this content whose file is no longer where
    /// the catalog says (candidates for a rename or move).
    pub async fn with_hash(&self, hash: &str) -> Result<Vec<DocumentInfo>> {
        let rows = sqlx::query("SELECT * FROM documents WHERE hash = ? AND status = 'imported'")
            .bind(hash)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_doc).collect()
    }

    pub async fn add_watched(&self, path: &str) -> Result<()> {
        sqlx::query("INSERT INTO watched_folders (path, added_at) VALUES (?, ?) ON CONFLICT(path) DO NOTHING")
            .bind(path)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the folder was watched.
    pub async fn remove_watched(&self, path: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM watched_folders WHERE path = ?")
            .bind(path)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    pub async fn watched(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT path FROM watched_folders ORDER BY path")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// `(doc_id, header)` of every imported document that has a header.
    pub async fn contexts(&self) -> Result<Vec<(String, String)>> {
        self.imported_column("context").await
    }

    /// `(doc_id, value)` of every imported document whose `column` is set.
    async fn imported_column(&self, column: &'static str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT id, {column} FROM documents WHERE status = 'imported' AND {column} IS NOT NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get(column)?)))
            .collect()
    }

    /// `(doc_id, OCR'd pages JSON)` of every imported document that has some.
    pub async fn ocr_pages(&self) -> Result<Vec<(String, String)>> {
        self.imported_column("ocr_pages").await
    }

    /// `(doc_id, statements JSON)` of every imported document that has them.
    pub async fn statement_pages(&self) -> Result<Vec<(String, String)>> {
        self.imported_column("statements").await
    }

    /// Records the statement pages of a document imported before they were told.
    pub async fn set_statements(&self, id: &str, statements: &str) -> Result<()> {
        sqlx::query("UPDATE documents SET statements = ? WHERE id = ?")
            .bind(statements)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a document's record, and its attachments' when it is a message.
    pub async fn delete(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM documents WHERE id = ? OR parent = ?")
            .bind(id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `(id, parent)` of every document made of a message's attachment
    /// (one query, for a scope of many documents).
    pub async fn attachments(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, parent FROM documents WHERE parent IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("parent")?)))
            .collect()
    }

    /// The documents made of a message's attachments.
    pub async fn children(&self, parent: &str) -> Result<Vec<DocumentInfo>> {
        let rows = sqlx::query("SELECT * FROM documents WHERE parent = ? ORDER BY part")
            .bind(parent)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_doc).collect()
    }

    /// An escalated answer kept under `key`: the model's name and words.
    pub async fn escalated_answer(&self, key: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT model, text FROM escalated_answers WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("model")?, r.try_get("text")?)))
            .transpose()
    }

    /// Keeps an escalated answer for the same question over the same passages.
    pub async fn keep_escalated_answer(&self, key: &str, model: &str, text: &str) -> Result<()> {
        sqlx::query("INSERT OR REPLACE INTO escalated_answers (key, model, text) VALUES (?, ?, ?)")
            .bind(key)
            .bind(model)
            .bind(text)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- chats ----

    pub async fn create_chat(&self, title: &str, scope: Option<&ChatScope>) -> Result<i64> {
        let t = now();
        let scope = scope
            .filter(|s| !s.is_empty())
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Bug(e.to_string()))?;
        let id = sqlx::query(
            "INSERT INTO chats (title, scope, created_at, updated_at) VALUES (?, ?, ?, ?)",
        )
        .bind(title)
        .bind(scope)
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    pub async fn chats(&self) -> Result<Vec<ChatInfo>> {
        let rows = sqlx::query(
            "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id) AS n
             FROM chats c ORDER BY c.updated_at DESC, c.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_chat).collect()
    }

    pub async fn chat(&self, id: i64) -> Result<ChatInfo> {
        let row = sqlx::query(
            "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id) AS n FROM chats c WHERE c.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(row_to_chat)
            .transpose()?
            .ok_or(Error::UnknownChat(id))
    }

    pub async fn rename_chat(&self, id: i64, title: &str) -> Result<()> {
        let n = sqlx::query("UPDATE chats SET title = ?, updated_at = ? WHERE id = ?")
            .bind(title)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::UnknownChat(id));
        }
        Ok(())
    }

    pub async fn delete_chat(&self, id: i64) -> Result<()> {
        let n = sqlx::query("DELETE FROM chats WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::UnknownChat(id));
        }
        Ok(())
    }

    pub async fn messages(&self, chat_id: i64) -> Result<Vec<ChatMessage>> {
        let rows = sqlx::query("SELECT * FROM messages WHERE chat_id = ? ORDER BY id")
            .bind(chat_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let cited: Option<String> = r.try_get("cited")?;
                Ok(ChatMessage {
                    id: r.try_get("id")?,
                    role: r.try_get("role")?,
                    content: r.try_get("content")?,
                    query: r.try_get("query")?,
                    cited: cited
                        .and_then(|c| serde_json::from_str(&c).ok())
                        .unwrap_or_default(),
                    not_covered: r.try_get::<i64, _>("not_covered")? != 0,
                    stopped: r.try_get::<i64, _>("stopped")? != 0,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Saves a question and its answer together.
    pub async fn add_exchange(&self, chat_id: i64, question: &str, answer: &Answer) -> Result<()> {
        let t = now();
        let cited = serde_json::to_string(&answer.cited).map_err(|e| Error::Bug(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO messages (chat_id, role, content, created_at) VALUES (?, 'user', ?, ?)",
        )
        .bind(chat_id)
        .bind(question)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO messages (chat_id, role, content, query, cited, not_covered, stopped, created_at)
             VALUES (?, 'assistant', ?, ?, ?, ?, ?, ?)",
        )
        .bind(chat_id)
        .bind(&answer.text)
        .bind(&answer.query)
        .bind(cited)
        .bind(i64::from(answer.not_covered))
        .bind(i64::from(answer.stopped))
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE chats SET updated_at = ? WHERE id = ?")
            .bind(t)
            .bind(chat_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- collections ----

    pub async fn add_to_collection(&self, name: &str, doc_ids: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)")
            .bind(name)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        for id in doc_ids {
            sqlx::query(
                "INSERT OR IGNORE INTO collection_documents (collection, doc_id) VALUES (?, ?)",
            )
            .bind(name)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_from_collection(&self, name: &str, doc_ids: &[String]) -> Result<()> {
        for id in doc_ids {
            sqlx::query("DELETE FROM collection_documents WHERE collection = ? AND doc_id = ?")
                .bind(name)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    pub async fn delete_collection(&self, name: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM collections WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::UnknownCollection(name.to_string()));
        }
        Ok(())
    }

    /// Collections with their document ids.
    pub async fn collections(&self) -> Result<Vec<Collection>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM collections ORDER BY name COLLATE NOCASE")
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::new();
        for name in names {
            let documents = self.collection_documents(&name).await?;
            out.push(Collection { name, documents });
        }
        Ok(out)
    }

    pub async fn collection_documents(&self, name: &str) -> Result<Vec<String>> {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM collections WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        if exists.is_none() {
            return Err(Error::UnknownCollection(name.to_string()));
        }
        Ok(sqlx::query_scalar(
            "SELECT doc_id FROM collection_documents WHERE collection = ? ORDER BY doc_id",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A named group of documents.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Collection {
    pub name: String,
    pub documents: Vec<String>,
}

fn row_to_chat(r: &sqlx::sqlite::SqliteRow) -> Result<ChatInfo> {
    let scope: Option<String> = r.try_get("scope")?;
    Ok(ChatInfo {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        scope: scope.and_then(|s| serde_json::from_str(&s).ok()),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        messages: r.try_get::<i64, _>("n")? as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DocumentQuery, DocumentSort};

    fn outcome(status: Status, chunks: u32) -> Outcome<'static> {
        Outcome {
            ocr_pages: None,
            status,
            format: Some("text"),
            encoding: None,
            error_code: None,
            error_message: None,
            pages: None,
            chunks,
            chars: 0,
            title: None,
            context: None,
            statements: None,
        }
    }

    #[tokio::test]
    async fn the_document_list_pages_sorts_and_filters_in_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(&dir.path().join("q.sqlite")).await.unwrap();
        for i in 0..250u32 {
            let id = format!("d{i:03}");
            let name = format!(
                "{}report_{i:03}.txt",
                if i % 10 == 0 { "Annual " } else { "" }
            );
            c.begin(&id, &format!("/lib/{name}"), &name, u64::from(i), "h")
                .await
                .unwrap();
            let status = if i % 50 == 7 {
                Status::Failed
            } else {
                Status::Imported
            };
            c.finish(&id, outcome(status, 250 - i)).await.unwrap();
        }
        let page = |q: DocumentQuery| {
            let c = &c;
            async move { c.page(&q.checked()).await.unwrap() }
        };
        // Pages of 100 cover the list once, in name order.
        let mut seen = Vec::new();
        for offset in [0, 100, 200] {
            let p = page(DocumentQuery {
                offset: Some(offset),
                limit: Some(100),
                ..Default::default()
            })
            .await;
            assert_eq!((p.total, p.offset), (250, offset));
            seen.extend(p.documents.into_iter().map(|d| d.name));
        }
        assert_eq!(seen.len(), 250);
        let mut sorted = seen.clone();
        sorted.sort_by_key(|n| n.to_lowercase());
        assert_eq!(seen, sorted);
        // Sorted by passages, largest first; a limit beyond the largest page is cut.
        let p = page(DocumentQuery {
            sort: Some(DocumentSort::Chunks),
            desc: Some(true),
            limit: Some(5000),
            ..Default::default()
        })
        .await;
        assert_eq!(p.documents.len(), 250);
        assert!(p.documents.windows(2).all(|w| w[0].chunks >= w[1].chunks));
        // Filtered by status and text (case-insensitive; `_` is a character, not a wildcard).
        let p = page(DocumentQuery {
            status: Some(Status::Failed),
            ..Default::default()
        })
        .await;
        assert_eq!(
            (p.total, p.counts.failed, p.counts.imported, p.counts.all),
            (5, 5, 245, 250)
        );
        let p = page(DocumentQuery {
            q: Some("annual".into()),
            ..Default::default()
        })
        .await;
        assert_eq!((p.total, p.counts.all, p.library), (25, 25, 250));
        assert!(p.documents.iter().all(|d| d.name.starts_with("Annual ")));
        let p = page(DocumentQuery {
            q: Some("t_0".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(p.total, 100, "report_0xx only");
        let p = page(DocumentQuery {
            q: Some("%".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(p.total, 0);
    }
}
