//! Kanban boards (`/api/v1/kanban/...`, plan module `production`): thin handlers over
//! `crate::erp::kanban`. Reads need `production.read`; changing boards, columns and cards
//! and moving cards need `production.write`. Each write is one transaction with its audit
//! entry. A move into a column at its WIP limit is 409 `wip_limit_reached`.

use crate::auth::Authorized;
use crate::auth::perm::{ProductionRead, ProductionWrite};
use crate::erp::kanban::boards::{
    self, Board, BoardChanges, BoardSummary, Column, ColumnChanges, NewBoard, NewColumn,
};
use crate::erp::kanban::cards::{self, Card, Move, MoveFilter, MoveRequest, NewCard};
use crate::erp::masters::{Page, PageQuery};
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use uuid::Uuid;

/// Runs one write in a transaction of the user's company.
macro_rules! in_transaction {
    ($auth:expr, |$tx:ident, $actor:ident| $body:expr) => {{
        let mut current = $auth.current;
        let $actor = current.actor();
        let $tx = current.db.begin().await?;
        let result = $body.await?;
        $tx.commit().await?;
        result
    }};
}

#[utoipa::path(get, path = "/api/v1/kanban/boards", tag = "kanban", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<BoardSummary>, description = "oldest first, with their counts"),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn list_boards(
    auth: Authorized<ProductionRead>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<BoardSummary>>> {
    Ok(web::Json(
        boards::list(auth.current.db.client(), &paging).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/kanban/boards", tag = "kanban", security(("bearer" = [])),
    request_body = NewBoard,
    responses((status = 201, body = Board),
              (status = 409, description = "`board_name_taken`, `column_name_taken`, `state_already_mapped` (two columns for one document state)"),
              (status = 422, description = "validation_failed: a name empty or too long, a WIP limit outside 1 to 1000, \
                a state the document type never has, more than 20 columns")))]
pub async fn create_board(
    auth: Authorized<ProductionWrite>,
    body: Body<NewBoard>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let board = in_transaction!(auth, |tx, actor| boards::create(&tx, &actor, body));
    Ok(HttpResponse::Created().json(board))
}

#[utoipa::path(get, path = "/api/v1/kanban/boards/{id}", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Board, description = "its columns left to right, each with its cards top to bottom"),
              (status = 404, description = "`board_not_found`")))]
pub async fn show_board(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Board>> {
    Ok(web::Json(
        boards::find(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(patch, path = "/api/v1/kanban/boards/{id}", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = BoardChanges,
    responses((status = 200, body = Board),
              (status = 404, description = "`board_not_found`"),
              (status = 409, description = "`board_name_taken`"),
              (status = 422, description = "validation_failed")))]
pub async fn update_board(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<BoardChanges>,
) -> ApiResult<web::Json<Board>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        boards::update(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(delete, path = "/api/v1/kanban/boards/{id}", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "removed with its columns, cards and moves"),
              (status = 404, description = "`board_not_found`")))]
pub async fn delete_board(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    in_transaction!(auth, |tx, actor| boards::delete(&tx, &actor, *id));
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/kanban/boards/{id}/columns", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewColumn,
    responses((status = 201, body = Column),
              (status = 404, description = "`board_not_found`"),
              (status = 409, description = "`column_name_taken`, `state_already_mapped`, `too_many_columns`"),
              (status = 422, description = "validation_failed")))]
pub async fn add_column(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<NewColumn>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let column = in_transaction!(auth, |tx, actor| boards::add_column(&tx, &actor, *id, body));
    Ok(HttpResponse::Created().json(column))
}

#[utoipa::path(patch, path = "/api/v1/kanban/columns/{id}", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ColumnChanges,
    responses((status = 200, body = Column),
              (status = 404, description = "`column_not_found`"),
              (status = 409, description = "`column_name_taken`, `state_already_mapped`"),
              (status = 422, description = "validation_failed")))]
pub async fn update_column(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<ColumnChanges>,
) -> ApiResult<web::Json<Column>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        boards::update_column(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(delete, path = "/api/v1/kanban/columns/{id}", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "removed"),
              (status = 404, description = "`column_not_found`"),
              (status = 409, description = "`column_not_empty`: move its cards first")))]
pub async fn delete_column(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    in_transaction!(auth, |tx, actor| boards::delete_column(&tx, &actor, *id));
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/kanban/boards/{id}/cards", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewCard,
    responses((status = 201, body = Card),
              (status = 404, description = "`board_not_found`, `column_not_found`, `document_not_found`"),
              (status = 409, description = "`wip_limit_reached` (the column holds its limit: the count and limit are named), \
                `card_exists` (the document has a card on this board), `board_without_columns`"),
              (status = 422, description = "validation_failed: a free card without a title, a document type without its id")))]
pub async fn create_card(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<NewCard>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let card = in_transaction!(auth, |tx, actor| cards::create(&tx, &actor, *id, body));
    Ok(HttpResponse::Created().json(card))
}

#[utoipa::path(get, path = "/api/v1/kanban/cards/{id}", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Card), (status = 404, description = "`card_not_found`")))]
pub async fn show_card(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Card>> {
    Ok(web::Json(cards::find(auth.current.db.client(), *id).await?))
}

#[utoipa::path(delete, path = "/api/v1/kanban/cards/{id}", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "removed with its moves"),
              (status = 404, description = "`card_not_found`")))]
pub async fn delete_card(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    in_transaction!(auth, |tx, actor| cards::delete(&tx, &actor, *id));
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/kanban/cards/{id}/move", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = MoveRequest,
    responses((status = 200, body = Move, description = "moved; the move as recorded"),
              (status = 404, description = "`card_not_found`, `column_not_found` (not a column of the card's board)"),
              (status = 409, description = "`wip_limit_reached`: the column holds its WIP limit (the count and limit are named)"),
              (status = 422, description = "validation_failed: a negative position")))]
pub async fn move_card(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<MoveRequest>,
) -> ApiResult<web::Json<Move>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        cards::move_card(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(get, path = "/api/v1/kanban/boards/{id}/moves", tag = "kanban", security(("bearer" = [])),
    params(("id" = Uuid, Path), MoveFilter, PageQuery),
    responses((status = 200, body = Page<Move>, description = "newest first: who or which document state moved each card, when, from, to"),
              (status = 404, description = "`board_not_found`"),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn moves(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
    filter: web::Query<MoveFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<Move>>> {
    Ok(web::Json(
        cards::moves(auth.current.db.client(), *id, &filter, &paging).await?,
    ))
}
