"use strict";
// The agent page: actions post JSON to /api/tasks (presence to
// /agent/{id}/presence); the task list and presence are re-fetched as HTML
// whenever the server-sent event stream reports a change.
(function () {
  const body = document.body;
  const base = body.dataset.base;
  const list = document.getElementById("tasks");
  const status = document.getElementById("status");
  const live = document.getElementById("live");
  // The page's words in its language, from the server.
  const d = body.dataset;
  // The API's error messages in the page's language.
  const lang = document.documentElement.lang;
  const msg = { loadFailed: d.msgLoadFailed, claimed: d.msgClaimed, saved: d.msgSaved, rescheduled: d.msgRescheduled,
    cancelled: d.msgCancelled, created: d.msgCreated, presence: d.msgPresence, live: d.msgLive, reconnecting: d.msgReconnecting };

  function show(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "err";
  }

  // refresh re-reads the list; calls while one runs are folded into one more.
  let running = null;
  let again = false;
  function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async function () {
      do {
        again = false;
        const r = await fetch(base + "/tasks", { credentials: "same-origin", cache: "no-store", headers: { "Accept-Language": lang } });
        if (!r.ok) {
          show(msg.loadFailed + "HTTP " + r.status);
          return;
        }
        list.innerHTML = await r.text();
      } while (again);
    })().catch(function (e) { show(msg.loadFailed + e.message); })
      .finally(function () { running = null; });
    return running;
  }

  async function post(path, data) {
    const r = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept-Language": lang },
      body: JSON.stringify(data),
    });
    let answer = {};
    try { answer = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new Error(answer.error || "HTTP " + r.status);
    return answer;
  }

  function text(form, name) {
    const v = new FormData(form).get(name);
    return v === null ? "" : String(v);
  }

  document.addEventListener("submit", async function (ev) {
    const form = ev.target;
    const action = form.dataset.action;
    if (!action) return;
    ev.preventDefault();
    if (action === "presence") {
      try {
        const what = ev.submitter ? ev.submitter.value : "login";
        await post(base + "/presence", { action: what, reason: what === "pause" ? text(form, "reason") : "" });
        show(msg.presence, true);
      } catch (e) {
        show(e.message);
      }
      refresh();
      return;
    }
    const task = "/api/tasks/" + form.dataset.id;
    const version = Number(form.dataset.version);
    try {
      switch (action) {
        case "claim":
          await post(task + "/claim", { version: version });
          show(msg.claimed, true);
          break;
        case "complete":
          await post(task + "/complete", {
            version: version, result: ev.submitter ? ev.submitter.value : "reached", notes: text(form, "notes"),
          });
          show(msg.saved, true);
          break;
        case "reschedule":
          await post(task + "/reschedule", {
            version: version, window_start: text(form, "window_start"), window_end: text(form, "window_end"),
            notes: text(form, "notes"),
          });
          show(msg.rescheduled, true);
          break;
        case "cancel":
          await post(task + "/cancel", { version: version, reason: text(form, "reason") });
          show(msg.cancelled, true);
          break;
        case "create": {
          const t = await post("/api/tasks", {
            queue: text(form, "queue"), number: text(form, "number"), caller_name: text(form, "caller_name"),
            window_start: text(form, "window_start"), window_end: text(form, "window_end"), notes: text(form, "notes"),
          });
          form.querySelectorAll("input[name=number], input[name=caller_name], input[name=notes]")
            .forEach(function (i) { i.value = ""; });
          show(msg.created + t.number + " (" + t.id + ")", true);
          break;
        }
      }
    } catch (e) {
      show(e.message);
    }
    refresh();
  });

  // The stream says "ready" once the server listens for this page (after
  // every reconnect): re-read then, so nothing changed in between is missed.
  const events = new EventSource(base + "/events");
  events.addEventListener("ready", function () {
    refresh().then(function () {
      body.dataset.live = "1";
      live.textContent = msg.live;
    });
  });
  events.addEventListener("task", refresh);
  events.addEventListener("resync", refresh);
  events.onerror = function () {
    body.dataset.live = "0";
    live.textContent = msg.reconnecting;
  };
})();
