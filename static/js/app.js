// Nurture's small amount of page behaviour. No inline scripts anywhere: the CSP allows only files.
(function () {
  "use strict";

  // Confirm before a destructive action: <button data-confirm="Delete this step?">.
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // A header checkbox that selects every row checkbox with the given name: <input data-select-all="lead_ids">.
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all) { return; }
    var name = all.getAttribute("data-select-all");
    document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });

  // Auto-submit filter forms when a select changes: <form data-autosubmit>.
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.matches("select, input[type=checkbox]")) {
      if (window.htmx) { window.htmx.trigger(form, "submit"); } else { form.submit(); }
    }
  });

  // The sidebar's menu button on small screens: <button data-menu-toggle aria-controls=… aria-expanded>.
  // Without JavaScript the menu stays open (CSS shows it unless the shell is marked menu-closed).
  function setMenu(button, open) {
    var shell = button.closest(".shell");
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (shell) { shell.classList.toggle("menu-closed", !open); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-menu-toggle]");
    if (button) { setMenu(button, button.getAttribute("aria-expanded") !== "true"); }
  });
  document.addEventListener("keydown", function (event) {
    var button = document.querySelector("[data-menu-toggle][aria-expanded=true]");
    if (event.key === "Escape" && button) { setMenu(button, false); button.focus(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-menu-toggle]");
    if (button) { setMenu(button, false); }
    labelCells(document);
  });

  // Tables reflow into cards on small screens (app.css): each cell is labelled with its column's heading
  // (data-label), read from the table's header, unless the template already set one.
  function labelCells(root) {
    root.querySelectorAll("table").forEach(function (table) {
      var heads = table.querySelectorAll("thead tr:last-child th");
      if (!heads.length) { return; }
      var labels = Array.prototype.map.call(heads, function (th) { return th.textContent.trim(); });
      table.classList.add("reflow");
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.children, function (cell) {
          if (!cell.hasAttribute("data-label") && labels[column]) { cell.setAttribute("data-label", labels[column]); }
          column += cell.colSpan || 1;
        });
      });
    });
  }
  document.addEventListener("htmx:load", function (event) {
    var table = event.target.closest && event.target.closest("table");
    labelCells(table ? table.parentNode : event.target);
  });
})();
