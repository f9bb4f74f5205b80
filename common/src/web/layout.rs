//! What the shared page layout (`ui/base.html`) shows around every page: the product
//! name, the navigation, who is signed in, the CSRF token for forms and htmx, the flash
//! message, standing banners, and whether only the content is wanted (an htmx fragment).

use crate::web::flash::Flash;

/// The frame of a page. Each service builds it (its own navigation and user) and each
/// page template holds it in a field named `layout`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The interface's name, after the page title ("Admin portal").
    pub product: &'static str,
    pub title: String,
    pub nav: Vec<NavLink>,
    /// Who is signed in (`None` on the sign-in page).
    pub user: Option<SignedIn>,
    /// The session's CSRF token (forms and htmx send it back).
    pub csrf: String,
    pub flash: Option<Flash>,
    /// Where the sign-out form posts.
    pub sign_out: &'static str,
    /// Render only the page's content (an htmx request or a dialog).
    pub fragment: bool,
    /// Standing notices above every page's content (an impersonated session, a payment
    /// past due), unlike the flash, which is shown once.
    pub banners: Vec<Banner>,
}

/// A notice that stays on every page while its cause lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// What it is about, for tests and styles (`data-banner`): `impersonation`, `past_due`.
    pub kind: &'static str,
    /// `info`, `warning` or `danger`.
    pub tone: &'static str,
    pub text: String,
    /// Where to act on it, if anywhere: (label, href).
    pub link: Option<(&'static str, &'static str)>,
}

/// One entry of the navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavLink {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The signed-in person, as the top bar shows them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub name: String,
    /// Their role, or company (shown small beside the name).
    pub detail: String,
}

impl Layout {
    /// The version query of asset URLs (`/assets/ui.css?v=...`).
    pub fn assets(&self) -> &'static str {
        crate::web::assets::version()
    }

    /// Marks the navigation entry whose `href` is the start of `path` (the longest wins).
    pub fn with_current(mut self, path: &str) -> Self {
        let best = self
            .nav
            .iter()
            .filter(|link| is_under(path, link.href))
            .map(|link| link.href.len())
            .max();
        for link in &mut self.nav {
            link.current = best == Some(link.href.len()) && is_under(path, link.href);
        }
        self
    }
}

fn is_under(path: &str, href: &str) -> bool {
    if href == "/" {
        return path == "/";
    }
    path == href
        || path
            .strip_prefix(href)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let link = |label, href| NavLink {
            label,
            href,
            current: false,
        };
        Layout {
            product: "Test",
            title: "t".into(),
            nav: vec![link("Home", "/"), link("Tenants", "/tenants")],
            user: None,
            csrf: String::new(),
            flash: None,
            sign_out: "/sign-out",
            fragment: false,
            banners: Vec::new(),
        }
    }

    #[test]
    fn the_section_of_the_path_is_current() {
        let layout = layout().with_current("/tenants/42");
        let current: Vec<_> = layout.nav.iter().filter(|l| l.current).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].href, "/tenants");
    }

    #[test]
    fn home_is_current_only_at_the_root() {
        let layout = layout().with_current("/tenantsx");
        assert!(layout.nav.iter().all(|l| !l.current));
        assert!(layout.with_current("/").nav[0].current);
    }
}
