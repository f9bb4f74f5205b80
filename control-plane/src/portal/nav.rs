//! The frame of every portal page: the navigation (only what the admin's role may open),
//! who is signed in, the session's CSRF token, and the flash message.

use crate::auth::roles::{Action, allows};
use crate::portal::session::Signed;
use common::entities::AdminRole;
use common::web::layout::{Layout, NavLink, SignedIn};

/// The portal's name in the title bar and the browser tab.
pub const PRODUCT: &str = "Admin portal";

/// Where the sign-out form posts.
pub const SIGN_OUT: &str = "/sign-out";

/// The layout of a signed-in page titled `title`.
pub fn layout(signed: &Signed, title: impl Into<String>) -> Layout {
    let admin = signed.admin();
    Layout {
        product: PRODUCT,
        title: title.into(),
        nav: links(admin.role),
        user: Some(SignedIn {
            name: admin.email.clone(),
            detail: admin.role.as_str().to_owned(),
        }),
        csrf: signed.session.csrf.clone(),
        flash: signed.flash.clone(),
        sign_out: SIGN_OUT,
        fragment: signed.fragment,
        banners: Vec::new(),
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

fn links(role: AdminRole) -> Vec<NavLink> {
    let link = |label, href| NavLink {
        label,
        href,
        current: false,
    };
    let mut links = vec![
        link("Dashboard", "/"),
        link("Tenants", "/tenants"),
        link("Plans", "/plans"),
        link("Servers", "/servers"),
        link("Jobs", "/jobs"),
        link("Migrations", "/migrations"),
        link("Billing", "/billing"),
        link("Audit log", "/audit"),
    ];
    if allows(role, Action::ManageAdmins) {
        links.push(link("Admins", "/admins"));
    }
    links.push(link("Account", "/account"));
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_see_the_admins_page() {
        for role in AdminRole::ALL {
            let sees = links(*role).iter().any(|link| link.href == "/admins");
            assert_eq!(sees, *role == AdminRole::Owner, "{role}");
        }
    }
}
