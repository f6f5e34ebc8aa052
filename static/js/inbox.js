// The approval inbox's keyboard: j / k move, a approve, e edit, r reject, x select, u undo the last review.
// In the editor Ctrl+Enter saves and approves; in the reject form Enter rejects; Esc cancels either.
// After an action the next draft becomes the current one, so a rep can clear the inbox without the mouse.
(function () {
  "use strict";

  var current = null;
  var currentIndex = 0; // where the current card was: the next one slides into that place
  var currentId = null;

  function cards() {
    return Array.prototype.slice.call(document.querySelectorAll("#inbox-list .draft:not(.is-done):not([data-done])"));
  }

  function setCurrent(card, focus) {
    if (current && current !== card) { current.removeAttribute("aria-current"); }
    current = card || null;
    if (!current) { return; }
    currentIndex = Math.max(cards().indexOf(current), 0);
    currentId = current.id;
    // An attribute htmx leaves alone: it settles (and so resets) a swapped element's class.
    current.setAttribute("aria-current", "true");
    if (focus !== false) {
      current.focus({ preventScroll: true });
      current.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  function move(step) {
    var list = cards();
    if (!list.length) { return; }
    var index = list.indexOf(current);
    // The current card may have just gone (approved): count from the one now in its place.
    if (index < 0) { index = Math.min(currentIndex, list.length - 1); }
    index = Math.min(Math.max(index + step, 0), list.length - 1);
    setCurrent(list[index]);
  }

  function isTyping(el) {
    if (!el) { return false; }
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") { return true; }
    return el.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(el.type);
  }

  function press(selector) {
    if (!current || !document.body.contains(current)) { move(0); }
    var target = current && current.querySelector(selector);
    if (target) { target.click(); }
  }

  function updateBulk() {
    var count = document.querySelectorAll('#inbox-list input[name="message_ids"]:checked').length;
    var label = document.getElementById("bulk-count");
    var button = document.getElementById("bulk-approve");
    // Only on a change: this runs from the DOM observer, and writing the same text is a mutation too.
    if (label && label.textContent !== String(count)) { label.textContent = String(count); }
    if (button && button.disabled !== (count === 0)) { button.disabled = count === 0; }
  }

  function submit(form) {
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("inbox-list")) { return; }
    var target = event.target;
    var form = target.closest && target.closest("[data-edit-form], [data-reject-form]");
    if (form) {
      if (event.key === "Escape") {
        event.preventDefault();
        var cancel = form.querySelector("[data-cancel]");
        if (cancel) { cancel.click(); }
        return;
      }
      var submitKey = event.key === "Enter" && (
        event.ctrlKey || event.metaKey ||
        (form.hasAttribute("data-reject-form") && target.tagName !== "TEXTAREA" && target.tagName !== "BUTTON" && target.tagName !== "A")
      );
      if (submitKey) {
        event.preventDefault();
        submit(form);
      }
      return;
    }
    if (isTyping(target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    switch (event.key) {
      case "j": event.preventDefault(); move(1); break;
      case "k": event.preventDefault(); move(-1); break;
      case "a": event.preventDefault(); press('[data-key="a"]'); break;
      case "e": event.preventDefault(); press('[data-key="e"]'); break;
      case "r": event.preventDefault(); press('[data-key="r"]'); break;
      case "u": {
        // The most recent review that can still be taken back.
        var undos = document.querySelectorAll("#inbox-list [data-undo]");
        if (undos.length) { event.preventDefault(); latestUndo(undos).click(); }
        break;
      }
      case "x": {
        event.preventDefault();
        if (!current) { move(0); }
        var box = current && current.querySelector('input[name="message_ids"]');
        if (box) { box.checked = !box.checked; updateBulk(); }
        break;
      }
      default: break;
    }
  });

  // A click anywhere on a card makes it the current one.
  document.addEventListener("mousedown", function (event) {
    var card = event.target.closest && event.target.closest("#inbox-list .draft:not(.is-done):not([data-done])");
    if (card) { setCurrent(card, false); }
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest && event.target.closest("[data-dismiss]");
    if (!dismiss) { return; }
    var card = dismiss.closest(".draft");
    var index = cards().length;
    if (card) {
      var all = Array.prototype.slice.call(document.querySelectorAll("#inbox-list .draft"));
      index = all.indexOf(card);
      card.remove();
    }
    var list = cards();
    setCurrent(list[Math.min(index, list.length - 1)]);
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches('input[name="message_ids"], [data-select-all="message_ids"]')) {
      // app.js ticks the rows for "select all" in its own listener, which ran first.
      updateBulk();
    }
  });

  // Only a card being approved or rejected slides away (a swap into the editor should not flicker).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var card = event.detail.elt.closest && event.detail.elt.closest("#inbox-list .draft");
    if (card && event.detail.requestConfig && event.detail.requestConfig.verb === "post") {
      card.classList.add("is-leaving");
    }
  });

  // Whenever htmx changes the list, keep a current card: the same draft in its new form (editor, reject
  // form, back to view), else the one that slid into the place of the draft that went. A DOM observer
  // rather than htmx events, because the events of a request whose card was removed fire on a detached node.
  function reconcile() {
    updateBulk();
    armUndos();
    if (current && document.body.contains(current)) { return; }
    var same = currentId && document.getElementById(currentId);
    if (same && !same.classList.contains("is-done") && !same.hasAttribute("data-done")) {
      setCurrent(same);
      var field = same.querySelector("textarea, input[name=action]:checked");
      if (field) {
        field.focus();
        if (field.tagName === "TEXTAREA") { field.setSelectionRange(field.value.length, field.value.length); }
      }
      return;
    }
    var list = cards();
    current = null;
    if (list.length) { setCurrent(list[Math.min(currentIndex, list.length - 1)]); }
  }

  // Each result's Undo lives as long as the server's undo window; then it goes (a late one is refused anyway).
  var armedAt = typeof WeakMap === "function" ? new WeakMap() : null;
  function latestUndo(buttons) {
    var latest = buttons[0];
    Array.prototype.forEach.call(buttons, function (button) {
      if (armedAt && (armedAt.get(button) || 0) >= (armedAt.get(latest) || 0)) { latest = button; }
    });
    return latest;
  }
  function armUndos() {
    document.querySelectorAll("#inbox-list [data-undo]:not([data-armed])").forEach(function (button) {
      button.setAttribute("data-armed", "");
      if (armedAt) { armedAt.set(button, Date.now()); }
      var seconds = parseInt(button.getAttribute("data-undo-seconds"), 10) || 0;
      window.setTimeout(function () {
        var form = button.closest("[data-undo-form]");
        if (form && document.body.contains(form)) { form.remove(); }
      }, seconds * 1000);
    });
  }
  document.addEventListener("htmx:load", armUndos);

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("inbox-list")) { return; }
    setCurrent(cards()[0], false);
    updateBulk();
    new MutationObserver(reconcile).observe(document.querySelector(".content") || document.body, {
      childList: true,
      subtree: true
    });
  });
})();
