//! The stored login: the admin API's URL and the token pair, one JSON file per profile
//! (`<dir>/<profile>.json`, mode 0600 in a 0700 directory). The directory is
//! `--config-dir` (or `$ERP_ADMIN_CONFIG_DIR`, read by clap), else
//! `$XDG_CONFIG_HOME/erp-platform`, else `$HOME/.config/erp-platform`; the profile is
//! `--profile` (or `$ERP_ADMIN_PROFILE`), else `default`. Written to a temporary file and renamed, so a crash never leaves half
//! a session.

use super::exit::{CliError, Exit};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A token is refreshed this long before it expires, so a request never carries one that
/// expires on the way.
const EXPIRY_MARGIN_SECS: u64 = 30;

/// What `admin login` keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The control plane's base URL (`https://admin.example.com`).
    pub url: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds when the access token expires.
    pub access_expires_at: u64,
}

impl Session {
    /// Whether the access token is expired, or about to be.
    pub fn access_expired(&self) -> bool {
        now_secs() + EXPIRY_MARGIN_SECS >= self.access_expires_at
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Where one profile's session lives.
#[derive(Debug, Clone)]
pub struct SessionFile {
    path: PathBuf,
}

impl SessionFile {
    /// The file of `profile` under `dir` (or the default directory).
    pub fn locate(dir: Option<&Path>, profile: &str) -> Result<Self, CliError> {
        if profile.is_empty()
            || !profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(CliError::new(
                Exit::Usage,
                "a profile name is letters, digits, `-` and `_`",
            ));
        }
        let dir = match dir {
            Some(dir) => dir.to_owned(),
            None => default_dir().ok_or_else(|| {
                CliError::new(
                    Exit::Usage,
                    "no configuration directory: set XDG_CONFIG_HOME or HOME, or pass --config-dir",
                )
            })?,
        };
        Ok(Self {
            path: dir.join(format!("{profile}.json")),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored session; `None` when not signed in.
    pub fn load(&self) -> Result<Option<Session>, CliError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.io_error("read", &error)),
        };
        serde_json::from_str(&text).map(Some).map_err(|error| {
            CliError::new(
                Exit::Auth,
                format!(
                    "{} is not a session ({error}): run `control-plane admin login` again",
                    self.path.display()
                ),
            )
        })
    }

    /// Stores `session`, readable by its owner only.
    pub fn save(&self, session: &Session) -> Result<(), CliError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)
            .map_err(|error| self.io_error("create the directory of", &error))?;
        let temporary = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(session).unwrap_or_default();
        write_private(&temporary, &body)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|error| self.io_error("write", &error))
    }

    /// Forgets the session; `false` when there was none.
    pub fn remove(&self) -> Result<bool, CliError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(self.io_error("remove", &error)),
        }
    }

    fn io_error(&self, action: &str, error: &std::io::Error) -> CliError {
        CliError::new(
            Exit::ApiError,
            format!("could not {action} {}: {error}", self.path.display()),
        )
    }
}

fn default_dir() -> Option<PathBuf> {
    let from_env = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    let base = from_env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| from_env("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("erp-platform"))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Writes `body` to a new file that only its owner can read, even for a moment.
fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(body)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: u64) -> Session {
        Session {
            url: "http://127.0.0.1:1".into(),
            email: "root@ops.example".into(),
            access_token: "a".into(),
            refresh_token: "r".into(),
            access_expires_at: expires_at,
        }
    }

    #[test]
    fn a_saved_session_loads_back_and_only_its_owner_can_read_it() {
        let dir = std::env::temp_dir().join(format!("erp-cli-session-{}", uuid::Uuid::now_v7()));
        let file = SessionFile::locate(Some(&dir), "ops").unwrap();
        assert_eq!(file.load().unwrap(), None);
        file.save(&session(42)).unwrap();
        assert_eq!(file.load().unwrap(), Some(session(42)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(file.remove().unwrap());
        assert!(!file.remove().unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_token_about_to_expire_counts_as_expired() {
        assert!(session(now_secs() + 5).access_expired());
        assert!(!session(now_secs() + 600).access_expired());
    }

    #[test]
    fn profile_names_cannot_leave_the_directory() {
        let dir = Path::new("/tmp");
        assert!(SessionFile::locate(Some(dir), "../evil").is_err());
        assert!(SessionFile::locate(Some(dir), "").is_err());
        assert!(SessionFile::locate(Some(dir), "prod-eu_1").is_ok());
    }
}
