// fleet dashboard: live refresh by polling, paused while the tab is hidden.
// An element with data-live="SECONDS" is re-fetched from the same URL every SECONDS and
// replaced in place; nothing is fetched while the tab is hidden or while a control inside
// the region has the focus (so a form being filled in is never swapped out).
(function () {
  "use strict";
  function region() { return document.querySelector("[data-live]"); }
  var live = region();
  if (!live) { return; }
  var every = Math.max(1, parseFloat(live.getAttribute("data-live")) || 5) * 1000;
  var timer = null;
  var busy = false;

  function tick() {
    var current = region();
    if (!current || document.hidden || busy) { return; }
    if (current.contains(document.activeElement) && document.activeElement !== document.body) {
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Fleet-Live": "1" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("[data-live]");
        if (fresh) {
          current.innerHTML = fresh.innerHTML;
        } else {
          // The page stopped being live (the run finished, the batch is done): show its
          // final form once, and poll no more.
          stop();
          window.location.reload();
        }
      })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { busy = false; });
  }
  function start() { if (timer === null) { timer = window.setInterval(tick, every); } }
  function stop() { if (timer !== null) { window.clearInterval(timer); timer = null; } }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); } else { tick(); start(); }
  });
  window.fleetPolling = function () { return timer !== null; };  // for the browser test
  if (!document.hidden) { start(); }
})();
