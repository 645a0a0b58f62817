// My jobs: rows of unfinished jobs follow their job (one short request per row every few
// seconds, so no connection is held per row). Without this script, reload the page.
(function () {
  "use strict";
  var terminal = { rejected: 1, completed: 1, failed: 1, canceled: 1 };
  function refresh(row) {
    var id = row.getAttribute("data-job-id");
    fetch("/jobs/" + id + "/live", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        if (job.status !== row.getAttribute("data-status")) {
          row.setAttribute("data-status", job.status);
          var badge = row.querySelector("[data-cell=status] .badge");
          badge.textContent = job.status;
          badge.className = "badge badge-" + job.status;
          badge.setAttribute("data-status", job.status);
        }
        if (job.duration_seconds !== null && job.duration_seconds !== undefined) {
          var s = job.duration_seconds;
          row.querySelector("[data-cell=duration]").textContent =
            s < 1 ? Math.round(s * 1000) + " ms" : s < 10 ? s.toFixed(1) + " s" : Math.round(s) + " s";
        }
      })
      .catch(function () { /* try again next round */ });
  }
  function round() {
    var rows = document.querySelectorAll("tr[data-job-id]");
    var pending = 0;
    Array.prototype.forEach.call(rows, function (row) {
      if (!terminal[row.getAttribute("data-status")]) { pending += 1; refresh(row); }
    });
    if (pending) { window.setTimeout(round, 3000); }
  }
  if (window.fetch) { window.setTimeout(round, 3000); }
})();
