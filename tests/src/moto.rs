//! A real S3-compatible server for the object-storage tests: moto's standalone server
//! (`moto_server`, from PyPI), started on a free loopback port for one test and killed when
//! the handle drops.
//!
//! Where `moto_server` is found, first hit wins: `TEST_MOTO_SERVER` (a path; `scripts/test`
//! sets it after installing moto into a venv beside the build, see `scripts/lib/moto.sh`),
//! that venv (`<target dir>/moto-<version>/bin/moto_server`, found from the test binary's
//! own path), then `PATH`. When none starts, [`Moto::start`] says why and the test skips.

use common::Secret;
use common::config::S3Settings;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The moto version `scripts/lib/moto.sh` installs.
pub const MOTO_VERSION: &str = "5.2.6";

/// Moto checks no signature, but answers an anonymous read of a private object 403 as S3
/// does: the test's own reads, past the store, carry this.
const ANY_SIGNATURE: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
     SignedHeaders=host, Signature=0";

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    client: reqwest::Client,
}

impl Moto {
    /// Starts moto on a free loopback port and waits (at most 30 s) until it answers; the
    /// error is the reason to skip.
    pub async fn start() -> Result<Moto, String> {
        crate::init();
        let binary = server_binary().ok_or(
            "moto_server not found (TEST_MOTO_SERVER, the build's venv, PATH): \
             run scripts/test, or pip install 'moto[server]'",
        )?;
        let port = free_port().map_err(|error| format!("no free port: {error}"))?;
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("{} did not start: {error}", binary.display()))?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        moto.wait_until_up().await?;
        Ok(moto)
    }

    async fn wait_until_up(&self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.client.get(&self.endpoint).send().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "moto did not answer at {} within 30 s",
            self.endpoint
        ))
    }

    /// Creates the bucket `name` and returns settings for it (path style, static keys that
    /// moto accepts, multipart parts of the smallest size S3 allows).
    pub async fn bucket(&self, name: &str) -> S3Settings {
        let response = self
            .client
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("bucket request");
        assert!(response.status().is_success(), "{}", response.status());
        S3Settings {
            bucket: Some(name.to_owned()),
            prefix: String::new(),
            region: "us-east-1".into(),
            endpoint: Some(self.endpoint.clone()),
            path_style: true,
            part_size_mib: 5,
            access_key_id: Some(Secret::new("testing")),
            secret_access_key: Some(Secret::new("testing")),
        }
    }

    /// The object at `bucket/key`, read past the store (status, `x-amz-meta-sha256`, body).
    pub async fn object(&self, bucket: &str, key: &str) -> (u16, Option<String>, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}/{bucket}/{key}", self.endpoint))
            .header("authorization", ANY_SIGNATURE)
            .send()
            .await
            .expect("object request");
        let status = response.status().as_u16();
        let sha256 = response
            .headers()
            .get("x-amz-meta-sha256")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.expect("object body").to_vec();
        (status, sha256, body)
    }

    /// Replaces the object's bytes behind the store's back, keeping its stored checksum (as
    /// bit rot or a tampering hand would).
    pub async fn overwrite(&self, bucket: &str, key: &str, body: Vec<u8>, sha256: &str) {
        let response = self
            .client
            .put(format!("{}/{bucket}/{key}", self.endpoint))
            .header("authorization", ANY_SIGNATURE)
            .header("x-amz-meta-sha256", sha256)
            .body(body)
            .send()
            .await
            .expect("overwrite request");
        assert!(response.status().is_success(), "{}", response.status());
    }
}

impl Moto {
    /// The object's ETag (`"<md5>-<parts>"` for a multipart upload).
    pub async fn etag(&self, bucket: &str, key: &str) -> String {
        let response = self
            .client
            .head(format!("{}/{bucket}/{key}", self.endpoint))
            .header("authorization", ANY_SIGNATURE)
            .send()
            .await
            .expect("head request");
        assert!(response.status().is_success(), "{}", response.status());
        response.headers()["etag"]
            .to_str()
            .expect("an etag")
            .trim_matches('"')
            .to_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto, or prints why the calling test is skipped and returns `None`.
pub async fn start_or_skip(test: &str) -> Option<Moto> {
    match Moto::start().await {
        Ok(moto) => Some(moto),
        Err(reason) => {
            println!("SKIPPED {test}: {reason}");
            None
        }
    }
}

fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TEST_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    // The test binary is `<target dir>/<profile>/deps/<name>`.
    let beside_build = std::env::current_exe().ok().and_then(|exe| {
        let target = exe.parent()?.parent()?.parent()?.to_path_buf();
        Some(target.join(format!("moto-{MOTO_VERSION}/bin/moto_server")))
    });
    if let Some(path) = beside_build.filter(|path| path.exists()) {
        return Some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|path| path.exists())
    })
}

/// A loopback port nothing listens on now (for a child process to bind).
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
