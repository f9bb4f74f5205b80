//! `pg_dump`/`pg_restore` of one tenant database, and the row counts that prove a copy
//! whole. A dump counts every table's rows **in the dump's own snapshot**: a `REPEATABLE
//! READ` transaction exports its snapshot, counts, and stays open while `pg_dump
//! --snapshot` reads exactly what it saw, so the counts describe the dump however busy the
//! tenant is. A restore (or a relocation's copy) is verified by counting again.

use crate::servers::{connect_admin, url_for_database};
use crate::steps::StepError;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use tokio_postgres::GenericClient;

/// Every table's row count, by `schema.table`.
pub type RowCounts = BTreeMap<String, i64>;

/// A finished dump file and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub path: PathBuf,
    pub size_bytes: i64,
    pub sha256: String,
    pub row_counts: RowCounts,
    /// The newest tenant migration applied to the dumped database.
    pub schema_version: Option<String>,
}

/// Dumps `database` (reached through the server's admin URL) to `path` (written under a
/// temporary name, renamed when complete), with its row counts from the same snapshot.
pub async fn dump_database(
    admin_url: &str,
    database: &str,
    path: &Path,
) -> Result<Dump, StepError> {
    let url = url_for_database(admin_url, database);
    let mut client = connect_admin(&url).await?;
    let txn = snapshot_transaction(&mut client).await?;
    let (snapshot, row_counts, schema_version) = exported(&txn).await?;
    let partial = path.with_extension("partial");
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|error| io_error("creating the staging directory", &error))?;
    }
    let mut command = pg_command("pg_dump", &url)?;
    command
        .arg("--format=custom")
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(&partial);
    run(command, "pg_dump").await?;
    // The snapshot was needed only while pg_dump opened its own.
    txn.commit().await?;
    tokio::fs::rename(&partial, path)
        .await
        .map_err(|error| io_error("saving the dump", &error))?;
    let (size_bytes, sha256) = digest(path).await?;
    Ok(Dump {
        path: path.to_owned(),
        size_bytes,
        sha256,
        row_counts,
        schema_version,
    })
}

/// Copies `database` into the existing, empty `target` (another server's, through its
/// admin URL) by piping `pg_dump -Fc` into `pg_restore`, so restoring starts while dumping
/// goes on (no file between them). Returns the row counts of the dump's snapshot, which the
/// caller checks on the target.
pub async fn stream_database(
    admin_url: &str,
    database: &str,
    target_admin_url: &str,
    target: &str,
) -> Result<RowCounts, StepError> {
    let url = url_for_database(admin_url, database);
    let mut client = connect_admin(&url).await?;
    let txn = snapshot_transaction(&mut client).await?;
    let (snapshot, row_counts, _) = exported(&txn).await?;
    let mut dump = pg_command("pg_dump", &url)?;
    dump.arg("--format=custom")
        .arg(format!("--snapshot={snapshot}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut dumper = dump
        .spawn()
        .map_err(|error| StepError::Transient(format!("running pg_dump: {error}")))?;
    let pipe: std::process::Stdio = dumper
        .stdout
        .take()
        .ok_or_else(|| StepError::Transient("pg_dump has no output".into()))?
        .try_into()
        .map_err(|error| StepError::Transient(format!("piping pg_dump: {error}")))?;
    let mut restore = restore_command(&url_for_database(target_admin_url, target))?;
    restore.stdin(pipe);
    let restored = run(restore, "pg_restore").await;
    let dumped = dumper
        .wait_with_output()
        .await
        .map_err(|error| StepError::Transient(format!("running pg_dump: {error}")))?;
    check_output(&dumped, "pg_dump")?;
    restored?;
    txn.commit().await?;
    Ok(row_counts)
}

/// A read-only `REPEATABLE READ` transaction: its snapshot is what a dump run with it sees.
async fn snapshot_transaction(
    client: &mut tokio_postgres::Client,
) -> Result<tokio_postgres::Transaction<'_>, StepError> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// Exports the transaction's snapshot for `pg_dump --snapshot` and reads, in it, every
/// table's row count and the schema version.
async fn exported(
    txn: &tokio_postgres::Transaction<'_>,
) -> Result<(String, RowCounts, Option<String>), StepError> {
    let snapshot: String = txn
        .query_one("SELECT pg_export_snapshot()", &[])
        .await?
        .get(0);
    Ok((snapshot, count_rows(txn).await?, schema_version(txn).await?))
}

/// `pg_restore` into `url`'s database in one transaction (all or nothing), as the server's
/// admin, **keeping each object's owner**: the platform's tables stay the admin's, as in a
/// provisioned database, and anything made through the role (which may `SET ROLE
/// pg_database_owner`, the owner of `public`) stays that role's. `--no-owner` would hand
/// such a function to the admin, so a `SECURITY DEFINER` one, or an index expression
/// evaluated during the restore, would run with the admin's rights. (Both servers of a
/// relocation must therefore know the admin role that owns the platform's objects.)
/// Privileges are left out and granted afresh by the caller. The archive is the last
/// argument, or stdin.
fn restore_command(url: &str) -> Result<tokio::process::Command, StepError> {
    let mut command = pg_command("pg_restore", url)?;
    command
        .arg("--no-acl")
        .arg("--exit-on-error")
        .arg("--single-transaction");
    Ok(command)
}

/// Restores the dump at `file` into the existing, empty `database` (see
/// `restore_command`).
pub async fn restore_dump(admin_url: &str, database: &str, file: &Path) -> Result<(), StepError> {
    let mut command = restore_command(&url_for_database(admin_url, database))?;
    command.arg(file);
    run(command, "pg_restore").await
}

/// Whether `pg_restore` can read the whole table of contents of `file` (a truncated or
/// garbled custom-format dump cannot be listed).
pub async fn readable(file: &Path) -> Result<(), StepError> {
    let mut command = tokio::process::Command::new(pg_binary("pg_restore"));
    command.arg("--list").arg(file).kill_on_drop(true);
    let output = command
        .output()
        .await
        .map_err(|error| StepError::Transient(format!("running pg_restore: {error}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(StepError::Permanent(format!(
        "the backup is not a readable dump: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Counts the rows of every ordinary table outside the system schemas.
pub async fn count_rows(client: &impl GenericClient) -> Result<RowCounts, StepError> {
    let tables = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1",
            &[],
        )
        .await?;
    let mut counts = RowCounts::new();
    for table in tables {
        let name: String = table.get(0);
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM {name}"), &[])
            .await?
            .get(0);
        counts.insert(name, rows);
    }
    Ok(counts)
}

/// Counts the rows of `database` and compares them with `expected`: a
/// [`StepError::Permanent`] naming the first difference when they disagree.
pub async fn verify_counts(
    admin_url: &str,
    database: &str,
    expected: &RowCounts,
) -> Result<(), StepError> {
    let client = connect_admin(&url_for_database(admin_url, database)).await?;
    let found = count_rows(&client).await?;
    compare_counts(expected, &found)
}

fn compare_counts(expected: &RowCounts, found: &RowCounts) -> Result<(), StepError> {
    let tables = expected.keys().chain(found.keys());
    for table in tables {
        let (want, got) = (expected.get(table), found.get(table));
        if want != got {
            return Err(StepError::Permanent(format!(
                "row counts differ on {table}: expected {want:?}, found {got:?}"
            )));
        }
    }
    Ok(())
}

async fn schema_version(client: &impl GenericClient) -> Result<Option<String>, StepError> {
    let table = migrations::tenant::MIGRATION_TABLE;
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await?
        .get::<_, bool>(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one(&format!("SELECT max(version) FROM {table}"), &[])
        .await?;
    Ok(row.get(0))
}

/// The size and SHA-256 (hex) of a file, read in chunks.
pub async fn digest(path: &Path) -> Result<(i64, String), StepError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|error| io_error("opening the dump", &error))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut size: i64 = 0;
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(|error| io_error("reading the dump", &error))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += i64::try_from(read).unwrap_or(i64::MAX);
    }
    Ok((size, hex(&hasher.finalize())))
}

/// A client program with the connection taken from `url`; the password travels in the
/// child's environment only, never on its command line.
fn pg_command(program: &str, url: &str) -> Result<tokio::process::Command, StepError> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| StepError::Permanent(format!("bad server URL: {error}")))?;
    let mut command = tokio::process::Command::new(pg_binary(program));
    command.arg("--no-password");
    if let Some(tokio_postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        command.arg("--host").arg(host);
    }
    if let Some(port) = config.get_ports().first() {
        command.arg("--port").arg(port.to_string());
    }
    if let Some(user) = config.get_user() {
        command.arg("--username").arg(user);
    }
    if let Some(database) = config.get_dbname() {
        command.arg("--dbname").arg(database);
    }
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).into_owned());
    }
    command.kill_on_drop(true);
    Ok(command)
}

/// Runs a client program; a failure is transient when it could not reach the server,
/// permanent otherwise (a broken dump does not mend).
async fn run(mut command: tokio::process::Command, program: &str) -> Result<(), StepError> {
    let output = command
        .output()
        .await
        .map_err(|error| StepError::Transient(format!("running {program}: {error}")))?;
    check_output(&output, program)
}

fn check_output(output: &std::process::Output, program: &str) -> Result<(), StepError> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let message = format!("{program} failed: {stderr}");
    let unreachable = ["could not connect", "connection to server", "server closed"]
        .iter()
        .any(|sign| stderr.contains(sign));
    Err(if unreachable {
        StepError::Transient(message)
    } else {
        StepError::Permanent(message)
    })
}

fn io_error(what: &str, error: &std::io::Error) -> StepError {
    StepError::Transient(format!("{what}: {error}"))
}

/// A Postgres client program: `$PG_BINDIR/<name>`, else the newest
/// `/usr/lib/postgresql/*/bin/<name>`, else `<name>` from `PATH`.
pub fn pg_binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir).join(name);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(version) => PathBuf::from(format!("/usr/lib/postgresql/{version}/bin/{name}")),
        None => PathBuf::from(name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_must_agree_table_by_table() {
        let counts = |pairs: &[(&str, i64)]| -> RowCounts {
            pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
        };
        let backup = counts(&[("public.users", 3), ("public.roles", 4)]);
        assert!(compare_counts(&backup, &backup).is_ok());
        let fewer = counts(&[("public.users", 2), ("public.roles", 4)]);
        assert!(matches!(
            compare_counts(&backup, &fewer),
            Err(StepError::Permanent(message)) if message.contains("public.users")
        ));
        let missing = counts(&[("public.users", 3)]);
        assert!(compare_counts(&backup, &missing).is_err());
        assert!(compare_counts(&missing, &backup).is_err(), "an extra table");
    }
}
