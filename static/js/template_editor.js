// The template editor: insert a field at the cursor, and choose the lead the preview renders for.
(function () {
  "use strict";

  var lastTarget = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("[data-field-target]")) { lastTarget = event.target; }
  });

  // A Jinja string literal: the fallback as typed, quotes and backslashes escaped.
  function literal(text) {
    return '"' + text.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-insert-field]")) { return; }
    var picker = event.target.closest("[data-field-picker]");
    var field = picker.querySelector("[data-field-choice]").value;
    var fallback = picker.querySelector("[data-field-fallback]").value.trim();
    var text = "{{ " + field + (fallback ? " or " + literal(fallback) : "") + " }}";
    var target = lastTarget || document.querySelector("textarea[data-field-target]");
    var start = target.selectionStart, end = target.selectionEnd;
    target.value = target.value.slice(0, start) + text + target.value.slice(end);
    target.focus();
    target.setSelectionRange(start + text.length, start + text.length);
    // As if typed: the live preview follows.
    target.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // "Render for": a chosen lead from the search results becomes the preview's (and the test's) lead.
  document.addEventListener("click", function (event) {
    var choice = event.target.closest("[data-lead-id]");
    if (!choice) { return; }
    var input = document.getElementById("preview-lead-id");
    input.value = choice.getAttribute("data-lead-id");
    document.querySelector("[data-render-for]").textContent = choice.getAttribute("data-lead-label");
    choice.closest("[data-lead-choices]").innerHTML = "";
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
})();
