// The job page follows the job's event stream (Server-Sent Events, signed in by the session):
// progress and status update in place, each event joins the list, log lines fill the panel.
// A terminal event reloads the page once (files and times are server-rendered). When the
// session ends or the stream cannot be reached, the page says so instead of "live".
// Without this script the page refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) { return; }
  var eventsUrl = root.getAttribute("data-events-url");
  var liveUrl = root.getAttribute("data-live-url");
  var signinUrl = root.getAttribute("data-signin-url");
  var bar = root.querySelector("[data-job-progress]");
  var fill = bar && bar.querySelector(".progress-fill");
  var text = root.querySelector("[data-job-progress-text]");
  var badge = root.querySelector("[data-job-status] .badge");
  var state = root.querySelector("[data-live-state]");
  var list = root.querySelector("[data-job-events]");
  var logs = root.querySelector("[data-job-logs]");
  var status = root.getAttribute("data-status");
  var terminal = { rejected: 1, completed: 1, failed: 1, canceled: 1 };
  var renderedTerminal = Object.prototype.hasOwnProperty.call(terminal, status);
  var sawLog = false;
  var troubleTimer = null;

  function say(message, link) {
    if (!state) { return; }
    state.textContent = "· " + message;
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      state.appendChild(document.createTextNode(" "));
      state.appendChild(a);
    }
  }

  function showProgress(value, jobStatus) {
    if (bar) { bar.setAttribute("aria-valuenow", String(value)); }
    if (fill) {
      fill.style.width = value + "%";
      if (jobStatus) { fill.className = "progress-fill progress-" + jobStatus; }
    }
    if (text) { text.textContent = value + "%"; }
  }

  function showStatus(jobStatus) {
    if (badge) {
      badge.textContent = jobStatus;
      badge.className = "badge badge-" + jobStatus;
      badge.setAttribute("data-status", jobStatus);
    }
    if (fill) { fill.className = "progress-fill progress-" + jobStatus; }
  }

  function addEvent(event) {
    if (!list) { return; }
    if (event.seq === 1 || list.getAttribute("data-started") !== "1") {
      list.textContent = "";
      list.setAttribute("data-started", "1");
    }
    var item = document.createElement("li");
    var when = new Date(event.created_at);
    var detail = event.kind;
    if (event.kind === "progress") { detail += " " + event.data.progress + "%"; }
    if (event.data && event.data.reason) { detail += ": " + event.data.reason; }
    if (event.kind === "log") {
      detail += event.data.truncated ? " (output past the size limit was dropped)"
        : " (" + event.data.lines.length + " line" + (event.data.lines.length === 1 ? "" : "s") + ")";
    }
    item.textContent = when.toLocaleTimeString() + " · " + detail;
    list.appendChild(item);
  }

  function addLog(event) {
    if (!logs) { return; }
    if (!sawLog) { logs.textContent = ""; sawLog = true; }
    var lines = event.data.truncated ? ["[output past the size limit was dropped]"]
      : event.data.lines.map(function (line) { return line.text; });
    logs.textContent += lines.join("\n") + "\n";
    logs.scrollTop = logs.scrollHeight;
  }

  function handle(message) {
    var event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    addEvent(event);
    if (event.kind === "log") { addLog(event); return; }
    if (event.kind === "progress") { showProgress(event.data.progress); return; }
    if (event.data && event.data.status) {
      showStatus(event.data.status);
      if (event.data.status === "completed") { showProgress(100, "completed"); }
      if (terminal[event.data.status] && !renderedTerminal) {
        // Files, times and the missing cancel button are server-rendered: reload once.
        renderedTerminal = true;
        window.location.reload();
      }
    }
  }

  // Why the stream closed: a 401/403 (or a redirect to sign-in) means the session ended.
  function explainClosed() {
    if (!window.fetch) { say("live updates stopped; reload the page"); return; }
    fetch(liveUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.type === "opaqueredirect") {
          say("your session ended; updates stopped.", { href: signinUrl, text: "Sign in again" });
        } else if (response.ok) {
          say("live updates stopped; reload the page");
        } else {
          say("the server answered " + response.status + "; updates stopped");
        }
      })
      .catch(function () { say("the server cannot be reached; updates stopped"); });
  }

  if (!window.EventSource) { say("this browser cannot follow live; reload the page"); return; }
  var kinds = ["created", "accepted", "rejected", "running", "progress", "log", "completed",
    "failed", "canceled", "lease_expired", "requeued"];
  var source = new EventSource(eventsUrl);
  kinds.forEach(function (kind) { source.addEventListener(kind, handle); });
  source.onopen = function () {
    if (troubleTimer) { window.clearTimeout(troubleTimer); troubleTimer = null; }
    if (!renderedTerminal) { say("updates live"); }
  };
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) {
      if (!renderedTerminal) { explainClosed(); }
      return;
    }
    // Reconnecting (Last-Event-ID resumes where it stopped): say so if it takes a while.
    if (!troubleTimer) {
      troubleTimer = window.setTimeout(function () {
        say("reconnecting… (the server cannot be reached)");
      }, 5000);
    }
    // A stream that ended after the terminal event also lands here: stop, nothing is lost.
    if (renderedTerminal) { source.close(); }
  };
})();
