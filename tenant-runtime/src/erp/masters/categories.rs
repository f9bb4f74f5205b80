//! Item categories: a name unique regardless of case, and an optional parent (a tree; a
//! category can never become its own ancestor).

use super::{check_name, nullable};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self as audit, Actor};
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Category {
    pub id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryChanges {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// `null` makes it a top-level category.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub parent_id: Option<Option<Uuid>>,
}

fn category(row: &tokio_postgres::Row) -> Category {
    Category {
        id: row.get(0),
        name: row.get(1),
        parent_id: row.get(2),
    }
}

/// Every category, by name.
pub async fn list(db: &impl GenericClient) -> ApiResult<Vec<Category>> {
    let rows = db
        .query(
            "SELECT id, name, parent_id FROM categories ORDER BY lower(name), id",
            &[],
        )
        .await?;
    Ok(rows.iter().map(category).collect())
}

pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Category> {
    db.query_opt(
        "SELECT id, name, parent_id FROM categories WHERE id = $1",
        &[&id],
    )
    .await?
    .map(|row| category(&row))
    .ok_or_else(|| ApiError::not_found("category_not_found", "no category has this id"))
}

/// 422 on `field` unless category `id` exists.
pub async fn ensure_exists(db: &impl GenericClient, id: Uuid, field: &str) -> ApiResult<()> {
    let found = db
        .query_opt("SELECT 1 FROM categories WHERE id = $1", &[&id])
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid(field, "no category has this id")),
    }
}

/// Adds a category: 409 `category_name_taken` for a name in use (any case).
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: &NewCategory,
) -> ApiResult<Category> {
    check_name(&input.name, 100).map_err(|message| ApiError::invalid("name", message))?;
    if let Some(parent) = input.parent_id {
        ensure_exists(db, parent, "parent_id").await?;
    }
    let id = Uuid::now_v7();
    let inserted = db
        .execute(
            "INSERT INTO categories (id, name, parent_id) VALUES ($1, $2, $3) \
             ON CONFLICT ((lower(name))) DO NOTHING",
            &[&id, &input.name, &input.parent_id],
        )
        .await?;
    if inserted == 0 {
        return Err(name_taken(&input.name));
    }
    let created = find(db, id).await?;
    let entry = audit::Entry {
        action: "category.created",
        target_kind: "category",
        target_id: id.to_string(),
        before: None,
        after: Some(serde_json::json!({"name": created.name, "parent_id": created.parent_id})),
    };
    audit::record(db, actor, entry).await?;
    Ok(created)
}

/// Renames or moves a category: 422 when the new parent is the category or below it.
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: &CategoryChanges,
) -> ApiResult<Category> {
    let before = find(db, id).await?;
    let name = changes.name.as_deref().unwrap_or(&before.name);
    check_name(name, 100).map_err(|message| ApiError::invalid("name", message))?;
    let parent = changes.parent_id.unwrap_or(before.parent_id);
    if let Some(parent) = parent {
        ensure_exists(db, parent, "parent_id").await?;
        ensure_not_below(db, id, parent).await?;
    }
    let taken = db
        .query_opt(
            "SELECT 1 FROM categories WHERE lower(name) = lower($1) AND id <> $2",
            &[&name, &id],
        )
        .await?;
    if taken.is_some() {
        return Err(name_taken(name));
    }
    db.execute(
        "UPDATE categories SET name = $2, parent_id = $3, updated_at = now() WHERE id = $1",
        &[&id, &name, &parent],
    )
    .await?;
    let after = find(db, id).await?;
    let entry = audit::Entry {
        action: "category.updated",
        target_kind: "category",
        target_id: id.to_string(),
        before: Some(serde_json::json!({"name": before.name, "parent_id": before.parent_id})),
        after: Some(serde_json::json!({"name": after.name, "parent_id": after.parent_id})),
    };
    audit::record(db, actor, entry).await?;
    Ok(after)
}

/// 422 when `parent` is `id` or one of its descendants (the tree would become a loop).
async fn ensure_not_below(db: &impl GenericClient, id: Uuid, parent: Uuid) -> ApiResult<()> {
    let looped = db
        .query_one(
            "WITH RECURSIVE up (id, parent_id) AS ( \
               SELECT id, parent_id FROM categories WHERE id = $2 \
               UNION SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id) \
             SELECT EXISTS (SELECT 1 FROM up WHERE id = $1)",
            &[&id, &parent],
        )
        .await?
        .get::<_, bool>(0);
    if looped {
        return Err(ApiError::invalid(
            "parent_id",
            "a category cannot be placed under itself or its own subcategory",
        ));
    }
    Ok(())
}

fn name_taken(name: &str) -> ApiError {
    ApiError::conflict(
        "category_name_taken",
        format!("a category named `{name}` exists"),
    )
}
