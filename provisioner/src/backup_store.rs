//! Where backups are kept: the small [`BackupStore`] trait (put a finished local file under
//! a key with its SHA-256, fetch one back into a local file, delete, list by prefix) and
//! its two implementations: [`LocalDir`], a directory on the worker's disk
//! (`<data_dir>/backups`, the default and what `scripts/up` uses), and [`S3Store`], an S3
//! bucket or S3-compatible service (`backups.store = "s3"`, see `s3`). [`from_settings`]
//! picks one; nothing outside this module knows where the bytes live.
//!
//! Keys are `<tenant id>/<backup id>.dump`: plain relative paths of `[0-9a-z._/-]`, never
//! `..`, so a key can never leave the store.

mod s3;

pub use s3::S3Store;

use common::config::{BackupStoreKind, Settings};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

/// What a store operation returns: boxed, so stores can be chosen at run time (`dyn`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// A place to keep backup files by key.
pub trait BackupStore: Send + Sync {
    /// Stores the complete file at `file` under `key` (the file is consumed), with its
    /// SHA-256 (lowercase hex) where the store keeps one. A key is either wholly there or
    /// absent: readers never see half a backup.
    fn put<'a>(&'a self, key: &'a str, file: &'a Path, sha256: &'a str) -> StoreFuture<'a, ()>;
    /// Copies the backup under `key` into the local file `into`; a store that keeps
    /// checksums refuses (`InvalidData`) bytes that do not match theirs.
    fn fetch<'a>(&'a self, key: &'a str, into: &'a Path) -> StoreFuture<'a, ()>;
    /// Removes the backup under `key`; a missing key is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
    /// The keys under `prefix` (a tenant's id and `/`), sorted.
    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>>;
    /// Where the backup under `key` lives, for people (a deleted tenant's `backup_path`): a
    /// file's path, or `s3://bucket/prefix/key`.
    fn location(&self, key: &str) -> String;
}

/// The store the settings name, and the local scratch directory for dumps on their way in
/// or out (`<data_dir>/backups/.staging` either way).
pub fn from_settings(settings: &Settings) -> io::Result<(Arc<dyn BackupStore>, PathBuf)> {
    let local = LocalDir::new(settings.data_dir.join("backups"));
    let staging = local.staging_dir();
    Ok(match settings.backups.store {
        BackupStoreKind::Local => (Arc::new(local), staging),
        BackupStoreKind::S3 => (
            Arc::new(S3Store::from_settings(&settings.backups.s3)?),
            staging,
        ),
    })
}

/// Refuses a key that is not a plain relative path of `[0-9a-z._/-]` without `..`.
fn checked_key(key: &str) -> io::Result<&str> {
    let safe = !key.is_empty()
        && !key.starts_with('/')
        && key.split('/').all(|part| !part.is_empty() && part != "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._/-".contains(&b));
    if safe {
        Ok(key)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a backup key: {key:?}"),
        ))
    }
}

/// A directory on local disk. Files are written beside their final name and renamed into
/// place, so a crash never leaves a partial file under a key.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where this store keeps scratch files (same filesystem, so `put` is a rename).
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join(".staging")
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        Ok(self.root.join(checked_key(key)?))
    }

    /// The file of `key`, unless the key is not one.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }
}

impl BackupStore for LocalDir {
    /// The checksum is not kept beside the file: the backup's row has it, and a restore
    /// compares the fetched file with the row.
    fn put<'a>(&'a self, key: &'a str, file: &'a Path, _sha256: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path(key)?;
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            // A rename within one filesystem is atomic; across filesystems, copy beside the
            // final name first.
            if tokio::fs::rename(file, &path).await.is_err() {
                let partial = path.with_extension("partial");
                tokio::fs::copy(file, &partial).await?;
                tokio::fs::rename(&partial, &path).await?;
                tokio::fs::remove_file(file).await?;
            }
            Ok(())
        })
    }

    fn fetch<'a>(&'a self, key: &'a str, into: &'a Path) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            tokio::fs::copy(self.path(key)?, into).await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let dir = self.path(prefix.trim_end_matches('/'))?;
            let mut keys = Vec::new();
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(keys),
                Err(error) => return Err(error),
            };
            while let Some(entry) = entries.next_entry().await? {
                if let Some(name) = entry.file_name().to_str() {
                    keys.push(format!("{}/{name}", prefix.trim_end_matches('/')));
                }
            }
            keys.sort();
            Ok(keys)
        })
    }

    fn location(&self, key: &str) -> String {
        self.local_path(key)
            .map_or_else(|| key.to_owned(), |path| path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_store() {
        let store = LocalDir::new("/srv/backups");
        assert_eq!(
            store.local_path("0191/0192.dump"),
            Some(PathBuf::from("/srv/backups/0191/0192.dump"))
        );
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            "a//b",
            "A.dump",
            "a b",
        ] {
            assert!(store.local_path(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_file_put_can_be_fetched_listed_and_deleted() {
        let root = std::env::temp_dir().join(format!("erp-store-{}", uuid::Uuid::now_v7()));
        let store = LocalDir::new(&root);
        tokio::fs::create_dir_all(&root).await.unwrap();
        let scratch = root.join("scratch");
        tokio::fs::write(&scratch, b"dump").await.unwrap();
        store.put("t1/b1.dump", &scratch, "00").await.unwrap();
        assert!(!scratch.exists(), "the file is consumed");
        assert_eq!(store.list("t1/").await.unwrap(), ["t1/b1.dump"]);
        let back = root.join("back");
        store.fetch("t1/b1.dump", &back).await.unwrap();
        assert_eq!(tokio::fs::read(&back).await.unwrap(), b"dump");
        store.delete("t1/b1.dump").await.unwrap();
        store.delete("t1/b1.dump").await.unwrap();
        assert!(store.list("t1").await.unwrap().is_empty());
        assert!(store.list("t2").await.unwrap().is_empty());
        tokio::fs::remove_dir_all(&root).await.unwrap();
    }
}
