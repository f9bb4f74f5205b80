//! Starts the platform in one process: the control plane, and optionally the tenant runtime
//! and a provisioner worker (the all-in-one mode `scripts/up` uses). Tests launch it the same
//! way, on port 0, so the start-up path they check is the one people run.

use crate::bootstrap::{self, CreatedAdmin};
use crate::startup::build_app;
use crate::state::AppState;
use anyhow::Context as _;
use common::config::Settings;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which services run beside the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub tenant_runtime: bool,
    pub provisioner: bool,
}

impl Parts {
    pub const CONTROL_PLANE_ONLY: Self = Self {
        tenant_runtime: false,
        provisioner: false,
    };
    pub const ALL: Self = Self {
        tenant_runtime: true,
        provisioner: true,
    };
}

/// A running platform: its ports, its bootstrap outcome, and the tasks serving it.
pub struct Platform {
    pub control_plane_port: u16,
    pub tenant_runtime_port: Option<u16>,
    /// Finishes when the control database is migrated and seeded (or at shutdown).
    pub bootstrap: JoinHandle<Option<CreatedAdmin>>,
    services: Vec<JoinHandle<anyhow::Result<()>>>,
    shutdown: CancellationToken,
}

/// Binds every port first (so a taken port fails before anything runs), then starts the
/// services and the bootstrap task. Nothing waits for the database here: `/healthz` answers
/// at once and `/readyz` turns 200 when bootstrap is done.
pub async fn launch(
    settings: &Settings,
    parts: Parts,
    shutdown: CancellationToken,
) -> anyhow::Result<Platform> {
    let db = common::db::connect_lazy(&settings.database)
        .await
        .context("opening the control database pool")?;
    let runtime = match parts.tenant_runtime {
        true => Some(tenant_runtime::build_app(settings, db.clone())?),
        false => None,
    };
    let tenant_runtime_port = runtime.as_ref().map(|runtime| runtime.port());
    let state = AppState::new(settings, db.clone(), tenant_runtime_port)?;
    let control_plane = build_app(settings, state.clone())?;
    let control_plane_port = control_plane.port();
    let mut services = vec![spawn_server(control_plane, &shutdown)];
    if let Some(runtime) = runtime {
        let token = shutdown.clone();
        services.push(tokio::spawn(async move {
            let result = runtime.run_until(token.clone()).await;
            token.cancel();
            result.context("tenant runtime failed")
        }));
    }
    if parts.provisioner {
        let worker = provisioner::Worker::new(settings, db.clone()).context(
            "the provisioner needs `secrets.encryption_key` (APP_SECRETS__ENCRYPTION_KEY)",
        )?;
        let token = shutdown.clone();
        services.push(tokio::spawn(async move {
            worker.run(token).await;
            Ok(())
        }));
    }
    let bootstrap = {
        let (settings, token) = (settings.clone(), shutdown.clone());
        tokio::spawn(async move { bootstrap::run(&state, &settings, &token).await })
    };
    Ok(Platform {
        control_plane_port,
        tenant_runtime_port,
        bootstrap,
        services,
        shutdown,
    })
}

fn spawn_server(
    service: common::http::HttpService,
    shutdown: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    let token = shutdown.clone();
    tokio::spawn(async move {
        let result = service.run_until(token.clone()).await;
        // One service failing takes the others down: a half-running platform misleads.
        token.cancel();
        result.context("HTTP server failed")
    })
}

impl Platform {
    /// Waits until every service has stopped (after the shutdown token fires); the first
    /// error, if any, is returned.
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut outcome = Ok(());
        for service in self.services {
            let result = service
                .await
                .context("service task panicked")
                .and_then(|r| r);
            if outcome.is_ok() {
                outcome = result;
            }
        }
        self.bootstrap.abort();
        outcome
    }

    /// Asks every service to stop, without waiting.
    pub fn cancel(&self) {
        self.shutdown.cancel();
    }

    /// Stops every service and waits for them to drain.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// The lines printed once the platform is up: where everything is and how to log in.
pub fn banner(settings: &Settings, platform: &Platform, admin: Option<&CreatedAdmin>) -> String {
    let control_plane = format!(
        "http://{}:{}",
        settings.control_plane.host, platform.control_plane_port
    );
    let portal_host = match settings.control_plane.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "localhost",
        host => host,
    };
    let mut lines = vec![
        "ERP platform is up".to_owned(),
        format!(
            "  admin portal    http://{portal_host}:{}/  (open it in a browser; sign in as the super-admin below)",
            platform.control_plane_port
        ),
        format!(
            "  control plane   {control_plane}  (admin API {control_plane}/api/v1, /healthz, /readyz, /metrics)"
        ),
    ];
    if let Some(port) = platform.tenant_runtime_port {
        let domain = &settings.tenant_runtime.base_domain;
        lines.push(format!(
            "  ERP web app     http://{{slug}}.{domain}:{port}/  (each company at its own subdomain; \
             sign up one at {control_plane}/api/v1/signup or create it in the portal)"
        ));
        lines.push(format!(
            "  tenant runtime  http://{}:{port}  (tenant API at /api/v1 with the subdomain or X-Tenant)",
            settings.tenant_runtime.host
        ));
    }
    lines.push(admin_line(settings, admin));
    lines.push("  Ctrl-C stops everything.".to_owned());
    lines.join("\n")
}

fn admin_line(settings: &Settings, admin: Option<&CreatedAdmin>) -> String {
    match admin {
        Some(CreatedAdmin {
            email,
            generated_password: Some(password),
        }) => format!(
            "  super-admin     {email} / {password}  (generated now and shown only once: store it)"
        ),
        Some(CreatedAdmin { email, .. }) => {
            format!("  super-admin     {email} (created with the configured password)")
        }
        None => match &settings.bootstrap.admin_email {
            Some(email) => format!("  super-admin     {email} (existing account)"),
            None => "  super-admin     existing account (its password was shown at first start)"
                .to_owned(),
        },
    }
}
