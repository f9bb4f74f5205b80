//! `migrations ...`, `backups ...`, `restore`, `relocate`: the fleet operations.

use super::{Ctx, all_pages, items, server_id, tenant_id, uuid_in, watch_job};
use crate::cli::args::{Backups, MigrationRunArgs, Migrations, Relocate, Restore, WaitFlag};
use crate::cli::client::Api;
use crate::cli::endpoints::{self, MigrationRun};
use crate::cli::exit::CliError;
use crate::cli::table::{self, Column};
use crate::cli::watch::{self, Target};
use serde_json::Value;

const RUN_COLUMNS: &[Column] = &[
    ("ID", "id"),
    ("STATE", "state"),
    ("TOTAL", "total"),
    ("SUCCEEDED", "succeeded"),
    ("FAILED", "failed"),
    ("PENDING", "pending"),
    ("CREATED", "created_at"),
];
const RUN_FIELDS: &[Column] = &[
    ("run", "id"),
    ("state", "state"),
    ("total", "total"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("pending", "pending"),
    ("halted", "halted_reason"),
];
const RUN_TENANT_COLUMNS: &[Column] = &[
    ("TENANT", "tenant_id"),
    ("SLUG", "slug"),
    ("STATE", "state"),
    ("ERROR", "error"),
];
const BACKUP_COLUMNS: &[Column] = &[
    ("ID", "id"),
    ("STATE", "state"),
    ("SIZE", "size_bytes"),
    ("CREATED", "created_at"),
];
const WORK_FIELDS: &[Column] = &[("id", "id"), ("state", "state"), ("job", "job_id")];

pub(super) async fn migrations(ctx: &mut Ctx<'_, '_>, command: Migrations) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    match command {
        Migrations::Run(run) => start_run(ctx, &mut api, run).await,
        Migrations::Status { run: None } => {
            let page = api.call(&endpoints::migration_runs(None)).await?;
            ctx.print(&page, |page| table::render(RUN_COLUMNS, items(page)));
            Ok(())
        }
        Migrations::Status { run: Some(id) } => {
            let run = api.call(&endpoints::migration_run(id)).await?;
            ctx.print(&run, run_with_tenants);
            Ok(())
        }
        Migrations::Resume { run, wait } => {
            let answer = api.call(&endpoints::resume_migration_run(run)).await?;
            finish_run(ctx, &mut api, answer, wait).await
        }
        Migrations::Cancel { run } => {
            let answer = api.call(&endpoints::cancel_migration_run(run)).await?;
            ctx.print(&answer, |run| table::fields(RUN_FIELDS, run));
            Ok(())
        }
    }
}

fn run_with_tenants(run: &Value) -> String {
    let mut text = table::fields(RUN_FIELDS, run);
    if let Some(tenants) = run["tenants"].as_array() {
        text.push('\n');
        text.push_str(&table::render(RUN_TENANT_COLUMNS, tenants));
    }
    text
}

async fn start_run(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    args: MigrationRunArgs,
) -> Result<(), CliError> {
    let run = MigrationRun {
        tenant_ids: args.tenant_ids,
        plan_codes: args.plan_codes,
        server_ids: args.server_ids,
        dry_run: args.dry_run,
        canary_count: args.canary_count,
        canary_percent: args.canary_percent,
        max_per_server: args.max_per_server,
        max_failures: args.max_failures,
        max_failure_ratio: args.max_failure_ratio,
    };
    let answer = api.call(&endpoints::start_migration_run(&run)).await?;
    if run.dry_run {
        ctx.print(&answer, |answer| {
            format!(
                "dry run: {} tenants behind\n",
                table::cell(&answer["tenants_behind"])
            )
        });
        return Ok(());
    }
    finish_run(ctx, api, answer, args.wait).await
}

/// Prints a run just started or resumed, after waiting for it with `--wait`.
async fn finish_run(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    answer: Value,
    wait: WaitFlag,
) -> Result<(), CliError> {
    let run = if wait.wait {
        let id = uuid_in(&answer, "id")?;
        watch::wait(api, Target::MigrationRun(id), ctx.watch()).await?
    } else {
        answer
    };
    ctx.print(&run, run_with_tenants);
    Ok(())
}

pub(super) async fn backups(ctx: &mut Ctx<'_, '_>, command: Backups) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    match command {
        Backups::Create { tenant, wait } => {
            let tenant = tenant_id(&mut api, &tenant).await?;
            let answer = api.call(&endpoints::create_backup(tenant)).await?;
            let view = if !wait.wait {
                answer
            } else if answer["job_id"].is_string() {
                watch_job(ctx, &mut api, &answer, wait).await?
            } else {
                let backup = uuid_in(&answer, "id")?;
                let target = Target::Backup { tenant, backup };
                watch::wait(&mut api, target, ctx.watch()).await?
            };
            ctx.print(&view, |view| table::fields(WORK_FIELDS, view));
        }
        Backups::List { tenant } => {
            let tenant = tenant_id(&mut api, &tenant).await?;
            let page = all_pages(&mut api, |cursor| endpoints::backups(tenant, cursor)).await?;
            ctx.print(&page, |page| table::render(BACKUP_COLUMNS, items(page)));
        }
    }
    Ok(())
}

pub(super) async fn restore_tenant(
    ctx: &mut Ctx<'_, '_>,
    restore: Restore,
) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    let tenant = tenant_id(&mut api, &restore.tenant).await?;
    let answer = api
        .call(&endpoints::restore(
            tenant,
            restore.backup_id,
            &restore.reason,
        ))
        .await?;
    finish_work(ctx, &mut api, answer, restore.wait).await
}

pub(super) async fn relocate_tenant(
    ctx: &mut Ctx<'_, '_>,
    relocate: Relocate,
) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    let tenant = tenant_id(&mut api, &relocate.tenant).await?;
    let server = server_id(&mut api, &relocate.server).await?;
    let answer = api
        .call(&endpoints::relocate(tenant, server, &relocate.reason))
        .await?;
    finish_work(ctx, &mut api, answer, relocate.wait).await
}

/// The answer with `job_id` set when it is the job itself (a restore and a relocation
/// answer their job's view, whose `id` is the job's).
fn naming_its_job(mut answer: Value) -> Value {
    if !answer["job_id"].is_string() && answer["kind"].is_string() {
        answer["job_id"] = answer["id"].clone();
    }
    answer
}

/// Prints work just accepted (a restore, a relocation), after waiting for its job with
/// `--wait` when the answer names one.
async fn finish_work(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    answer: Value,
    wait: WaitFlag,
) -> Result<(), CliError> {
    let answer = naming_its_job(answer);
    if wait.wait && !answer["job_id"].is_string() {
        let _ = writeln!(
            ctx.console.err,
            "warning: the answer names no job to wait for"
        );
        ctx.print(&answer, |view| table::fields(WORK_FIELDS, view));
        return Ok(());
    }
    let view = watch_job(ctx, api, &answer, wait).await?;
    ctx.print(&view, |view| table::fields(WORK_FIELDS, view));
    Ok(())
}
