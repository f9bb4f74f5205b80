//! Boards and their columns. A board has columns left to right (positions 0, 1, 2...),
//! each with an optional WIP limit and the document states it stands for (at most one
//! column per state on a board: 409 `state_already_mapped`). Changes to a board's columns
//! lock the board's row, so two of them never renumber at once. A column with cards
//! cannot be removed (409 `column_not_empty`); removing a board removes its cards and
//! their moves.

use super::cards::{self, Card};
use super::documents::StateRef;
use super::{audit, not_found, record};
use crate::erp::masters::{Page, PageQuery, check_name, check_text, nullable, page};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult, Validator};
use common::tenant_audit::Actor;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// Columns a board may have, and states a column may stand for.
pub const MAX_COLUMNS: usize = 20;
pub const MAX_STATES: usize = 20;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewKanbanBoard)]
pub struct NewBoard {
    /// Unique among the company's boards.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    /// The columns, left to right (more can be added later).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub columns: Vec<NewColumn>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KanbanBoardChanges)]
pub struct BoardChanges {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewKanbanColumn)]
pub struct NewColumn {
    /// Unique on its board.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// At most this many cards (none: no limit).
    #[schema(minimum = 1, maximum = 1000)]
    pub wip_limit: Option<i32>,
    /// The document states it stands for: such documents' cards move here.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub states: Vec<StateRef>,
    /// From the left, 0 first; the right end when omitted (or beyond it).
    #[schema(minimum = 0, maximum = 100000)]
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KanbanColumnChanges)]
pub struct ColumnChanges {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// `null` removes the limit. Lowering it below the cards there moves none of them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 1000)]
    pub wip_limit: Option<Option<i32>>,
    /// Replaces the states it stands for.
    #[schema(max_items = 20)]
    pub states: Option<Vec<StateRef>>,
    #[schema(minimum = 0, maximum = 100000)]
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KanbanColumn)]
pub struct Column {
    pub id: Uuid,
    pub board_id: Uuid,
    pub name: String,
    pub position: i32,
    pub wip_limit: Option<i32>,
    pub states: Vec<StateRef>,
    pub card_count: i32,
    /// More cards than its limit (a document's state change put them there).
    pub over_limit: bool,
    /// Top to bottom.
    pub cards: Vec<Card>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KanbanBoard)]
pub struct Board {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Left to right.
    pub columns: Vec<Column>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A board in the list: its counts, not its cards.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KanbanBoardSummary)]
pub struct BoardSummary {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub column_count: i64,
    pub card_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// 404 `board_not_found` unless the board exists.
pub(super) async fn exists(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    db.query_opt("SELECT 1 FROM kanban_boards WHERE id = $1", &[&id])
        .await?
        .map(|_| ())
        .ok_or_else(|| not_found("board"))
}

/// Locks a board for a change of its columns: 404 `board_not_found`.
async fn lock(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    db.query_opt(
        "SELECT 1 FROM kanban_boards WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .map(|_| ())
    .ok_or_else(|| not_found("board"))
}

/// The boards, oldest first.
pub async fn list(db: &impl GenericClient, paging: &PageQuery) -> ApiResult<Page<BoardSummary>> {
    let limit = paging.limit()?;
    let after = match paging.after()? {
        Some(key) => Some(
            Uuid::parse_str(&key)
                .map_err(|_| ApiError::invalid("after", "is not a cursor this API gave out"))?,
        ),
        None => None,
    };
    let rows = db
        .query(
            "SELECT b.id, b.name, b.description, \
                    (SELECT count(*) FROM kanban_columns c WHERE c.board_id = b.id), \
                    (SELECT count(*) FROM kanban_cards k WHERE k.board_id = b.id), \
                    b.created_at, b.updated_at \
             FROM kanban_boards b WHERE ($1::uuid IS NULL OR b.id > $1) ORDER BY b.id LIMIT $2",
            &[&after, &(limit + 1)],
        )
        .await?;
    let boards = rows
        .iter()
        .map(|row| BoardSummary {
            id: row.get(0),
            name: row.get(1),
            description: row.get(2),
            column_count: row.get(3),
            card_count: row.get(4),
            created_at: row.get(5),
            updated_at: row.get(6),
        })
        .collect();
    Ok(page(boards, limit, |b: &BoardSummary| b.id.to_string()))
}

/// The states each column of a board stands for, by column.
async fn states_of(db: &impl GenericClient, board: Uuid) -> ApiResult<Vec<(Uuid, StateRef)>> {
    use super::documents::{DocumentState, DocumentType};
    let rows = db
        .query(
            "SELECT column_id, document_type, state FROM kanban_column_states \
             WHERE board_id = $1 ORDER BY document_type, state",
            &[&board],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let kind = DocumentType::parse(row.get(1))?;
            let state = DocumentState::parse(row.get(2))?;
            Some((
                row.get(0),
                StateRef {
                    document_type: kind,
                    state,
                },
            ))
        })
        .collect())
}

/// One board with its columns and cards: 404 `board_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Board> {
    let row = db
        .query_opt(
            "SELECT id, name, description, created_by, created_at, updated_at \
             FROM kanban_boards WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| not_found("board"))?;
    let states = states_of(db, id).await?;
    let mut cards = cards::of_board(db, id).await?;
    let columns = db
        .query(
            "SELECT id, name, position, wip_limit FROM kanban_columns WHERE board_id = $1 \
             ORDER BY position, id",
            &[&id],
        )
        .await?
        .iter()
        .map(|c| {
            let column_id: Uuid = c.get(0);
            let wip_limit: Option<i32> = c.get(3);
            let (mine, rest): (Vec<Card>, Vec<Card>) = cards
                .drain(..)
                .partition(|card| card.column_id == column_id);
            cards = rest;
            let count = mine.len() as i32;
            Column {
                id: column_id,
                board_id: id,
                name: c.get(1),
                position: c.get(2),
                wip_limit,
                states: states
                    .iter()
                    .filter(|(of, _)| *of == column_id)
                    .map(|(_, state)| *state)
                    .collect(),
                card_count: count,
                over_limit: wip_limit.is_some_and(|limit| count > limit),
                cards: mine,
            }
        })
        .collect();
    Ok(Board {
        id,
        name: row.get(1),
        description: row.get(2),
        columns,
        created_by: row.get(3),
        created_at: row.get(4),
        updated_at: row.get(5),
    })
}

fn check_board_text(name: Option<&str>, description: Option<&str>) -> ApiResult<()> {
    let mut error = Validator::default();
    if let Some(name) = name {
        error.check("name", check_name(name, 100));
    }
    if let Some(description) = description {
        error.check("description", check_text(description, 2000));
    }
    error.finish()
}

/// 409 `board_name_taken`.
fn name_taken() -> ApiError {
    ApiError::conflict("board_name_taken", "another board has this name")
}

/// Creates a board with its columns. 409 `board_name_taken`, `state_already_mapped`; 422.
pub async fn create(db: &impl GenericClient, actor: &Actor, input: NewBoard) -> ApiResult<Board> {
    check_board_text(Some(&input.name), Some(&input.description))?;
    if input.columns.len() > MAX_COLUMNS {
        return Err(ApiError::invalid(
            "columns",
            format!("at most {MAX_COLUMNS} columns"),
        ));
    }
    let id = Uuid::now_v7();
    let inserted = db
        .execute(
            "INSERT INTO kanban_boards (id, name, description, created_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            &[&id, &input.name.trim(), &input.description, &actor.user_id],
        )
        .await?;
    if inserted == 0 {
        return Err(name_taken());
    }
    for (index, column) in input.columns.into_iter().enumerate() {
        insert_column(db, id, column, &format!("columns[{index}].")).await?;
    }
    let created = find(db, id).await?;
    record(
        db,
        actor,
        "kanban_board.created",
        "kanban_board",
        id,
        None,
        &created,
    )
    .await?;
    Ok(created)
}

/// Renames or redescribes a board. 404; 409 `board_name_taken`; 422.
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: BoardChanges,
) -> ApiResult<Board> {
    check_board_text(changes.name.as_deref(), changes.description.as_deref())?;
    lock(db, id).await?;
    let before = find(db, id).await?;
    let name = changes.name.as_deref().map(str::trim);
    let taken = db
        .query_opt(
            "SELECT 1 FROM kanban_boards WHERE name = $1 AND id <> $2",
            &[&name, &id],
        )
        .await?;
    if taken.is_some() {
        return Err(name_taken());
    }
    db.execute(
        "UPDATE kanban_boards SET name = coalesce($2, name), \
         description = coalesce($3, description), updated_at = now() WHERE id = $1",
        &[&id, &name, &changes.description],
    )
    .await?;
    let after = find(db, id).await?;
    let before = Some(serde_json::json!(before));
    record(
        db,
        actor,
        "kanban_board.updated",
        "kanban_board",
        id,
        before,
        &after,
    )
    .await?;
    Ok(after)
}

/// Removes a board with its columns, cards and moves. 404 `board_not_found`.
pub async fn delete(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<()> {
    lock(db, id).await?;
    let before = serde_json::json!(find(db, id).await?);
    // The cards first: their column may not go while they point at it.
    db.execute("DELETE FROM kanban_cards WHERE board_id = $1", &[&id])
        .await?;
    db.execute("DELETE FROM kanban_boards WHERE id = $1", &[&id])
        .await?;
    audit(
        db,
        actor,
        "kanban_board.deleted",
        "kanban_board",
        id,
        Some(before),
        None,
    )
    .await
}

/// 422 on `{prefix}name` / `wip_limit` / `states` / `position`.
fn check_column(
    prefix: &str,
    name: Option<&str>,
    wip_limit: Option<i32>,
    states: Option<&[StateRef]>,
    position: Option<i32>,
) -> ApiResult<()> {
    let mut error = Validator::default();
    if let Some(name) = name {
        error.check(&format!("{prefix}name"), check_name(name, 100));
    }
    if wip_limit.is_some_and(|limit| !(1..=1000).contains(&limit)) {
        error.check(&format!("{prefix}wip_limit"), Err("1 to 1000".into()));
    }
    if position.is_some_and(|p| p < 0) {
        error.check(
            &format!("{prefix}position"),
            Err("0 (the left) or more".into()),
        );
    }
    for (index, state) in states.unwrap_or_default().iter().enumerate() {
        if !state.document_type.states().contains(&state.state) {
            let message = format!(
                "a {} is never {}",
                state.document_type.label(),
                state.state.as_str()
            );
            error.check(&format!("{prefix}states[{index}].state"), Err(message));
        }
    }
    if states.is_some_and(|s| s.len() > MAX_STATES) {
        let message = format!("at most {MAX_STATES}");
        error.check(&format!("{prefix}states"), Err(message));
    }
    error.finish()
}

/// Replaces the states `column` stands for: 409 `state_already_mapped` when another column
/// of the board stands for one of them.
async fn write_states(
    db: &impl GenericClient,
    board: Uuid,
    column: Uuid,
    states: &[StateRef],
) -> ApiResult<()> {
    db.execute(
        "DELETE FROM kanban_column_states WHERE column_id = $1",
        &[&column],
    )
    .await?;
    for state in states {
        let (kind, name) = (state.document_type.as_str(), state.state.as_str());
        let holder = db
            .query_opt(
                "SELECT c.name FROM kanban_column_states s \
                 JOIN kanban_columns c ON c.id = s.column_id \
                 WHERE s.board_id = $1 AND s.document_type = $2 AND s.state = $3 \
                   AND s.column_id <> $4",
                &[&board, &kind, &name, &column],
            )
            .await?;
        if let Some(holder) = holder {
            let holder: String = holder.get(0);
            return Err(ApiError::conflict(
                "state_already_mapped",
                format!(
                    "column \"{holder}\" already stands for a {} {name}",
                    state.document_type.label()
                ),
            ));
        }
        db.execute(
            "INSERT INTO kanban_column_states (board_id, column_id, document_type, state) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&board, &column, &kind, &name],
        )
        .await?;
    }
    Ok(())
}

/// The board's column ids left to right, `except` one.
async fn column_order(db: &impl GenericClient, board: Uuid, except: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(db
        .query(
            "SELECT id FROM kanban_columns WHERE board_id = $1 AND id <> $2 \
             ORDER BY position, id",
            &[&board, &except],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Puts `column` at `position` (the right end when none or beyond) and renumbers.
async fn arrange(
    db: &impl GenericClient,
    board: Uuid,
    column: Uuid,
    position: Option<i32>,
) -> ApiResult<()> {
    let mut order = column_order(db, board, column).await?;
    let at = position
        .map_or(order.len(), |p| usize::try_from(p).unwrap_or(0))
        .min(order.len());
    order.insert(at, column);
    let positions: Vec<i32> = (0..order.len() as i32).collect();
    db.execute(
        "UPDATE kanban_columns c SET position = u.position \
         FROM unnest($1::uuid[], $2::int[]) AS u (id, position) WHERE c.id = u.id",
        &[&order, &positions],
    )
    .await?;
    Ok(())
}

/// 409 `column_name_taken` when another column of the board has `name`.
async fn check_column_name(
    db: &impl GenericClient,
    board: Uuid,
    column: Uuid,
    name: &str,
) -> ApiResult<()> {
    let taken = db
        .query_opt(
            "SELECT 1 FROM kanban_columns WHERE board_id = $1 AND name = $2 AND id <> $3",
            &[&board, &name, &column],
        )
        .await?;
    match taken {
        Some(_) => Err(ApiError::conflict(
            "column_name_taken",
            format!("the board has a column named \"{name}\" already"),
        )),
        None => Ok(()),
    }
}

async fn insert_column(
    db: &impl GenericClient,
    board: Uuid,
    input: NewColumn,
    prefix: &str,
) -> ApiResult<Uuid> {
    check_column(
        prefix,
        Some(&input.name),
        input.wip_limit,
        Some(&input.states),
        input.position,
    )?;
    let count: i64 = db
        .query_one(
            "SELECT count(*) FROM kanban_columns WHERE board_id = $1",
            &[&board],
        )
        .await?
        .get(0);
    if count >= MAX_COLUMNS as i64 {
        return Err(ApiError::conflict(
            "too_many_columns",
            format!("a board has at most {MAX_COLUMNS} columns"),
        ));
    }
    let id = Uuid::now_v7();
    let name = input.name.trim();
    check_column_name(db, board, id, name).await?;
    db.execute(
        "INSERT INTO kanban_columns (id, board_id, name, position, wip_limit) \
         VALUES ($1, $2, $3, 2147483647, $4)",
        &[&id, &board, &name, &input.wip_limit],
    )
    .await?;
    write_states(db, board, id, &input.states).await?;
    arrange(db, board, id, input.position).await?;
    Ok(id)
}

/// One column of a board, with its cards.
pub async fn find_column(db: &impl GenericClient, id: Uuid) -> ApiResult<Column> {
    let board: Uuid = db
        .query_opt("SELECT board_id FROM kanban_columns WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| not_found("column"))?
        .get(0);
    find(db, board)
        .await?
        .columns
        .into_iter()
        .find(|column| column.id == id)
        .ok_or_else(|| not_found("column"))
}

/// The board a column is on, locked: 404 `column_not_found`.
async fn lock_board_of(db: &impl GenericClient, column: Uuid) -> ApiResult<Uuid> {
    let board: Uuid = db
        .query_opt(
            "SELECT board_id FROM kanban_columns WHERE id = $1",
            &[&column],
        )
        .await?
        .ok_or_else(|| not_found("column"))?
        .get(0);
    lock(db, board).await?;
    Ok(board)
}

/// Adds a column to a board. 404 `board_not_found`; 409 `column_name_taken`,
/// `state_already_mapped`, `too_many_columns`; 422.
pub async fn add_column(
    db: &impl GenericClient,
    actor: &Actor,
    board: Uuid,
    input: NewColumn,
) -> ApiResult<Column> {
    lock(db, board).await?;
    let id = insert_column(db, board, input, "").await?;
    let created = find_column(db, id).await?;
    record(
        db,
        actor,
        "kanban_column.created",
        "kanban_column",
        id,
        None,
        &created,
    )
    .await?;
    Ok(created)
}

/// Changes a column (name, WIP limit, states, place). 404 `column_not_found`; 409
/// `column_name_taken`, `state_already_mapped`; 422.
pub async fn update_column(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: ColumnChanges,
) -> ApiResult<Column> {
    check_column(
        "",
        changes.name.as_deref(),
        changes.wip_limit.flatten(),
        changes.states.as_deref(),
        changes.position,
    )?;
    let board = lock_board_of(db, id).await?;
    // The column's own lock too: a move counting its cards waits for the new limit.
    super::lock_columns(db, &[id]).await?;
    let before = find_column(db, id).await?;
    if let Some(name) = changes.name.as_deref().map(str::trim) {
        check_column_name(db, board, id, name).await?;
        db.execute(
            "UPDATE kanban_columns SET name = $2 WHERE id = $1",
            &[&id, &name],
        )
        .await?;
    }
    if let Some(limit) = changes.wip_limit {
        db.execute(
            "UPDATE kanban_columns SET wip_limit = $2 WHERE id = $1",
            &[&id, &limit],
        )
        .await?;
    }
    if let Some(states) = &changes.states {
        write_states(db, board, id, states).await?;
    }
    if changes.position.is_some() {
        arrange(db, board, id, changes.position).await?;
    }
    let after = find_column(db, id).await?;
    let before = Some(serde_json::json!(before));
    record(
        db,
        actor,
        "kanban_column.updated",
        "kanban_column",
        id,
        before,
        &after,
    )
    .await?;
    Ok(after)
}

/// Removes an empty column. 404 `column_not_found`; 409 `column_not_empty`.
pub async fn delete_column(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<()> {
    let board = lock_board_of(db, id).await?;
    super::lock_columns(db, &[id]).await?;
    let before = find_column(db, id).await?;
    if before.card_count > 0 {
        return Err(ApiError::conflict(
            "column_not_empty",
            format!(
                "column \"{}\" holds {} cards: move them first",
                before.name, before.card_count
            ),
        ));
    }
    db.execute("DELETE FROM kanban_columns WHERE id = $1", &[&id])
        .await?;
    let order = column_order(db, board, id).await?;
    let positions: Vec<i32> = (0..order.len() as i32).collect();
    db.execute(
        "UPDATE kanban_columns c SET position = u.position \
         FROM unnest($1::uuid[], $2::int[]) AS u (id, position) WHERE c.id = u.id",
        &[&order, &positions],
    )
    .await?;
    let before = Some(serde_json::json!(before));
    audit(
        db,
        actor,
        "kanban_column.deleted",
        "kanban_column",
        id,
        before,
        None,
    )
    .await
}
