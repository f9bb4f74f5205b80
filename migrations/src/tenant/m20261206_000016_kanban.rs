//! Tenant migration: kanban boards (part of production). `kanban_boards`; their ordered
//! `kanban_columns` (a name, an optional WIP limit); `kanban_column_states` (which
//! document states a column stands for, e.g. a manufacturing order's `released`: at most
//! one column per board and state, so a document's cards know where to go);
//! `kanban_cards` (on one column of a board, ordered, linked to a document — a
//! manufacturing order, work order or purchase order, at most once per board — or free
//! with a title); and `kanban_moves`, the append-only record of every move (who or which
//! document state, when, from, to, and whether it went over the column's WIP limit).
//!
//! Documents live in their own tables, so a card's `document_id` has no foreign key: the
//! runtime checks it when the card is made, and documents are never deleted.

use sea_orm_migration::prelude::*;

use crate::sql::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}

const UP: &str = r#"
CREATE TABLE kanban_boards (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    created_by  uuid        NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kanban_columns (
    id         uuid        PRIMARY KEY,
    board_id   uuid        NOT NULL REFERENCES kanban_boards (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- 0, 1, 2... left to right (renumbered on every change, under the board's lock).
    position   integer     NOT NULL CHECK (position >= 0),
    -- At most this many cards (none: no limit). A move a person makes into a full column
    -- is refused; a document's state change still moves its card, recorded as over.
    wip_limit  integer     NULL CHECK (wip_limit BETWEEN 1 AND 1000),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (board_id, name)
);
CREATE INDEX kanban_columns_board_idx ON kanban_columns (board_id, position);

CREATE TABLE kanban_column_states (
    board_id      uuid NOT NULL REFERENCES kanban_boards (id) ON DELETE CASCADE,
    column_id     uuid NOT NULL REFERENCES kanban_columns (id) ON DELETE CASCADE,
    document_type text NOT NULL
                  CHECK (document_type IN ('manufacturing_order', 'work_order', 'purchase_order')),
    state         text NOT NULL CHECK (length(state) BETWEEN 1 AND 40),
    PRIMARY KEY (board_id, document_type, state)
);
CREATE INDEX kanban_column_states_column_idx ON kanban_column_states (column_id);

CREATE TABLE kanban_cards (
    id            uuid        PRIMARY KEY,
    board_id      uuid        NOT NULL REFERENCES kanban_boards (id) ON DELETE CASCADE,
    -- NO ACTION, not RESTRICT: a board's deletion removes its cards and columns together.
    column_id     uuid        NOT NULL REFERENCES kanban_columns (id),
    -- 0, 1, 2... top to bottom within the column.
    position      integer     NOT NULL CHECK (position >= 0),
    document_type text        NULL
                  CHECK (document_type IN ('manufacturing_order', 'work_order', 'purchase_order')),
    document_id   uuid        NULL,
    title         text        NOT NULL DEFAULT '' CHECK (length(title) <= 200),
    created_by    uuid        NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((document_type IS NULL) = (document_id IS NULL)),
    CHECK (document_type IS NOT NULL OR length(title) > 0),
    UNIQUE (board_id, document_type, document_id)
);
CREATE INDEX kanban_cards_column_idx ON kanban_cards (column_id, position);
CREATE INDEX kanban_cards_document_idx ON kanban_cards (document_type, document_id);

CREATE TABLE kanban_moves (
    id             uuid        PRIMARY KEY,
    board_id       uuid        NOT NULL REFERENCES kanban_boards (id) ON DELETE CASCADE,
    card_id        uuid        NOT NULL REFERENCES kanban_cards (id) ON DELETE CASCADE,
    from_column_id uuid        NULL REFERENCES kanban_columns (id) ON DELETE SET NULL,
    to_column_id   uuid        NULL REFERENCES kanban_columns (id) ON DELETE SET NULL,
    -- The columns' names when the card moved (a column may be renamed or removed later).
    from_column    text        NOT NULL,
    to_column      text        NOT NULL,
    position       integer     NOT NULL CHECK (position >= 0),
    -- `user`: a person moved it; `document`: its document changed state.
    cause          text        NOT NULL CHECK (cause IN ('user', 'document')),
    document_state text        NULL,
    -- Cards in the target column once moved, its limit then, and whether that was over it.
    cards_after    integer     NOT NULL CHECK (cards_after >= 1),
    wip_limit      integer     NULL,
    over_limit     boolean     NOT NULL DEFAULT false,
    moved_by       uuid        NULL,
    moved_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kanban_moves_board_idx ON kanban_moves (board_id, id);
CREATE INDEX kanban_moves_card_idx ON kanban_moves (card_id, id);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS kanban_moves;
DROP TABLE IF EXISTS kanban_cards;
DROP TABLE IF EXISTS kanban_column_states;
DROP TABLE IF EXISTS kanban_columns;
DROP TABLE IF EXISTS kanban_boards;
"#;
