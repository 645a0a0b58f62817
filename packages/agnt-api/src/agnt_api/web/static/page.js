// Small helps on every page; each page works without them.
// - Copy buttons ([data-copy]: the text of the element it names, or data-copy-text).
// - Relative times (<time data-relative>) stay current; the exact UTC time is the title.
// - An error summary gets the focus even where autofocus did not move it.
(function () {
  "use strict";
  function copyText(button) {
    var text = button.getAttribute("data-copy-text");
    if (text === null) {
      var target = document.querySelector(button.getAttribute("data-copy"));
      text = target ? target.textContent : "";
    }
    var label = button.textContent;
    function done(message) {
      button.textContent = message;
      window.setTimeout(function () { button.textContent = label; }, 1500);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done("Copied"); },
        function () { done("Copy failed"); });
    } else {
      done("Copy failed");
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-copy], [data-copy-text]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copyText(button); });
  });

  function ago(seconds) {
    if (seconds <= -5) { return "in " + ago(-seconds).replace(/ ago$/, ""); }
    if (seconds < 5) { return "just now"; }
    if (seconds < 60) { return Math.floor(seconds) + " s ago"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " min ago"; }
    if (seconds < 86400) { return Math.floor(seconds / 3600) + " h ago"; }
    var days = Math.floor(seconds / 86400);
    return days + (days > 1 ? " days ago" : " day ago");
  }
  function refreshTimes() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("time[data-relative]"), function (el) {
      var when = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(when) && Math.abs(now - when) < 30 * 86400000) { el.textContent = ago((now - when) / 1000); }
    });
  }
  window.agntAgo = ago;
  window.setInterval(refreshTimes, 15000);

  // The API panel follows the order form: the server fills the snippets in (one place).
  var panel = document.querySelector("[data-snippets-url]");
  var orderForm = document.getElementById("order-form");
  if (panel && orderForm && window.fetch && window.FormData) {
    var pendingSnippets = null;
    var refreshSnippets = function () {
      fetch(panel.getAttribute("data-snippets-url"), {
        method: "POST", body: new FormData(orderForm), credentials: "same-origin"
      }).then(function (response) { return response.ok ? response.json() : null; })
        .then(function (codes) {
          if (!codes) { return; }
          Object.keys(codes).forEach(function (key) {
            var code = document.querySelector("#snippet-" + key + " code");
            if (code) { code.textContent = codes[key]; }
          });
        }).catch(function () { /* the snippets keep their last values */ });
    };
    orderForm.addEventListener("input", function () {
      if (pendingSnippets) { window.clearTimeout(pendingSnippets); }
      pendingSnippets = window.setTimeout(refreshSnippets, 300);
    });
  }

  var summary = document.querySelector("[data-error-summary]");
  if (summary && document.activeElement !== summary) { summary.focus(); }
})();
