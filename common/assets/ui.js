// The UI kit's behaviour, loaded by every page (no inline script: the CSP forbids it).
// Everything here is an enhancement: every form and link works without it.
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  // htmx requests carry the session's CSRF token as a header.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });
  // A confirmation form loaded into the page's <dialog> opens it as a modal.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialog" && !target.open) {
      target.showModal();
      var first = target.querySelector("textarea, input:not([type=hidden]), select, button");
      if (first) { first.focus(); }
    }
  });
  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close-dialog]");
    if (close) {
      event.preventDefault();
      var dialog = close.closest("dialog");
      if (dialog) { dialog.close(); dialog.innerHTML = ""; }
    }
  });
  // A form submitted once stays submitted: its buttons are disabled until the answer.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("data-submitting")) { event.preventDefault(); return; }
    form.setAttribute("data-submitting", "");
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (form) {
      form.removeAttribute("data-submitting");
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    }
  });
  // Filter selects submit their form when changed.
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]") && event.target.form) {
      event.target.form.requestSubmit();
    }
  });
})();
