// Kanban boards: drag a card onto another column (or another place in its own) with a
// mouse, pen or finger. A drop only fills in the card's own "Move to…" form (column and
// position) and submits it, so there is one way a move reaches the server, and the board
// works the same without this script or a mouse (the form is reachable by keyboard).
(function () {
  "use strict";
  var board = document.querySelector("[data-kanban]");
  if (!board) { return; }
  var drag = null; // { card, x, y, started }
  var THRESHOLD = 6; // pixels before a press becomes a drag (a click stays a click)

  function columnAt(x, y) {
    var hit = document.elementFromPoint(x, y);
    return hit ? hit.closest("[data-column]") : null;
  }

  // Where in `column` a card dropped at height `y` goes: after every other card whose
  // middle is above it.
  function positionIn(column, y, card) {
    var index = 0;
    column.querySelectorAll("[data-card]").forEach(function (other) {
      if (other === card) { return; }
      var box = other.getBoundingClientRect();
      if (y > box.top + box.height / 2) { index += 1; }
    });
    return index;
  }

  function mark(column) {
    board.querySelectorAll(".kanban-target").forEach(function (c) {
      if (c !== column) { c.classList.remove("kanban-target"); }
    });
    if (column) { column.classList.add("kanban-target"); }
  }

  function reset() {
    if (drag && drag.card) {
      drag.card.classList.remove("kanban-dragging");
      drag.card.style.transform = "";
    }
    document.body.classList.remove("kanban-drag-active");
    mark(null);
    drag = null;
  }

  board.addEventListener("pointerdown", function (event) {
    var card = event.target.closest("[data-card][data-draggable]");
    if (!card || event.button !== 0) { return; }
    if (event.target.closest("a, button, select, input, label, textarea")) { return; }
    drag = { card: card, x: event.clientX, y: event.clientY, started: false };
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    var dx = event.clientX - drag.x;
    var dy = event.clientY - drag.y;
    if (!drag.started) {
      if (Math.abs(dx) + Math.abs(dy) < THRESHOLD) { return; }
      drag.started = true;
      drag.card.classList.add("kanban-dragging");
      document.body.classList.add("kanban-drag-active");
    }
    event.preventDefault();
    // Set through the CSSOM, which the CSP allows (inline style attributes it does not).
    drag.card.style.transform = "translate(" + dx + "px, " + dy + "px)";
    mark(columnAt(event.clientX, event.clientY));
  });

  document.addEventListener("pointerup", function (event) {
    if (!drag) { return; }
    var card = drag.card;
    var started = drag.started;
    reset();
    if (!started) { return; }
    var column = columnAt(event.clientX, event.clientY);
    var form = card.querySelector("form[data-move-form]");
    if (!column || !form) { return; }
    form.elements.to_column_id.value = column.getAttribute("data-column");
    form.elements.position.value = String(positionIn(column, event.clientY, card));
    form.requestSubmit();
  });

  document.addEventListener("pointercancel", reset);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { reset(); }
  });
})();
