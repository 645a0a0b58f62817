// Live progress for the job page: long-poll the job's JSON; progress updates in place, a new
// status reloads the page (times, reason, files and the cancel button are server-rendered).
// Without this script the page refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-live-url");
  var wait = root.getAttribute("data-live-wait") || "20";
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
  }

  // The first look does not wait: the job may have moved since the page was rendered.
  function poll(delay, seconds) {
    window.setTimeout(function () {
      fetch(url + "?wait=" + seconds, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (job) {
          if (job.status !== status) {
            window.location.reload();
            return;
          }
          show(job);
          poll(0, wait);
        })
        .catch(function () { poll(3000, wait); });
    }, delay);
  }

  poll(0, "0");
})();
