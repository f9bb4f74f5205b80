//! Kanban pages: the boards (a list with a form for a new one) and a board (its columns
//! left to right with their WIP count and limit, over-limit columns marked, its cards with
//! their documents' number, item and state linking to them, and the latest moves). Those
//! with `production.write` move cards, add cards and columns and change a column's limit
//! and states; viewers see no such controls.
//!
//! One write path for moves: every card carries a "Move to…" form (a select of columns
//! and a button, reachable by keyboard), and the vendored `kanban.js` drag and drop only
//! fills that form in and submits it. A refused move (a full column) comes back as the
//! board with the reason on top. Every action calls `erp::kanban`, as the API does.

use crate::auth::perm::{ProductionRead, ProductionWrite};
use crate::erp::kanban::boards::{
    self, Board, BoardSummary, Column, ColumnChanges, NewBoard, NewColumn,
};
use crate::erp::kanban::cards::{self, Move, MoveFilter, MoveRequest, NewCard};
use crate::erp::kanban::documents::{self, DocumentType, StateRef};
use crate::erp::masters::PageQuery;
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, ResponseError, web};
use askama::Template;
use common::api_error::{ApiError, ApiResult};
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use std::collections::HashMap;
use uuid::Uuid;

/// A submitted form: its fields by name.
type Fields = HashMap<String, String>;

#[derive(Template)]
#[template(path = "app/kanban/boards.html")]
struct BoardsPage {
    layout: Layout,
    boards: Vec<BoardSummary>,
    may_write: bool,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

/// One recorded move as the board's history shows it.
struct MoveRow {
    at: String,
    card: String,
    from: String,
    to: String,
    by: String,
    over: bool,
}

#[derive(Template)]
#[template(path = "app/kanban/board.html")]
struct BoardPage {
    layout: Layout,
    board: Board,
    may_write: bool,
    /// `(document_type:state, label)` of every state a column can stand for.
    state_options: Vec<(String, String)>,
    moves: Vec<MoveRow>,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

impl BoardPage {
    /// The value of a state option (`manufacturing_order:released`).
    fn state_value(state: &StateRef) -> String {
        format!("{}:{}", state.document_type.as_str(), state.state.as_str())
    }

    /// Whether `column` holds its WIP limit (a person can add nothing more).
    fn full(&self, column: &Column) -> bool {
        column
            .wip_limit
            .is_some_and(|limit| column.card_count >= limit)
    }

    /// Whether a column standing for `states` stands for the state option `value`.
    fn chosen(&self, states: &[StateRef], value: &str) -> bool {
        states.iter().any(|s| Self::state_value(s) == value)
    }
}

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or_default()
}

/// An optional whole number field (blank: none).
fn number_field(fields: &Fields, name: &str) -> ApiResult<Option<i32>> {
    match field(fields, name) {
        "" => Ok(None),
        text => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(name, "a whole number")),
    }
}

fn uuid_field(fields: &Fields, name: &str) -> ApiResult<Option<Uuid>> {
    match field(fields, name) {
        "" => Ok(None),
        text => Uuid::parse_str(text)
            .map(Some)
            .map_err(|_| ApiError::invalid(name, "choose one")),
    }
}

/// The checked `states` of a column form (`document_type:state`), read from the raw body
/// (a multiple select sends the field once per choice).
fn chosen_states(raw: &[u8]) -> ApiResult<Vec<StateRef>> {
    form_urlencoded::parse(raw)
        .filter(|(key, _)| key == "states")
        .map(|(_, value)| {
            let parsed = value.split_once(':').and_then(|(kind, state)| {
                Some(StateRef {
                    document_type: DocumentType::parse(kind)?,
                    state: documents::DocumentState::parse(state)?,
                })
            });
            parsed.ok_or_else(|| ApiError::invalid("states", "choose from the list"))
        })
        .collect()
}

/// Every state a column can stand for, as the column forms offer them.
fn state_options() -> Vec<(String, String)> {
    DocumentType::all()
        .into_iter()
        .flat_map(|kind| {
            kind.states().iter().map(move |state| {
                let value = BoardPage::state_value(&StateRef {
                    document_type: kind,
                    state: *state,
                });
                let label = format!("{}: {}", kind.label(), state.as_str().replace('_', " "));
                (value, label)
            })
        })
        .collect()
}

/// `GET /kanban`.
pub async fn list(signed: Signed) -> PageResult {
    list_page(signed, FormErrors::default(), StatusCode::OK).await
}

async fn list_page(signed: Signed, errors: FormErrors, status: StatusCode) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Kanban boards");
    let auth = signed.authorize::<ProductionRead>()?;
    let paging = PageQuery {
        limit: Some(200),
        after: None,
    };
    let list = boards::list(auth.current.db.client(), &paging).await?;
    let page = BoardsPage {
        layout,
        boards: list.items,
        may_write,
        problems: errors.fields_except(&["name"]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The columns typed one a line, `Name` or `Name | WIP limit`.
fn typed_columns(text: &str) -> ApiResult<Vec<NewColumn>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, limit) = match line.rsplit_once('|') {
                Some((name, limit)) => {
                    let limit = limit.trim().parse().map_err(|_| {
                        ApiError::invalid(
                            "columns",
                            format!("\"{line}\": the limit is a whole number"),
                        )
                    })?;
                    (name.trim(), Some(limit))
                }
                None => (line, None),
            };
            Ok(NewColumn {
                name: name.to_owned(),
                wip_limit: limit,
                ..NewColumn::default()
            })
        })
        .collect()
}

/// `POST /kanban`: a new board.
pub async fn create(request: HttpRequest, submitted: AppForm<Fields>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let created = async {
        let input = NewBoard {
            name: field(&form, "name").to_owned(),
            description: field(&form, "description").to_owned(),
            columns: typed_columns(field(&form, "columns"))?,
        };
        let tx = current.db.begin().await?;
        let board = boards::create(&tx, &actor, input).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(board)
    }
    .await;
    match created {
        Ok(board) => Ok(render::redirect(
            &request,
            &format!("/kanban/boards/{}", board.id),
            Some(Flash::success(format!("Board {} made.", board.name))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("board_name_taken", "name")])?;
            let signed = Signed::again(&request).await?;
            let status = errors.status();
            list_page(signed, errors, status).await
        }
    }
}

/// `GET /kanban/boards/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    board_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

fn move_rows(board: &Board, moves: Vec<Move>) -> Vec<MoveRow> {
    let names: HashMap<Uuid, String> = board
        .columns
        .iter()
        .flat_map(|column| &column.cards)
        .map(|card| {
            let name = match &card.document {
                Some(document) => document.number.clone(),
                None => card.title.clone(),
            };
            (card.id, name)
        })
        .collect();
    moves
        .into_iter()
        .map(|m| MoveRow {
            at: m.moved_at.format("%Y-%m-%d %H:%M").to_string(),
            card: names.get(&m.card_id).cloned().unwrap_or_default(),
            by: match (&m.moved_by_name, m.document_state) {
                (_, Some(state)) => format!("document now {}", state.as_str().replace('_', " ")),
                (Some(name), None) => name.clone(),
                (None, None) => "someone".to_owned(),
            },
            from: m.from_column,
            to: m.to_column,
            over: m.over_limit,
        })
        .collect()
}

async fn board_page(
    signed: Signed,
    id: Uuid,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Kanban board");
    let auth = signed.authorize::<ProductionRead>()?;
    let db = auth.current.db.client();
    let board = boards::find(db, id).await?;
    let paging = PageQuery {
        limit: Some(20),
        after: None,
    };
    let moves = cards::moves(db, id, &MoveFilter::default(), &paging).await?;
    let page = BoardPage {
        layout: Layout {
            title: board.name.clone(),
            ..layout
        },
        moves: move_rows(&board, moves.items),
        board,
        may_write,
        state_options: state_options(),
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The board's page after a write: `done` as the flash, or the board again with the
/// refusal (a 409 or 422 at its status; anything else is an error page).
async fn after_write(request: &HttpRequest, board: Uuid, result: ApiResult<String>) -> PageResult {
    match result {
        Ok(done) => Ok(render::redirect(
            request,
            &format!("/kanban/boards/{board}"),
            Some(Flash::success(done)),
        )),
        Err(error) => {
            let status = error.status_code();
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(request).await?;
            board_page(signed, board, errors, status).await
        }
    }
}

/// `POST /kanban/boards/{id}/columns`: a new column.
pub async fn add_column(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let board = *id;
    let AppForm { signed, form, raw } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let input = NewColumn {
            name: field(&form, "name").to_owned(),
            wip_limit: number_field(&form, "wip_limit")?,
            states: chosen_states(&raw)?,
            position: None,
        };
        let tx = current.db.begin().await?;
        let column = boards::add_column(&tx, &actor, board, input).await?;
        tx.commit().await?;
        Ok(format!("Column {} added.", column.name))
    }
    .await;
    after_write(&request, board, result).await
}

/// `POST /kanban/columns/{id}`: a column's name, WIP limit (blank: none) and states.
pub async fn update_column(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let AppForm { signed, form, raw } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let board = boards::find_column(current.db.client(), *id)
        .await?
        .board_id;
    let result = async {
        let changes = ColumnChanges {
            name: Some(field(&form, "name").to_owned()),
            wip_limit: Some(number_field(&form, "wip_limit")?),
            states: Some(chosen_states(&raw)?),
            position: None,
        };
        let tx = current.db.begin().await?;
        let column = boards::update_column(&tx, &actor, *id, changes).await?;
        tx.commit().await?;
        Ok(format!("Column {} saved.", column.name))
    }
    .await;
    after_write(&request, board, result).await
}

/// `POST /kanban/boards/{id}/cards`: a card for a document typed by its number, or a
/// free card with a title.
pub async fn add_card(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let board = *id;
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let number = field(&form, "number");
        let document = match number {
            "" => None,
            number => Some(documents::by_number(current.db.client(), number).await?),
        };
        let input = NewCard {
            document_type: document.map(|(kind, _)| kind),
            document_id: document.map(|(_, id)| id),
            title: Some(field(&form, "title").to_owned()),
            column_id: uuid_field(&form, "column_id")?,
            position: None,
        };
        let tx = current.db.begin().await?;
        let card = cards::create(&tx, &actor, board, input).await?;
        tx.commit().await?;
        let name = card.document.map_or(card.title, |d| d.number);
        Ok(format!("Card {name} added."))
    }
    .await;
    after_write(&request, board, result).await
}

/// `POST /kanban/cards/{id}/move`: the "Move to…" form (and what drag and drop submits).
pub async fn move_card(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let board = cards::find(current.db.client(), *id).await?.board_id;
    let result = async {
        let to_column_id = uuid_field(&form, "to_column_id")?
            .ok_or_else(|| ApiError::invalid("to_column_id", "choose a column"))?;
        let input = MoveRequest {
            to_column_id,
            position: number_field(&form, "position")?,
        };
        let tx = current.db.begin().await?;
        let moved = cards::move_card(&tx, &actor, *id, input).await?;
        tx.commit().await?;
        Ok(format!("Moved to {}.", moved.to_column))
    }
    .await;
    after_write(&request, board, result).await
}

/// `POST /kanban/cards/{id}/delete`: takes a card off its board.
pub async fn delete_card(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let AppForm { signed, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let board = cards::find(current.db.client(), *id).await?.board_id;
    let result = async {
        let tx = current.db.begin().await?;
        cards::delete(&tx, &actor, *id).await?;
        tx.commit().await?;
        Ok("Card removed.".to_owned())
    }
    .await;
    after_write(&request, board, result).await
}
