//! Entry point of the `migrations` binary; all logic lives in `migrations::cli`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    migrations::cli::main().await
}
