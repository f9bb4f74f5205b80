//! The frame of every app page: the navigation (only the areas the company's plan includes
//! and the user's permissions open), who is signed in, the session's CSRF token, the flash
//! message, and the standing banners (an impersonated session; a payment past due).

use crate::web::PRODUCT;
use crate::web::session::Signed;
use common::entities::BillingState;
use common::web::layout::{Banner, Layout, NavLink, SignedIn};

/// Where the sign-out form posts.
pub const SIGN_OUT: &str = "/sign-out";

/// One entry of the navigation and what opens it: the plan module it belongs to (none for
/// the platform's own areas) and the permission it needs.
struct Entry {
    label: &'static str,
    href: &'static str,
    module: Option<&'static str>,
    permission: &'static str,
}

/// Every area of the app, in the order the navigation lists them. An area appears here
/// once its pages exist.
const ENTRIES: &[Entry] = &[
    Entry {
        label: "Items",
        href: "/items",
        module: Some("master_data"),
        permission: "master_data.read",
    },
    Entry {
        label: "Partners",
        href: "/partners",
        module: Some("master_data"),
        permission: "master_data.read",
    },
    Entry {
        label: "Warehouses",
        href: "/warehouses",
        module: Some("master_data"),
        permission: "master_data.read",
    },
    Entry {
        label: "Stock",
        href: "/stock",
        module: Some("inventory"),
        permission: "inventory.read",
    },
    Entry {
        label: "Sales orders",
        href: "/sales-orders",
        module: Some("sales"),
        permission: "sales.read",
    },
    Entry {
        label: "Purchase orders",
        href: "/purchase-orders",
        module: Some("purchasing"),
        permission: "purchasing.read",
    },
    Entry {
        label: "Production",
        href: "/production/orders",
        module: Some("production"),
        permission: "production.read",
    },
    Entry {
        label: "Planning",
        href: "/planning",
        module: Some("production"),
        permission: "production.read",
    },
    Entry {
        label: "Kanban",
        href: "/kanban",
        module: Some("production"),
        permission: "production.read",
    },
    Entry {
        label: "Approvals",
        href: "/approvals",
        module: Some("approvals"),
        permission: "approvals.read",
    },
    Entry {
        label: "Quality",
        href: "/quality/inspections",
        module: Some("quality"),
        permission: "quality.read",
    },
    Entry {
        label: "Users",
        href: "/users",
        module: None,
        permission: "users.read",
    },
    Entry {
        label: "Roles",
        href: "/roles",
        module: None,
        permission: "roles.read",
    },
    Entry {
        label: "Webhooks",
        href: "/webhooks",
        module: None,
        permission: "settings.read",
    },
    Entry {
        label: "Billing",
        href: "/billing",
        module: None,
        permission: "billing.manage",
    },
];

/// The layout of a signed-in page titled `title`.
pub fn layout(signed: &Signed, title: impl Into<String>) -> Layout {
    let user = &signed.current.user;
    let name = if user.display_name.is_empty() {
        user.email.clone()
    } else {
        user.display_name.clone()
    };
    Layout {
        product: PRODUCT,
        title: title.into(),
        nav: links(signed),
        user: Some(SignedIn {
            name,
            detail: signed.current.tenant.0.name.clone(),
        }),
        csrf: signed.session.csrf.clone(),
        flash: signed.flash.clone(),
        sign_out: SIGN_OUT,
        fragment: signed.fragment,
        banners: banners(signed),
    }
    .with_current(&signed.path)
}

/// The layout of a page shown to nobody in particular (sign-in, errors).
pub fn bare(title: impl Into<String>) -> Layout {
    Layout {
        product: PRODUCT,
        title: title.into(),
        nav: Vec::new(),
        user: None,
        csrf: String::new(),
        flash: None,
        sign_out: SIGN_OUT,
        fragment: false,
        banners: Vec::new(),
    }
}

fn links(signed: &Signed) -> Vec<NavLink> {
    let dashboard = NavLink {
        label: "Dashboard",
        href: "/",
        current: false,
    };
    let open = ENTRIES.iter().filter(|entry| {
        entry.module.is_none_or(|module| signed.has_module(module)) && signed.can(entry.permission)
    });
    std::iter::once(dashboard)
        .chain(open.map(|entry| NavLink {
            label: entry.label,
            href: entry.href,
            current: false,
        }))
        .collect()
}

fn banners(signed: &Signed) -> Vec<Banner> {
    let mut banners = Vec::new();
    if signed.session.impersonator.is_some() {
        banners.push(impersonation_banner(
            &signed.current.user.email,
            signed.session.expires_at,
            &signed.current.tenant.0.name,
        ));
    }
    if signed.current.tenant.0.billing_state == BillingState::PastDue {
        banners.push(Banner {
            kind: "past_due",
            tone: "danger",
            text: "The last payment for this company failed. Update the payment method \
                   before the grace period ends to keep access."
                .into(),
            link: signed
                .can("billing.manage")
                .then_some(("Billing", "/billing")),
        });
    }
    banners
}

/// The banner of an impersonated session: who is acted as, until when, and that the
/// company's audit log records it.
pub fn impersonation_banner(email: &str, expires_at: i64, company: &str) -> Banner {
    Banner {
        kind: "impersonation",
        tone: "warning",
        text: format!(
            "A platform admin is acting as {email} until {}. Everything done is recorded in \
             {company}'s audit log.",
            until(expires_at)
        ),
        link: None,
    }
}

/// A session's end as the banner shows it.
fn until(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .map(|at| at.format("%H:%M UTC").to_string())
        .unwrap_or_default()
}
