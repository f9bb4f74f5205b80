//! `tenants ...` and `servers ...`.

use super::{Ctx, all_pages, items, server_id, tenant_id, uuid_in, watch_job};
use crate::cli::args::{Servers, TenantCreate, TenantList, Tenants, WaitFlag};
use crate::cli::client::Api;
use crate::cli::endpoints::{self, NewTenant, TenantFilter};
use crate::cli::exit::CliError;
use crate::cli::table::{self, Column};
use crate::cli::watch::{self, Target};

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

pub(super) async fn tenants(ctx: &mut Ctx<'_, '_>, command: Tenants) -> Result<(), CliError> {
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

pub(super) async fn servers(ctx: &mut Ctx<'_, '_>, command: Servers) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    match command {
        Servers::List => {
            let page = api.call(&endpoints::servers()).await?;
            ctx.print(&page, |page| table::render(SERVER_COLUMNS, items(page)));
        }
        Servers::Drain {
            server,
            evacuate,
            wait,
        } => {
            let id = server_id(&mut api, &server).await?;
            let mut view = match evacuate {
                Some(concurrency) => {
                    api.call(&endpoints::evacuate_server(id, concurrency))
                        .await?
                }
                None => api.call(&endpoints::drain_server(id)).await?,
            };
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
