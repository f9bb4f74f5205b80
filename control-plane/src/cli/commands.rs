//! What each admin command does: the requests it makes (from [`super::endpoints`]), what
//! it waits for with `--wait`, and what it prints: a table or `key: value` lines for
//! people, the API's JSON unchanged with `--json`.

use super::Console;
use super::args::{
    AdminCli, AdminCommand, Backups, Global, Login, MigrationRunArgs, Migrations, Relocate,
    Restore, Servers, TenantCreate, TenantList, Tenants, WaitFlag,
};
use super::client::{self, Api};
use super::endpoints::{self, MigrationRun, NewTenant, TenantFilter};
use super::exit::{CliError, Exit};
use super::session::SessionFile;
use super::table::{self, Column};
use super::watch::{self, Target, Watch};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

const TENANT_COLUMNS: &[Column] = &[
    ("ID", "id"),
    ("SLUG", "slug"),
    ("NAME", "name"),
    ("STATUS", "status"),
    ("PLAN", "plan"),
    ("CREATED", "created_at"),
];
const TENANT_FIELDS: &[Column] = &[
    ("id", "id"),
    ("slug", "slug"),
    ("name", "name"),
    ("status", "status"),
    ("reason", "status_reason"),
    ("failure", "failure_reason"),
    ("plan", "plan"),
    ("server", "server.name"),
    ("schema", "schema_version"),
    ("admin email", "admin_email"),
    ("billing", "billing.state"),
    ("last job", "last_job.kind"),
    ("job state", "last_job.state"),
    ("created", "created_at"),
];
const SERVER_COLUMNS: &[Column] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("HOST", "host"),
    ("STATE", "state"),
    ("TENANTS", "tenants"),
    ("CAPACITY", "capacity"),
];
const JOB_FIELDS: &[Column] = &[
    ("job", "id"),
    ("kind", "kind"),
    ("state", "state"),
    ("tenant", "tenant_id"),
    ("steps done", "completed_steps"),
    ("error", "last_error"),
];
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

/// The context of one command: how to print and how to wait.
struct Ctx<'c, 'a> {
    console: &'c mut Console<'a>,
    global: Global,
}

impl Ctx<'_, '_> {
    fn session_file(&self) -> Result<SessionFile, CliError> {
        SessionFile::locate(self.global.config_dir.as_deref(), &self.global.profile)
    }

    fn api(&self) -> Result<Api, CliError> {
        Api::signed_in(self.session_file()?)
    }

    fn watch(&self) -> Watch {
        Watch {
            timeout: Duration::from_secs(self.global.timeout),
            draw: self.console.terminal && !self.global.json,
        }
    }

    /// Prints `value` as JSON with `--json`, else what `human` makes of it.
    fn print(&mut self, value: &Value, human: impl FnOnce(&Value) -> String) {
        let text = if self.global.json {
            format!("{value:#}\n")
        } else {
            human(value)
        };
        let _ = self.console.out.write_all(text.as_bytes());
    }
}

/// Runs the command `cli` names.
pub async fn dispatch(cli: AdminCli, console: &mut Console<'_>) -> Result<(), CliError> {
    let mut ctx = Ctx {
        console,
        global: cli.global,
    };
    match cli.command {
        AdminCommand::Login(login) => sign_in(&mut ctx, login).await,
        AdminCommand::Logout => sign_out(&mut ctx).await,
        AdminCommand::Whoami => whoami(&mut ctx).await,
        AdminCommand::Tenants(command) => tenants(&mut ctx, command).await,
        AdminCommand::Migrations(command) => migrations(&mut ctx, command).await,
        AdminCommand::Backups(command) => backups(&mut ctx, command).await,
        AdminCommand::Restore(restore) => restore_tenant(&mut ctx, restore).await,
        AdminCommand::Relocate(relocate) => relocate_tenant(&mut ctx, relocate).await,
        AdminCommand::Servers(command) => servers(&mut ctx, command).await,
    }
}

async fn sign_in(ctx: &mut Ctx<'_, '_>, login: Login) -> Result<(), CliError> {
    let password = read_password(ctx, login.password_stdin)?;
    let file = ctx.session_file()?;
    let session = client::login(
        &file,
        &login.url,
        &login.email,
        &password,
        login.totp.as_deref(),
    )
    .await?;
    let answer = json!({ "url": session.url, "email": session.email });
    ctx.print(&answer, |_| {
        format!("signed in to {} as {}\n", session.url, session.email)
    });
    Ok(())
}

/// The password: the first line of stdin, or a prompt on the terminal.
fn read_password(ctx: &mut Ctx<'_, '_>, from_stdin: bool) -> Result<String, CliError> {
    if from_stdin {
        let mut line = String::new();
        ctx.console
            .stdin
            .read_line(&mut line)
            .map_err(|error| CliError::new(Exit::Usage, format!("reading stdin: {error}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !ctx.console.terminal {
        return Err(CliError::new(
            Exit::Usage,
            "no terminal to ask for the password: pass --password-stdin",
        ));
    }
    rpassword::prompt_password("Password: ")
        .map_err(|error| CliError::new(Exit::Usage, format!("reading the password: {error}")))
}

async fn sign_out(ctx: &mut Ctx<'_, '_>) -> Result<(), CliError> {
    let file = ctx.session_file()?;
    if file.load()?.is_none() {
        ctx.print(&json!({ "signed_out": false }), |_| {
            "not signed in\n".into()
        });
        return Ok(());
    }
    Api::signed_in(file)?.logout().await?;
    ctx.print(&json!({ "signed_out": true }), |_| "signed out\n".into());
    Ok(())
}

async fn whoami(ctx: &mut Ctx<'_, '_>) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    let me = api.call(&endpoints::me()).await?;
    let url = api.session().url.clone();
    ctx.print(&me, |me| {
        format!(
            "{} ({}) at {url}\n",
            table::cell(&me["email"]),
            table::cell(&me["role"])
        )
    });
    Ok(())
}

async fn tenants(ctx: &mut Ctx<'_, '_>, command: Tenants) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    match command {
        Tenants::List(list) => list_tenants(ctx, &mut api, list).await,
        Tenants::Show { tenant } => {
            let id = tenant_id(&mut api, &tenant).await?;
            let view = api.call(&endpoints::tenant(id)).await?;
            ctx.print(&view, |view| table::fields(TENANT_FIELDS, view));
            Ok(())
        }
        Tenants::Create(create) => create_tenant(ctx, &mut api, create).await,
        Tenants::Suspend { tenant, reason } => {
            let id = tenant_id(&mut api, &tenant).await?;
            let view = api.call(&endpoints::suspend_tenant(id, &reason)).await?;
            ctx.print(&view, |view| table::fields(TENANT_FIELDS, view));
            Ok(())
        }
        Tenants::Resume { tenant, reason } => {
            let id = tenant_id(&mut api, &tenant).await?;
            let view = api.call(&endpoints::resume_tenant(id, &reason)).await?;
            ctx.print(&view, |view| table::fields(TENANT_FIELDS, view));
            Ok(())
        }
        Tenants::Delete {
            tenant,
            reason,
            wait,
        } => {
            let id = tenant_id(&mut api, &tenant).await?;
            let answer = api.call(&endpoints::delete_tenant(id, &reason)).await?;
            let done = watch_job(ctx, &mut api, &answer, wait).await?;
            ctx.print(&done, |view| {
                format!("{}{}", table::fields(JOB_FIELDS, view), deleting_note(wait))
            });
            Ok(())
        }
    }
}

fn deleting_note(wait: WaitFlag) -> &'static str {
    if wait.wait {
        ""
    } else {
        "the tenant is being deleted; pass --wait to wait for it\n"
    }
}

async fn list_tenants(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    list: TenantList,
) -> Result<(), CliError> {
    let filter = TenantFilter {
        status: list.status,
        plan: list.plan,
        server: list.server,
        search: list.search,
        limit: list.limit,
    };
    let page = if list.all {
        all_pages(api, |cursor| endpoints::tenants(&filter, cursor)).await?
    } else {
        api.call(&endpoints::tenants(&filter, None)).await?
    };
    ctx.print(&page, |page| table::render(TENANT_COLUMNS, items(page)));
    Ok(())
}

/// Every page of a list, as one page (`next_cursor: null`).
async fn all_pages(
    api: &mut Api,
    request: impl Fn(Option<&str>) -> endpoints::Request,
) -> Result<Value, CliError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = api.call(&request(cursor.as_deref())).await?;
        all.extend(items(&page).iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(json!({ "items": all, "next_cursor": null })),
        }
    }
}

fn items(page: &Value) -> &[Value] {
    page["items"].as_array().map_or(&[], Vec::as_slice)
}

async fn create_tenant(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    create: TenantCreate,
) -> Result<(), CliError> {
    let request = endpoints::create_tenant(&NewTenant {
        slug: create.slug,
        name: create.name,
        plan: create.plan,
        admin_email: create.admin_email,
    });
    let answer = api.call(&request).await?;
    if !create.wait.wait {
        ctx.print(&answer, |answer| {
            format!(
                "tenant {} ({}) is {}; job {}\n",
                table::cell(&answer["slug"]),
                table::cell(&answer["id"]),
                table::cell(&answer["status"]),
                table::cell(&answer["job_id"])
            )
        });
        return Ok(());
    }
    watch_job(ctx, api, &answer, create.wait).await?;
    let id = uuid_in(&answer, "id")?;
    let view = api.call(&endpoints::tenant(id)).await?;
    ctx.print(&view, |view| table::fields(TENANT_FIELDS, view));
    Ok(())
}

/// With `--wait`, waits for the job named by `answer["job_id"]` and answers its last
/// view; without, answers `answer` itself.
async fn watch_job(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    answer: &Value,
    wait: WaitFlag,
) -> Result<Value, CliError> {
    if !wait.wait {
        return Ok(answer.clone());
    }
    let job = uuid_in(answer, "job_id")?;
    watch::wait(api, Target::Job(job), ctx.watch()).await
}

fn uuid_in(value: &Value, key: &str) -> Result<Uuid, CliError> {
    value[key]
        .as_str()
        .and_then(|text| Uuid::parse_str(text).ok())
        .ok_or_else(|| CliError::new(Exit::ApiError, format!("the API answered no `{key}`")))
}

/// A tenant named by id or slug.
async fn tenant_id(api: &mut Api, reference: &str) -> Result<Uuid, CliError> {
    if let Ok(id) = Uuid::parse_str(reference) {
        return Ok(id);
    }
    let filter = TenantFilter {
        search: Some(reference.to_owned()),
        limit: Some(200),
        ..TenantFilter::default()
    };
    let page = all_pages(api, |cursor| endpoints::tenants(&filter, cursor)).await?;
    let found = items(&page).iter().find(|item| item["slug"] == reference);
    found
        .and_then(|item| uuid_in(item, "id").ok())
        .ok_or_else(|| CliError::new(Exit::NotFound, format!("no tenant `{reference}`")))
}

/// A server named by id or name.
async fn server_id(api: &mut Api, reference: &str) -> Result<Uuid, CliError> {
    if let Ok(id) = Uuid::parse_str(reference) {
        return Ok(id);
    }
    let page = api.call(&endpoints::servers()).await?;
    let found = items(&page).iter().find(|item| item["name"] == reference);
    found
        .and_then(|item| uuid_in(item, "id").ok())
        .ok_or_else(|| CliError::new(Exit::NotFound, format!("no server `{reference}`")))
}

async fn servers(ctx: &mut Ctx<'_, '_>, command: Servers) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    match command {
        Servers::List => {
            let page = api.call(&endpoints::servers()).await?;
            ctx.print(&page, |page| table::render(SERVER_COLUMNS, items(page)));
        }
        Servers::Drain { server, wait } => {
            let id = server_id(&mut api, &server).await?;
            let mut view = api.call(&endpoints::drain_server(id)).await?;
            if wait.wait {
                view = watch::wait(&mut api, Target::ServerEmpty(id), ctx.watch()).await?;
            }
            ctx.print(&view, |view| {
                table::render(SERVER_COLUMNS, std::slice::from_ref(view))
            });
        }
    }
    Ok(())
}

async fn migrations(ctx: &mut Ctx<'_, '_>, command: Migrations) -> Result<(), CliError> {
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

async fn backups(ctx: &mut Ctx<'_, '_>, command: Backups) -> Result<(), CliError> {
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

async fn restore_tenant(ctx: &mut Ctx<'_, '_>, restore: Restore) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    let tenant = tenant_id(&mut api, &restore.tenant).await?;
    let answer = api
        .call(&endpoints::restore(tenant, restore.backup_id))
        .await?;
    finish_work(ctx, &mut api, answer, restore.wait).await
}

async fn relocate_tenant(ctx: &mut Ctx<'_, '_>, relocate: Relocate) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    let tenant = tenant_id(&mut api, &relocate.tenant).await?;
    let server = server_id(&mut api, &relocate.server).await?;
    let answer = api.call(&endpoints::relocate(tenant, server)).await?;
    finish_work(ctx, &mut api, answer, relocate.wait).await
}

/// Prints work just accepted (a restore, a relocation), after waiting for its job with
/// `--wait` when the answer names one.
async fn finish_work(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    answer: Value,
    wait: WaitFlag,
) -> Result<(), CliError> {
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
