//! Links for keyset-paged, sortable tables: "first page" and "next page" keep the
//! current filters and sort; a sortable column header toggles its direction. Pages never
//! count rows or use offsets, so a list of 10,000 tenants costs what a list of 50 does.

/// Where the table's "next" and "first" links go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pager {
    pub next: Option<String>,
    /// Set when this is not the first page.
    pub first: Option<String>,
}

impl Pager {
    /// Links for the page at `path` with query `params` (filters and sort; any `cursor`
    /// among them is replaced), given the API page's `next_cursor`.
    pub fn new(path: &str, params: &[(&str, String)], next_cursor: Option<&str>) -> Self {
        let kept: Vec<(&str, &str)> = params
            .iter()
            .filter(|(key, value)| *key != "cursor" && !value.is_empty())
            .map(|(key, value)| (*key, value.as_str()))
            .collect();
        let on_first_page = params
            .iter()
            .all(|(key, value)| *key != "cursor" || value.is_empty());
        Self {
            next: next_cursor.map(|cursor| {
                let mut with_cursor = kept.clone();
                with_cursor.push(("cursor", cursor));
                href(path, &with_cursor)
            }),
            first: (!on_first_page).then(|| href(path, &kept)),
        }
    }
}

/// A sortable column's header link and its `aria-sort` state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortLink {
    pub label: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none`.
    pub aria_sort: &'static str,
}

/// The header link of column `column`: sorted by it ascending unless it already is, in
/// which case descending. Filters in `params` are kept; paging restarts.
pub fn sort_link(
    path: &str,
    params: &[(&str, String)],
    label: &'static str,
    column: &str,
    current: (&str, bool),
) -> SortLink {
    let (sorted_by, descending) = current;
    let is_current = sorted_by == column;
    let next_descending = is_current && !descending;
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .filter(|(key, value)| !matches!(*key, "cursor" | "sort" | "dir") && !value.is_empty())
        .map(|(key, value)| (*key, value.as_str()))
        .collect();
    kept.push(("sort", column));
    kept.push(("dir", if next_descending { "desc" } else { "asc" }));
    SortLink {
        label,
        href: href(path, &kept),
        aria_sort: match (is_current, descending) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        },
    }
}

/// `path?k=v&...`, values form-encoded.
pub fn href(path: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return path.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_keeps_filters_and_replaces_the_cursor() {
        let params = [
            ("status", "active".to_owned()),
            ("cursor", "old".to_owned()),
            ("plan", String::new()),
        ];
        let pager = Pager::new("/tenants", &params, Some("new"));
        assert_eq!(
            pager.next.as_deref(),
            Some("/tenants?status=active&cursor=new")
        );
        assert_eq!(pager.first.as_deref(), Some("/tenants?status=active"));
    }

    #[test]
    fn the_first_page_has_no_first_link_and_the_last_no_next() {
        let pager = Pager::new("/tenants", &[], None);
        assert_eq!(pager, Pager::default());
    }

    #[test]
    fn sorting_by_the_current_column_flips_its_direction() {
        let link = sort_link("/t", &[], "Name", "name", ("name", false));
        assert_eq!(link.href, "/t?sort=name&dir=desc");
        assert_eq!(link.aria_sort, "ascending");
        let other = sort_link("/t", &[], "Slug", "slug", ("name", false));
        assert_eq!(other.href, "/t?sort=slug&dir=asc");
        assert_eq!(other.aria_sort, "none");
    }

    #[test]
    fn values_are_encoded() {
        assert_eq!(href("/a", &[("q", "a&b c")]), "/a?q=a%26b+c");
    }
}
