//! Cards and their moves. A card sits on one column of its board at a position (0 at the
//! top); it stands for a document (at most once per board) or is free with a title.
//!
//! The WIP rule: a move a person makes into another column, or a card added to a column,
//! is refused (409 `wip_limit_reached`, naming the count and the limit) when the column
//! already holds its limit. Every move locks the columns it leaves and enters (in id
//! order, so two moves never wait on each other crosswise; card rows change only under
//! their column's lock) and counts under that lock: two moves racing for a column's last
//! free slot cannot both get it. A
//! document's state change ([`follow`]) moves its cards whatever the limit (the document
//! is the truth), and the move is recorded as over the limit. Every move is recorded in
//! `kanban_moves`: who (or which document state), when, from, to.

use super::documents::{self, DocumentState, DocumentSummary, DocumentType};
use super::{Locked, lock_columns, not_found as missing, record};
use crate::erp::masters::{Page, PageQuery, check_text, page};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewKanbanCard)]
pub struct NewCard {
    /// With `document_id`: the document the card stands for (once per board).
    pub document_type: Option<DocumentType>,
    pub document_id: Option<Uuid>,
    /// Required for a free card (no document); shown beside the document otherwise.
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// A column of the board; by default the one standing for the document's state,
    /// else the first.
    pub column_id: Option<Uuid>,
    /// From the top, 0 first; the bottom when omitted (or beyond it).
    #[schema(minimum = 0, maximum = 100000)]
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KanbanCard)]
pub struct Card {
    pub id: Uuid,
    pub board_id: Uuid,
    pub column_id: Uuid,
    pub position: i32,
    pub document_type: Option<DocumentType>,
    pub document_id: Option<Uuid>,
    pub title: String,
    /// What the linked document is now (none for a free card).
    pub document: Option<DocumentSummary>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KanbanMoveRequest)]
pub struct MoveRequest {
    /// A column of the card's board (its own column reorders it).
    pub to_column_id: Uuid,
    /// From the top, 0 first; the bottom when omitted (or beyond it).
    #[schema(minimum = 0, maximum = 100000)]
    pub position: Option<i32>,
}

/// Why a card moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = KanbanMoveCause)]
pub enum MoveCause {
    /// A person moved it.
    User,
    /// Its document changed state.
    Document,
}

/// One recorded move.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = KanbanMove)]
pub struct Move {
    pub id: Uuid,
    pub board_id: Uuid,
    pub card_id: Uuid,
    /// None once the column is removed; its name then is kept.
    pub from_column_id: Option<Uuid>,
    pub from_column: String,
    pub to_column_id: Option<Uuid>,
    pub to_column: String,
    pub position: i32,
    pub cause: MoveCause,
    /// The document's new state (a `document` move).
    pub document_state: Option<DocumentState>,
    /// Cards in the target column once moved.
    pub cards_after: i32,
    /// The target column's WIP limit then.
    pub wip_limit: Option<i32>,
    /// The move left the column over its limit (only a document's move can).
    pub over_limit: bool,
    /// Who moved it (a `user` move).
    pub moved_by: Option<Uuid>,
    /// Their name (or email) now.
    pub moved_by_name: Option<String>,
    pub moved_at: DateTime<Utc>,
}

/// `GET /kanban/boards/{id}/moves` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct MoveFilter {
    /// Only this card's moves.
    pub card_id: Option<Uuid>,
}

const SELECT: &str = "SELECT id, board_id, column_id, position, document_type, document_id, \
     title, created_by, created_at, updated_at FROM kanban_cards";

fn card(row: &tokio_postgres::Row) -> Card {
    let kind: Option<String> = row.get(4);
    Card {
        id: row.get(0),
        board_id: row.get(1),
        column_id: row.get(2),
        position: row.get(3),
        document_type: kind.as_deref().and_then(DocumentType::parse),
        document_id: row.get(5),
        title: row.get(6),
        document: None,
        created_by: row.get(7),
        created_at: row.get(8),
        updated_at: row.get(9),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("card_not_found", "no kanban card has this id")
}

/// Fills in what each card's document is now.
async fn with_documents(db: &impl GenericClient, mut cards: Vec<Card>) -> ApiResult<Vec<Card>> {
    let linked: Vec<(DocumentType, Uuid)> = cards
        .iter()
        .filter_map(|c| c.document_type.zip(c.document_id))
        .collect();
    let mut found = documents::summaries(db, &linked).await?;
    for card in &mut cards {
        if let Some(key) = card.document_type.zip(card.document_id) {
            card.document = found.remove(&key);
        }
    }
    Ok(cards)
}

/// The cards of a board, column by column, top to bottom.
pub(super) async fn of_board(db: &impl GenericClient, board_id: Uuid) -> ApiResult<Vec<Card>> {
    let rows = db
        .query(
            &format!("{SELECT} WHERE board_id = $1 ORDER BY column_id, position, id"),
            &[&board_id],
        )
        .await?;
    with_documents(db, rows.iter().map(card).collect()).await
}

/// One card: 404 `card_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Card> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
        .await?
        .ok_or_else(not_found)?;
    let mut cards = with_documents(db, vec![card(&row)]).await?;
    cards.pop().ok_or_else(not_found)
}

/// A card as it is now (no lock): 404 `card_not_found`.
async fn read(db: &impl GenericClient, id: Uuid) -> ApiResult<Card> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
        .await?
        .ok_or_else(not_found)?;
    Ok(card(&row))
}

/// Locks the column a card is on (and `to`, if given) and answers the card and the locked
/// columns. Card rows change only under their column's lock (a move renumbers the other
/// cards of both columns), so no card row is locked before a column — the order that lets
/// two moves from one column never wait on each other crosswise. The card is read again
/// once its column is locked: had it moved meanwhile, its new column is locked too.
async fn lock_for_move(
    db: &impl GenericClient,
    id: Uuid,
    to: Option<Uuid>,
) -> ApiResult<(Card, Vec<Locked>)> {
    let mut held: Vec<Uuid> = Vec::new();
    let mut locked = Vec::new();
    loop {
        let card = read(db, id).await?;
        let wanted: Vec<Uuid> = [card.column_id].into_iter().chain(to).collect();
        if wanted.iter().all(|column| held.contains(column)) {
            return Ok((card, locked));
        }
        held.extend(wanted);
        locked = lock_columns(db, &held).await?;
    }
}

/// The ids of a column's cards top to bottom, `except` one.
async fn column_cards(db: &impl GenericClient, column: Uuid, except: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(db
        .query(
            "SELECT id FROM kanban_cards WHERE column_id = $1 AND id <> $2 ORDER BY position, id",
            &[&column, &except],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Writes positions 0, 1, 2... of `ordered` (cards of one column).
async fn renumber(db: &impl GenericClient, ordered: &[Uuid]) -> ApiResult<()> {
    let positions: Vec<i32> = (0..ordered.len() as i32).collect();
    db.execute(
        "UPDATE kanban_cards c SET position = u.position \
         FROM unnest($1::uuid[], $2::int[]) AS u (id, position) \
         WHERE c.id = u.id AND c.position <> u.position",
        &[&ordered, &positions],
    )
    .await?;
    Ok(())
}

/// Puts `card` into `to` at `position` (clamped to the bottom), closing the gap it left
/// in `from`; answers where it landed and how many cards `to` then holds. The caller
/// holds both columns' locks.
async fn place(
    db: &impl GenericClient,
    card: Uuid,
    from: Uuid,
    to: Uuid,
    position: Option<i32>,
) -> ApiResult<(i32, i32)> {
    db.execute(
        "UPDATE kanban_cards SET column_id = $2, updated_at = now() WHERE id = $1",
        &[&card, &to],
    )
    .await?;
    if from != to {
        renumber(db, &column_cards(db, from, card).await?).await?;
    }
    let mut target = column_cards(db, to, card).await?;
    let at = position
        .map_or(target.len(), |p| usize::try_from(p).unwrap_or(0))
        .min(target.len());
    target.insert(at, card);
    renumber(db, &target).await?;
    Ok((at as i32, target.len() as i32))
}

/// 409 `wip_limit_reached` when `column` already holds its limit.
async fn check_room(db: &impl GenericClient, column: &Locked) -> ApiResult<()> {
    let Some(limit) = column.wip_limit else {
        return Ok(());
    };
    let count: i64 = db
        .query_one(
            "SELECT count(*) FROM kanban_cards WHERE column_id = $1",
            &[&column.id],
        )
        .await?
        .get(0);
    if count >= i64::from(limit) {
        return Err(ApiError::conflict(
            "wip_limit_reached",
            format!(
                "column \"{}\" holds {count} cards and its WIP limit is {limit}: finish or move one first",
                column.name
            ),
        ));
    }
    Ok(())
}

/// 422 unless the free card has a title and a linked one names a document that exists.
async fn check_new(db: &impl GenericClient, input: &NewCard) -> ApiResult<String> {
    let title = input.title.as_deref().unwrap_or_default().trim().to_owned();
    check_text(&title, 200).map_err(|message| ApiError::invalid("title", message))?;
    match (input.document_type, input.document_id) {
        (Some(kind), Some(id)) => {
            documents::find(db, kind, id).await?;
        }
        (None, None) if title.is_empty() => {
            return Err(ApiError::invalid(
                "title",
                "a free card (no document) needs a title",
            ));
        }
        (None, None) => {}
        (Some(_), None) => return Err(ApiError::invalid("document_id", "name the document")),
        (None, Some(_)) => return Err(ApiError::invalid("document_type", "name its type")),
    }
    if input.position.is_some_and(|p| p < 0) {
        return Err(ApiError::invalid("position", "0 (the top) or more"));
    }
    Ok(title)
}

/// The column a new card goes to: the one asked for (of this board), else the one standing
/// for the document's state, else the first. 404 `column_not_found`; 422 for a board
/// without columns.
async fn column_for(db: &impl GenericClient, board: Uuid, input: &NewCard) -> ApiResult<Uuid> {
    if let Some(column) = input.column_id {
        let found = db
            .query_opt(
                "SELECT 1 FROM kanban_columns WHERE id = $1 AND board_id = $2",
                &[&column, &board],
            )
            .await?;
        return found.map(|_| column).ok_or_else(|| missing("column"));
    }
    if let Some((kind, id)) = input.document_type.zip(input.document_id) {
        let state = documents::find(db, kind, id).await?.state;
        let mapped = db
            .query_opt(
                "SELECT column_id FROM kanban_column_states \
                 WHERE board_id = $1 AND document_type = $2 AND state = $3",
                &[&board, &kind.as_str(), &state.as_str()],
            )
            .await?;
        if let Some(row) = mapped {
            return Ok(row.get(0));
        }
    }
    db.query_opt(
        "SELECT id FROM kanban_columns WHERE board_id = $1 ORDER BY position LIMIT 1",
        &[&board],
    )
    .await?
    .map(|row| row.get(0))
    .ok_or_else(|| {
        ApiError::conflict(
            "board_without_columns",
            "the board has no columns yet: add one",
        )
    })
}

/// Adds a card to a board. 404 `board_not_found`, `column_not_found`,
/// `document_not_found`; 409 `wip_limit_reached`, `card_exists` (the document is on the
/// board already), `board_without_columns`; 422.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    board: Uuid,
    input: NewCard,
) -> ApiResult<Card> {
    super::boards::exists(db, board).await?;
    let title = check_new(db, &input).await?;
    let column = column_for(db, board, &input).await?;
    let locked = lock_columns(db, &[column]).await?;
    check_room(db, &locked[0]).await?;
    let id = Uuid::now_v7();
    let kind = input.document_type.map(DocumentType::as_str);
    let inserted = db
        .execute(
            "INSERT INTO kanban_cards (id, board_id, column_id, position, document_type, \
             document_id, title, created_by) \
             VALUES ($1, $2, $3, 2147483647, $4, $5, $6, $7) \
             ON CONFLICT (board_id, document_type, document_id) DO NOTHING",
            &[
                &id,
                &board,
                &column,
                &kind,
                &input.document_id,
                &title,
                &actor.user_id,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "card_exists",
            "this document has a card on the board already",
        ));
    }
    place(db, id, column, column, input.position).await?;
    let created = find(db, id).await?;
    record(
        db,
        actor,
        "kanban_card.created",
        "kanban_card",
        id,
        None,
        &created,
    )
    .await?;
    Ok(created)
}

/// Removes a card (its moves with it). 404 `card_not_found`.
pub async fn delete(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<()> {
    let (locked, _) = lock_for_move(db, id, None).await?;
    let before = find(db, id).await?;
    db.execute("DELETE FROM kanban_cards WHERE id = $1", &[&id])
        .await?;
    renumber(db, &column_cards(db, locked.column_id, id).await?).await?;
    let before = serde_json::json!(before);
    super::audit(
        db,
        actor,
        "kanban_card.deleted",
        "kanban_card",
        id,
        Some(before),
        None,
    )
    .await
}

/// A move to record.
struct Moved<'a> {
    card: &'a Card,
    from: &'a Locked,
    to: &'a Locked,
    position: i32,
    cards_after: i32,
    cause: MoveCause,
    document_state: Option<DocumentState>,
    moved_by: Option<Uuid>,
}

async fn write_move(db: &impl GenericClient, moved: Moved<'_>) -> ApiResult<Move> {
    let id = Uuid::now_v7();
    let over = moved.to.wip_limit.is_some_and(|l| moved.cards_after > l);
    let cause = match moved.cause {
        MoveCause::User => "user",
        MoveCause::Document => "document",
    };
    db.execute(
        "INSERT INTO kanban_moves (id, board_id, card_id, from_column_id, to_column_id, \
         from_column, to_column, position, cause, document_state, cards_after, wip_limit, \
         over_limit, moved_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &id,
            &moved.card.board_id,
            &moved.card.id,
            &moved.from.id,
            &moved.to.id,
            &moved.from.name,
            &moved.to.name,
            &moved.position,
            &cause,
            &moved.document_state.map(DocumentState::as_str),
            &moved.cards_after,
            &moved.to.wip_limit,
            &over,
            &moved.moved_by,
        ],
    )
    .await?;
    find_move(db, id).await
}

/// Moves a card within its board (another column, or another place in its own). 404
/// `card_not_found`, `column_not_found` (not a column of the card's board); 409
/// `wip_limit_reached`; 422 on a negative `position`.
pub async fn move_card(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    request: MoveRequest,
) -> ApiResult<Move> {
    if request.position.is_some_and(|p| p < 0) {
        return Err(ApiError::invalid("position", "0 (the top) or more"));
    }
    let (card, locked) = lock_for_move(db, id, Some(request.to_column_id)).await?;
    let by_id = |id: Uuid| locked.iter().find(|c| c.id == id);
    let (Some(from), Some(to)) = (by_id(card.column_id), by_id(request.to_column_id)) else {
        return Err(missing("column"));
    };
    if to.board_id != card.board_id {
        return Err(missing("column"));
    }
    if from.id != to.id {
        check_room(db, to).await?;
    }
    let (position, cards_after) = place(db, id, from.id, to.id, request.position).await?;
    let moved = write_move(
        db,
        Moved {
            card: &card,
            from,
            to,
            position,
            cards_after,
            cause: MoveCause::User,
            document_state: None,
            moved_by: actor.user_id,
        },
    )
    .await?;
    record(
        db,
        actor,
        "kanban_card.moved",
        "kanban_card",
        id,
        None,
        &moved,
    )
    .await?;
    Ok(moved)
}

/// Moves the cards of `documents` (of `kind`) on every board to the column standing for
/// `state`, at its bottom, whatever its WIP limit (recorded as over it). Cards on boards
/// with no such column stay. The caller's transaction is the document's state change.
pub(super) async fn follow(
    db: &impl GenericClient,
    kind: DocumentType,
    documents: &[Uuid],
    state: DocumentState,
) -> ApiResult<()> {
    if documents.is_empty() {
        return Ok(());
    }
    // As for a person's move: the columns first (the ones the cards are on and go to),
    // then the cards read again under those locks.
    let mut held: Vec<Uuid> = Vec::new();
    let mut locked = Vec::new();
    let moving = loop {
        let moving = cards_to_move(db, kind, documents, state).await?;
        let wanted: Vec<Uuid> = moving
            .iter()
            .flat_map(|(card, target)| [card.column_id, *target])
            .collect();
        if wanted.iter().all(|column| held.contains(column)) {
            break moving;
        }
        held.extend(wanted);
        locked = lock_columns(db, &held).await?;
    };
    let by_id = |id: Uuid| {
        locked
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| missing("column"))
    };
    for (card, target) in &moving {
        let (from, to) = (by_id(card.column_id)?, by_id(*target)?);
        let (position, cards_after) = place(db, card.id, from.id, to.id, None).await?;
        write_move(
            db,
            Moved {
                card,
                from,
                to,
                position,
                cards_after,
                cause: MoveCause::Document,
                document_state: Some(state),
                moved_by: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// The cards of `documents` not yet on the column of their board standing for `state`,
/// with that column.
async fn cards_to_move(
    db: &impl GenericClient,
    kind: DocumentType,
    documents: &[Uuid],
    state: DocumentState,
) -> ApiResult<Vec<(Card, Uuid)>> {
    let rows = db
        .query(
            &format!(
                "{SELECT_WITH_TARGET} c JOIN kanban_column_states s ON s.board_id = c.board_id \
                   AND s.document_type = c.document_type AND s.state = $3 \
                 WHERE c.document_type = $1 AND c.document_id = ANY($2) \
                   AND c.column_id <> s.column_id ORDER BY c.id"
            ),
            &[&kind.as_str(), &documents, &state.as_str()],
        )
        .await?;
    Ok(rows.iter().map(|row| (card(row), row.get(10))).collect())
}

/// [`SELECT`] with the card's columns prefixed `c.` and the target column last.
const SELECT_WITH_TARGET: &str = "SELECT c.id, c.board_id, c.column_id, c.position, \
     c.document_type, c.document_id, c.title, c.created_by, c.created_at, c.updated_at, \
     s.column_id FROM kanban_cards";

const SELECT_MOVE: &str = "SELECT m.id, m.board_id, m.card_id, m.from_column_id, \
     m.from_column, m.to_column_id, m.to_column, m.position, m.cause, m.document_state, \
     m.cards_after, m.wip_limit, m.over_limit, m.moved_by, m.moved_at, \
     coalesce(nullif(u.display_name, ''), u.email) \
     FROM kanban_moves m LEFT JOIN users u ON u.id = m.moved_by";

fn a_move(row: &tokio_postgres::Row) -> Move {
    let cause: String = row.get(8);
    let state: Option<String> = row.get(9);
    Move {
        id: row.get(0),
        board_id: row.get(1),
        card_id: row.get(2),
        from_column_id: row.get(3),
        from_column: row.get(4),
        to_column_id: row.get(5),
        to_column: row.get(6),
        position: row.get(7),
        cause: if cause == "document" {
            MoveCause::Document
        } else {
            MoveCause::User
        },
        document_state: state.as_deref().and_then(DocumentState::parse),
        cards_after: row.get(10),
        wip_limit: row.get(11),
        over_limit: row.get(12),
        moved_by: row.get(13),
        moved_at: row.get(14),
        moved_by_name: row.get(15),
    }
}

async fn find_move(db: &impl GenericClient, id: Uuid) -> ApiResult<Move> {
    let row = db
        .query_one(&format!("{SELECT_MOVE} WHERE m.id = $1"), &[&id])
        .await?;
    Ok(a_move(&row))
}

/// A board's moves, newest first. 404 `board_not_found`.
pub async fn moves(
    db: &impl GenericClient,
    board: Uuid,
    filter: &MoveFilter,
    paging: &PageQuery,
) -> ApiResult<Page<Move>> {
    super::boards::exists(db, board).await?;
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
            &format!(
                "{SELECT_MOVE} WHERE m.board_id = $1 AND ($2::uuid IS NULL OR m.card_id = $2) \
                   AND ($3::uuid IS NULL OR m.id < $3) ORDER BY m.id DESC LIMIT $4"
            ),
            &[&board, &filter.card_id, &after, &(limit + 1)],
        )
        .await?;
    let moves = rows.iter().map(a_move).collect();
    Ok(page(moves, limit, |m: &Move| m.id.to_string()))
}
