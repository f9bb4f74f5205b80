//! [`S3Store`]: backups in an S3 bucket or any S3-compatible service, through `object_store`
//! (rustls and ring, no OpenSSL), configured by `backups.s3.*` (see
//! `common::config::S3Settings`).
//!
//! - A dump goes up streamed from its file: one `PUT` when it fits in a part, otherwise a
//!   multipart upload of `part_size_mib` parts (at most two in flight), so memory stays
//!   bounded whatever the tenant's size. S3 shows an object only once its upload completes,
//!   so a reader never sees half a backup.
//! - The dump's SHA-256 is stored with the object (user metadata `sha256`); a fetch hashes
//!   what it receives and refuses (`InvalidData`) an object whose bytes do not match it, and
//!   an upload is checked by its size once stored.
//! - Keys live under `backups.s3.prefix` (when set); list and delete see only that prefix.

use super::{StoreFuture, checked_key};
use common::config::S3Settings;
use futures_util::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt as _};
use sha2::{Digest, Sha256};
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncWriteExt as _, BufReader};

/// The user-metadata key the dump's SHA-256 (lowercase hex) is stored under.
const SHA256_METADATA: &str = "sha256";
/// Parts uploaded at once: with the part size, what a multipart upload holds in memory.
const PARTS_IN_FLIGHT: usize = 2;
const MIB: usize = 1024 * 1024;

/// A bucket (and a prefix in it) holding backups.
#[derive(Debug, Clone)]
pub struct S3Store {
    store: Arc<dyn ObjectStore>,
    part_size: usize,
    /// `s3://bucket/` and the prefix with its `/`, what a key's location starts with.
    root: String,
}

impl S3Store {
    /// The store `settings` describe. Credentials: the settings' static keys when set,
    /// otherwise whatever the environment offers (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
    /// a web identity token, the instance's role). Nothing is contacted here.
    pub fn from_settings(settings: &S3Settings) -> io::Result<Self> {
        let bucket = settings
            .bucket
            .as_deref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no bucket configured"))?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(!settings.path_style);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(bucket_endpoint(endpoint, bucket, settings.path_style));
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            builder = builder
                .with_access_key_id(id.expose())
                .with_secret_access_key(secret.expose());
        }
        let s3 = builder.build().map_err(io::Error::other)?;
        let prefix = settings.prefix.trim_end_matches('/');
        let (store, root): (Arc<dyn ObjectStore>, _) = match prefix {
            "" => (Arc::new(s3), format!("s3://{bucket}/")),
            prefix => (
                Arc::new(PrefixStore::new(s3, prefix)),
                format!("s3://{bucket}/{prefix}/"),
            ),
        };
        Ok(Self {
            store,
            part_size: usize::try_from(settings.part_size_mib).unwrap_or(16) * MIB,
            root,
        })
    }

    async fn upload(&self, path: &ObjectPath, file: &Path, sha256: &str) -> io::Result<()> {
        let size = tokio::fs::metadata(file).await?.len();
        let attributes = Attributes::from_iter([(
            Attribute::Metadata(SHA256_METADATA.into()),
            sha256.to_owned(),
        )]);
        let mut writer = BufWriter::with_capacity(self.store.clone(), path.clone(), self.part_size)
            .with_max_concurrency(PARTS_IN_FLIGHT)
            .with_attributes(attributes);
        let mut reader = BufReader::with_capacity(MIB, tokio::fs::File::open(file).await?);
        let sent = match tokio::io::copy(&mut reader, &mut writer).await {
            Ok(_) => writer.shutdown().await,
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            // An unfinished multipart upload would be kept (and billed) by S3.
            let _ = writer.abort().await;
            return Err(error);
        }
        let stored = self.store.head(path).await.map_err(to_io)?;
        if stored.size != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("stored {path} has {} bytes, the dump {size}", stored.size),
            ));
        }
        Ok(())
    }

    async fn download(&self, path: &ObjectPath, into: &Path) -> io::Result<()> {
        let found = self.store.get(path).await.map_err(to_io)?;
        let expected = found
            .attributes
            .get(&Attribute::Metadata(SHA256_METADATA.into()))
            .map(|value| value.as_ref().to_owned())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("object {path} has no stored SHA-256"),
                )
            })?;
        let mut out = tokio::fs::File::create(into).await?;
        let mut hasher = Sha256::new();
        let mut stream = found.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(to_io)?;
            hasher.update(&chunk);
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        let actual = hex(&hasher.finalize());
        if actual != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "object {path} is corrupt: its bytes have SHA-256 {actual}, \
                     stored with it {expected}"
                ),
            ));
        }
        Ok(())
    }
}

impl super::BackupStore for S3Store {
    fn put<'a>(&'a self, key: &'a str, file: &'a Path, sha256: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let path = object_path(key)?;
            self.upload(&path, file, sha256).await?;
            tokio::fs::remove_file(file).await
        })
    }

    fn fetch<'a>(&'a self, key: &'a str, into: &'a Path) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.download(&object_path(key)?, into).await })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match self.store.delete(&object_path(key)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(error) => Err(to_io(error)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let prefix = object_path(prefix.trim_end_matches('/'))?;
            let mut listed = self.store.list(Some(&prefix));
            let mut keys = Vec::new();
            while let Some(object) = listed.next().await {
                keys.push(object.map_err(to_io)?.location.to_string());
            }
            keys.sort();
            Ok(keys)
        })
    }

    fn location(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }
}

/// A backup key as an object path (the same keys a local directory accepts).
fn object_path(key: &str) -> io::Result<ObjectPath> {
    checked_key(key)?;
    ObjectPath::parse(key).map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
}

/// The endpoint object_store addresses: with virtual-hosted style the bucket is part of the
/// host name (`http://bucket.host:port`), with path style it follows the host.
fn bucket_endpoint(endpoint: &str, bucket: &str, path_style: bool) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    match endpoint.split_once("://") {
        Some((scheme, host)) if !path_style => format!("{scheme}://{bucket}.{host}"),
        _ => endpoint.to_owned(),
    }
}

fn to_io(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_goes_into_the_host_unless_path_style() {
        assert_eq!(
            bucket_endpoint("https://s3.example.com/", "erp", false),
            "https://erp.s3.example.com"
        );
        assert_eq!(
            bucket_endpoint("http://127.0.0.1:9000", "erp", true),
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn keys_that_could_leave_the_prefix_are_refused() {
        assert!(object_path("0191/0192.dump").is_ok());
        for bad in ["", "/abs", "../x", "a//b", "A.dump"] {
            assert!(object_path(bad).is_err(), "{bad}");
        }
    }
}
