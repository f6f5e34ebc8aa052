// The sequence builder: drag-to-reorder steps (SortableJS), and the step form's channel-specific fields.
// Loaded only on the builder page. No inline scripts: the CSP allows files from 'self' only.
(function () {
  "use strict";

  function stepIds(list) {
    return Array.prototype.map.call(list.querySelectorAll(":scope > [data-step-id]"), function (el) {
      return el.getAttribute("data-step-id");
    });
  }

  function initSortable(root) {
    var lists = root.matches && root.matches("[data-sortable-steps]") ? [root] : [];
    lists = lists.concat(Array.prototype.slice.call(root.querySelectorAll("[data-sortable-steps]")));
    lists.forEach(function (list) {
      if (list.sortableReady || !window.Sortable) { return; }
      list.sortableReady = true;
      var before = stepIds(list);
      window.Sortable.create(list, {
        handle: ".drag-handle",
        draggable: "[data-step-id]",
        animation: 150,
        ghostClass: "step-ghost",
        forceFallback: true, // mouse events rather than native drag: steadier across browsers
        onStart: function () { before = stepIds(list); },
        onEnd: function () {
          var after = stepIds(list);
          if (after.join() === before.join()) { return; }
          // Save the new order at once; the answer is the re-rendered panel (numbers, summary).
          window.htmx.ajax("POST", list.getAttribute("data-reorder-url"), {
            source: list, target: "#steps-panel", swap: "outerHTML", values: { order: after.join(",") }
          });
        }
      });
    });
  }

  // Show only the fields of the chosen channel (email: template + approval; task / call: instructions).
  function syncChannel(form) {
    var select = form.querySelector("[data-channel-select]");
    if (!select) { return; }
    form.querySelectorAll("[data-for-channel]").forEach(function (block) {
      var channels = block.getAttribute("data-for-channel").split(" ");
      block.hidden = channels.indexOf(select.value) === -1;
    });
  }

  function init(root) {
    initSortable(root);
    var forms = root.matches && root.matches(".step-form") ? [root] : [];
    forms.concat(Array.prototype.slice.call(root.querySelectorAll(".step-form"))).forEach(syncChannel);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-channel-select]")) { syncChannel(event.target.closest("form")); }
  });

  // <button data-dismiss="#id"> removes that element (cancelling the new-step form).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (button) {
      var target = document.querySelector(button.getAttribute("data-dismiss"));
      if (target) { target.remove(); }
    }
  });

  // SortableJS leaves style attributes on the cards it animated. htmx's swap copies an old element's
  // attributes onto its replacement, and re-applying a style attribute is refused by our CSP: drop them first.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "steps-panel") {
      target.querySelectorAll("[style]").forEach(function (el) { el.removeAttribute("style"); });
    }
  });

  if (window.htmx) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
