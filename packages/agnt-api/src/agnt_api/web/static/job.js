// Live progress for the job page: long-poll the job's JSON and update the page in place.
// Without this script the page refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root || !window.fetch) { return; }
  var TERMINAL = ["completed", "failed", "rejected", "canceled"];
  var url = root.getAttribute("data-live-url");
  var badge = root.querySelector("[data-job-status] .badge");
  var bar = root.querySelector("[data-job-progress]");
  var fill = bar && bar.querySelector(".progress-fill");
  var text = root.querySelector("[data-job-progress-text]");
  var status = root.getAttribute("data-status");

  function show(job) {
    if (bar) { bar.setAttribute("aria-valuenow", String(job.progress)); }
    if (fill) {
      fill.style.width = job.progress + "%";
      fill.className = "progress-fill progress-" + job.status;
    }
    if (text) { text.textContent = job.progress + "%"; }
    if (badge && job.status !== status) {
      badge.textContent = job.status;
      badge.className = "badge badge-" + job.status;
      badge.setAttribute("data-status", job.status);
    }
    status = job.status;
  }

  function poll(delay) {
    window.setTimeout(function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (job) {
          show(job);
          if (TERMINAL.indexOf(job.status) >= 0) {
            // Files, reason and times are rendered by the server: load the final page.
            window.location.reload();
            return;
          }
          poll(0);
        })
        .catch(function () { poll(3000); });
    }, delay);
  }

  poll(0);
})();
