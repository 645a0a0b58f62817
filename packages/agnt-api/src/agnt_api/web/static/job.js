// The job page follows the job's event stream (Server-Sent Events, signed in by the session).
// The server renders the events so far; the stream resumes after them (?after=, then
// Last-Event-ID). Status, progress, reason, the timeline (last update, started, finished,
// a running duration) and the log update in place. A completed job reloads once (its files
// are server-rendered). A lost stream reconnects with backoff and says so; an ended session
// says so and offers to sign in again. Without this script the page refreshes itself.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) { return; }
  var eventsUrl = root.getAttribute("data-events-url");
  var liveUrl = root.getAttribute("data-live-url");
  var signinUrl = root.getAttribute("data-signin-url");
  var lastSeq = parseInt(root.getAttribute("data-last-seq") || "0", 10) || 0;
  var status = root.getAttribute("data-status");
  var bar = root.querySelector("[data-job-progress]");
  var fill = bar && bar.querySelector(".progress-fill");
  var text = root.querySelector("[data-job-progress-text]");
  var badge = root.querySelector("[data-job-status] .badge");
  var state = root.querySelector("[data-live-state]");
  var list = root.querySelector("[data-job-events]");
  var logs = root.querySelector("[data-job-logs]");
  var follow = root.querySelector("[data-follow-logs]");
  var reason = root.querySelector("[data-job-reason]");
  var durationEl = root.querySelector("[data-job-duration]");
  var terminal = { rejected: 1, completed: 1, failed: 1, canceled: 1 };
  var ended = Object.prototype.hasOwnProperty.call(terminal, status);
  var sawLog = logs && logs.textContent !== "(no output yet)";
  var source = null;
  var retryDelay = 1000;
  var troubleTimer = null;
  var ticker = null;

  if (follow) {
    follow.hidden = false;
    root.querySelector("label[for=follow-logs]").hidden = false;
  }
  if (logs && (!follow || follow.checked)) { logs.scrollTop = logs.scrollHeight; }

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

  function utc(date) {
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function timeElement(iso) {
    var el = document.createElement("time");
    var date = new Date(iso);
    el.setAttribute("datetime", iso);
    el.setAttribute("title", utc(date));
    el.setAttribute("data-relative", "");
    el.textContent = window.agntAgo ? window.agntAgo((Date.now() - date.getTime()) / 1000) : utc(date);
    return el;
  }

  function setTime(name, iso) {
    var current = root.querySelector("[data-time=" + name + "]");
    if (!current) { return; }
    var el = timeElement(iso);
    el.setAttribute("data-time", name);
    current.parentNode.replaceChild(el, current);
  }

  function timeOf(name) {
    var el = root.querySelector("time[data-time=" + name + "]");
    return el ? Date.parse(el.getAttribute("datetime")) : NaN;
  }

  function showDuration(seconds) {
    if (!durationEl || isNaN(seconds)) { return; }
    var text;
    if (seconds < 1) { text = Math.round(seconds * 1000) + " ms"; }
    else if (seconds < 10) { text = seconds.toFixed(1) + " s"; }
    else if (seconds < 60) { text = Math.round(seconds) + " s"; }
    else if (seconds < 3600) { text = Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s"; }
    else { text = Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min"; }
    durationEl.textContent = text;
  }

  function tick() {
    var started = timeOf("started");
    if (!ended && !isNaN(started)) { showDuration((Date.now() - started) / 1000); }
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
    status = jobStatus;
    root.setAttribute("data-status", jobStatus);
    if (badge) {
      badge.textContent = jobStatus;
      badge.className = "badge badge-" + jobStatus;
      badge.setAttribute("data-status", jobStatus);
    }
    if (fill) { fill.className = "progress-fill progress-" + jobStatus; }
  }

  function describe(event) {
    var detail = event.kind;
    if (event.kind === "progress") { detail += " " + event.data.progress + "%"; }
    if (event.data && event.data.reason) { detail += ": " + event.data.reason; }
    if (event.kind === "log") {
      var count = event.data.lines ? event.data.lines.length : 0;
      detail += event.data.truncated ? " (output past the size limit was dropped)"
        : " (" + count + " line" + (count === 1 ? "" : "s") + ")";
    }
    return detail;
  }

  function addEvent(event) {
    if (!list) { return; }
    var placeholder = list.querySelector("[data-placeholder]");
    if (placeholder) { list.removeChild(placeholder); }
    var item = document.createElement("li");
    item.setAttribute("data-seq", String(event.seq));
    item.appendChild(timeElement(event.created_at));
    item.appendChild(document.createTextNode(" · " + describe(event)));
    list.appendChild(item);
  }

  function addLog(event) {
    if (!logs) { return; }
    if (!sawLog) { logs.textContent = ""; sawLog = true; }
    var lines = event.data.truncated ? ["[output past the size limit was dropped]"]
      : event.data.lines.map(function (line) { return line.text; });
    logs.textContent += (logs.textContent ? "\n" : "") + lines.join("\n");
    if (!follow || follow.checked) { logs.scrollTop = logs.scrollHeight; }
  }

  function finish(jobStatus) {
    ended = true;
    if (ticker) { window.clearInterval(ticker); ticker = null; }
    var cancel = root.querySelector("[data-cancel]");
    if (cancel) { cancel.parentNode.removeChild(cancel); }
    var started = timeOf("started");
    var finished = timeOf("finished");
    if (!isNaN(started) && !isNaN(finished)) { showDuration((finished - started) / 1000); }
    say("the job ended (" + jobStatus + ")");
    if (source) { source.close(); source = null; }
    if (jobStatus === "completed") {
      // Its files and their previews are server-rendered: load them once.
      window.location.reload();
    }
  }

  // Progress events are coalesced (one per half second): the last value of a burst is on
  // the job, not in the stream. Read it once things go quiet.
  var settleTimer = null;
  function settleProgress() {
    if (settleTimer) { window.clearTimeout(settleTimer); }
    settleTimer = window.setTimeout(function () {
      settleTimer = null;
      if (ended) { return; }
      fetch(liveUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (job && !ended && job.status === status) { showProgress(job.progress); }
        })
        .catch(function () { /* the stream's own error handling reports trouble */ });
    }, 1500);
  }

  function handle(message) {
    var event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (event.seq <= lastSeq) { return; }
    lastSeq = event.seq;
    addEvent(event);
    setTime("updated", event.created_at);
    if (event.kind === "log") { addLog(event); settleProgress(); return; }
    if (event.kind === "progress") { showProgress(event.data.progress); settleProgress(); return; }
    var jobStatus = event.data && event.data.status;
    if (!jobStatus) { return; }
    showStatus(jobStatus);
    if (event.data.reason && reason) {
      reason.textContent = event.data.reason;
      reason.parentNode.hidden = false;
    }
    if (jobStatus === "running" && isNaN(timeOf("started"))) { setTime("started", event.created_at); }
    if (jobStatus === "pending") {
      // A requeue: the run starts over (a new attempt, not started yet).
      showProgress(0, "pending");
      var attempt = root.querySelector("[data-job-attempt]");
      if (attempt && event.data.attempt) {
        attempt.textContent = attempt.textContent.replace(/^\d+/, String(event.data.attempt));
      }
      var started = root.querySelector("[data-time=started]");
      if (started) {
        var none = document.createElement("span");
        none.setAttribute("data-time", "started");
        none.textContent = "\u2014";
        started.parentNode.replaceChild(none, started);
        if (durationEl) { durationEl.textContent = "\u2014"; }
      }
    }
    if (terminal[jobStatus]) {
      if (jobStatus === "completed") { showProgress(100, "completed"); }
      setTime("finished", event.created_at);
      finish(jobStatus);
    }
  }

  // Why the stream closed: a 401/403 (or a redirect to sign-in) means the session ended.
  function explainClosed() {
    fetch(liveUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.type === "opaqueredirect") {
          say("your session ended; updates stopped.", { href: signinUrl, text: "Sign in again" });
        } else if (response.status === 404) {
          say("this job is gone; updates stopped");
        } else {
          reconnectLater(response.ok ? "reconnecting…" : "the server answered " + response.status + "; retrying…");
        }
      })
      .catch(function () { reconnectLater("reconnecting… (the server cannot be reached)"); });
  }

  function reconnectLater(message) {
    say(message);
    window.setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  function connect() {
    if (ended) { return; }
    source = new EventSource(eventsUrl + "?after=" + lastSeq);
    kinds.forEach(function (kind) { source.addEventListener(kind, handle); });
    source.onopen = function () {
      retryDelay = 1000;
      if (troubleTimer) { window.clearTimeout(troubleTimer); troubleTimer = null; }
      if (!ended) { say("updates live"); }
    };
    source.onerror = function () {
      if (ended) { if (source) { source.close(); } return; }
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        explainClosed();
        return;
      }
      // The browser reconnects by itself (Last-Event-ID resumes): say so if it takes a while.
      if (!troubleTimer) {
        troubleTimer = window.setTimeout(function () {
          troubleTimer = null;
          if (source && source.readyState !== EventSource.OPEN) {
            say("reconnecting… (the server cannot be reached)");
          }
        }, 3000);
      }
    };
  }

  var kinds = ["created", "accepted", "rejected", "running", "progress", "log", "completed",
    "failed", "canceled", "lease_expired", "requeued"];
  if (ended) { return; }
  if (!window.EventSource || !window.fetch) { say("this browser cannot follow live; reload the page"); return; }
  ticker = window.setInterval(tick, 1000);
  tick();
  connect();
})();
