// The "Replies to sort" keyboard: j / k move; p positive, n not interested, u opt-out, o out of office,
// x other (each key is written on its button as data-key). A decision leaves its result where the card was
// and the next reply becomes the current one, so a rep can clear the queue without the mouse.
(function () {
  "use strict";

  var current = null;
  var currentIndex = 0; // where the current card was: the next one is counted from that place

  function cards() {
    return Array.prototype.slice.call(document.querySelectorAll("#replies-list .reply-card:not([data-done])"));
  }

  function setCurrent(card, focus) {
    if (current && current !== card) { current.removeAttribute("aria-current"); }
    current = card || null;
    if (!current) { return; }
    currentIndex = Math.max(cards().indexOf(current), 0);
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
    if (index < 0) { index = Math.min(currentIndex, list.length - 1); }
    index = Math.min(Math.max(index + step, 0), list.length - 1);
    setCurrent(list[index]);
  }

  function isTyping(el) {
    if (!el) { return false; }
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") { return true; }
    return el.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(el.type);
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("replies-list")) { return; }
    if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "j") { event.preventDefault(); move(1); return; }
    if (event.key === "k") { event.preventDefault(); move(-1); return; }
    if (!current || !document.body.contains(current)) { move(0); }
    var button = current && current.querySelector('button[data-key="' + event.key + '"]');
    if (button && event.key.length === 1) {
      event.preventDefault();
      button.click();
    }
  });

  document.addEventListener("mousedown", function (event) {
    var card = event.target.closest && event.target.closest("#replies-list .reply-card:not([data-done])");
    if (card) { setCurrent(card, false); }
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest && event.target.closest("#replies-list [data-dismiss]");
    if (!dismiss) { return; }
    var card = dismiss.closest(".reply-card");
    if (card) { card.remove(); }
    if (!current || !document.body.contains(current)) { move(0); }
  });

  // A card being sorted slides away; its result takes its place.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var card = event.detail.elt.closest && event.detail.elt.closest("#replies-list .reply-card");
    if (card) { card.classList.add("is-leaving"); }
  });

  // After a swap the current card is gone (now a result): the next reply in its place becomes current,
  // and the result stays in view beside it.
  function reconcile() {
    // data-done, not the class: htmx settles a swapped element's class a moment after it lands.
    if (current && document.body.contains(current) && !current.hasAttribute("data-done")) { return; }
    var list = cards();
    current = null;
    if (list.length) { setCurrent(list[Math.min(currentIndex, list.length - 1)]); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("replies-list");
    if (!list) { return; }
    setCurrent(cards()[0], false);
    new MutationObserver(reconcile).observe(list.parentNode, { childList: true, subtree: true });
  });
})();
