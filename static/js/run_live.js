// Live view of a training run. Everything shown was first rendered from the database; this script
// applies newer events as they arrive over the websocket, or by polling when the socket fails.
(function () {
  const root = document.getElementById("run");
  if (!root) return;
  let lastSeq = Number(root.dataset.lastSeq || 0);
  const points = JSON.parse(document.getElementById("loss-points").textContent || "[]");
  const steps = points.map((p) => p[0]);
  const losses = points.map((p) => p[1]);
  let chart = null;
  let stateTimer = null;
  const pageTitle = document.title; // the run's name: progress and the ending go in front, for a tab in the background

  function smooth(values, weight) {
    const out = [];
    let last = values.length ? values[0] : 0;
    for (const v of values) { last = last * weight + (1 - weight) * v; out.push(last); }
    return out;
  }

  function drawChart() {
    const box = document.getElementById("loss-chart");
    if (!box || typeof uPlot === "undefined" || !steps.length) return;
    // Until the first point the page says so in a sentence; the chart (and its legend) come with the data.
    const empty = document.getElementById("loss-empty");
    if (empty) empty.hidden = true;
    box.hidden = false;
    const data = [steps, losses, smooth(losses, 0.9)];
    if (chart) { chart.setData(data); showLatest(); return; }
    chart = new uPlot({
      width: box.clientWidth || 480, height: 240,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: "loss" }],
      series: [{ label: "step" },
        { label: "loss", stroke: "rgba(91,75,219,0.25)", width: 1 },
        { label: "smoothed", stroke: "#5b4bdb", width: 2 }],
    }, data, box);
    window.addEventListener("resize", () => chart.setSize({ width: box.clientWidth, height: 240 }));
    box.addEventListener("mouseleave", () => setTimeout(showLatest, 0));
    showLatest();
  }

  // Away from the chart its legend shows the latest point (uPlot's own shows "--" until the pointer is on it).
  function showLatest() {
    if (chart && steps.length) chart.setLegend({ idx: steps.length - 1 });
  }

  function text(id, value) { const el = document.getElementById(id); if (el) el.textContent = value; }

  // The stage the status part shows (the run's `stage` field as the server rendered it).
  function shownStage() {
    const status = document.getElementById("run-status");
    return status ? status.dataset.stage : null;
  }

  // A progress event of the stage the page shows updates that stage in place: its words (written by the worker,
  // durations included, so the page and a reload say the same) and its bar. Any other stage: the status part is
  // rebuilt from the database, which already holds it.
  function showStage(stage, p) {
    if (shownStage() !== stage) { document.body.dispatchEvent(new Event("run:state")); return; }
    const detail = stage === "training" && p.eta_text ? `${p.text} · ${p.eta_text}` : p.text;
    if (detail) text("stage-detail", detail);
    const percent = stage === "training" ? Math.floor((100 * p.step) / Math.max(1, p.total))
      : (p.total && p.done ? Math.floor((100 * (p.done - 1)) / p.total) : null);
    const bar = document.getElementById("stage-bar");
    if (bar && percent !== null) {
      bar.style.width = `${percent}%`;
      bar.parentElement.setAttribute("aria-valuenow", percent);
    }
  }

  function appendLog(message, at) {
    const log = document.getElementById("run-log");
    if (!log || !message) return;
    const empty = log.querySelector(".muted"); if (empty) empty.remove();
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = new Date(at).toLocaleTimeString([], { hour12: false });
    item.append(time, " ", message);
    log.appendChild(item);
    while (log.children.length > 200) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  function apply(event) {
    if (event.seq <= lastSeq) return; // already shown
    lastSeq = event.seq;
    const p = event.payload;
    if (event.kind === "progress") {
      const stage = p.stage || "training"; // events from before stages were reported are training steps
      if (stage === "training") {
        for (const [step, loss] of p.points || []) { steps.push(step); losses.push(loss); }
        drawChart();
        text("run-loss", p.loss.toFixed(4));
        text("run-speed", `${p.steps_per_second.toFixed(2)} steps/s`);
        document.title = `${Math.floor((100 * p.step) / Math.max(1, p.total))}% · ${pageTitle}`;
      }
      showStage(stage, p);
      return;
    }
    appendLog(p.message, event.at);
    if (event.kind === "state") {
      notifyEnd(p.state, p.message);
      // Refresh now, and once more a moment later: state changes can come faster than a refresh
      // returns, and the last one must always be shown.
      document.body.dispatchEvent(new Event("run:state"));
      clearTimeout(stateTimer);
      stateTimer = setTimeout(() => document.body.dispatchEvent(new Event("run:state")), 1500);
    }
    if (event.kind === "checkpoint") document.body.dispatchEvent(new Event("run:checkpoint"));
    if (event.kind === "sample") document.body.dispatchEvent(new Event("run:sample"));
  }

  // "Tell me when it is done": a browser notification when the run ends, even with the page in another tab.
  const notifyRow = document.querySelector("[data-notify]");
  const notifyKey = `notify-run-${root.dataset.runId}`;
  const ENDINGS = { succeeded: "is ready", failed: "stopped with an error", cancelled: "was stopped" };
  const TAB_TITLES = { succeeded: "Ready", failed: "Failed", cancelled: "Stopped" };

  function notifyWanted() {
    try { return localStorage.getItem(notifyKey) === "1"; } catch (error) { return false; }
  }

  function showNotifyState() {
    const button = notifyRow.querySelector("[data-notify-button]");
    const note = notifyRow.querySelector("[data-notify-note]");
    if (Notification.permission === "denied") {
      button.hidden = true;
      note.textContent = "Notifications are blocked for this site in your browser's settings.";
    } else if (Notification.permission === "granted" && notifyWanted()) {
      button.hidden = true;
      note.textContent = "Your browser will tell you when this training ends, even from another tab.";
    }
  }

  if (notifyRow && "Notification" in window) {
    notifyRow.hidden = false;
    showNotifyState();
    notifyRow.querySelector("[data-notify-button]").addEventListener("click", async () => {
      if (await Notification.requestPermission() === "granted") {
        try { localStorage.setItem(notifyKey, "1"); } catch (error) { /* private mode: this page still tells */ }
      }
      showNotifyState();
    });
  }

  function notifyEnd(state, message) {
    if (state in TAB_TITLES) document.title = `${TAB_TITLES[state]} · ${pageTitle}`;
    if (notifyRow && state in ENDINGS) notifyRow.hidden = true;
    if (!(state in ENDINGS) || !("Notification" in window) || Notification.permission !== "granted" || !notifyWanted()) return;
    try { localStorage.removeItem(notifyKey); } catch (error) { /* nothing to forget */ }
    const note = new Notification(`${root.dataset.runName} ${ENDINGS[state]}`, { body: message || "", tag: notifyKey });
    note.onclick = () => { window.focus(); note.close(); };
  }

  let pollTimer = null;
  async function poll() {
    try {
      const response = await fetch(`${root.dataset.eventsUrl}?after=${lastSeq}`, { headers: { Accept: "application/json" } });
      if (response.ok) (await response.json()).events.forEach(apply);
    } catch (error) { /* offline for a moment: try again */ }
  }
  function startPolling() { if (!pollTimer) { poll(); pollTimer = setInterval(poll, 3000); } }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

  let retry = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}?after=${lastSeq}`);
    socket.addEventListener("open", () => { retry = 1000; stopPolling(); root.dataset.live = "socket"; });
    socket.addEventListener("message", (message) => apply(JSON.parse(message.data)));
    socket.addEventListener("close", () => {
      root.dataset.live = "polling";
      startPolling();
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }

  // "Play row": one validation clip's reference and samples from the start together, to compare the steps.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-play-row]");
    if (!button) return;
    for (const video of button.closest("tr").querySelectorAll("video")) {
      video.currentTime = 0;
      video.play().catch(() => {});
    }
  });

  document.addEventListener("DOMContentLoaded", drawChart);
  if (document.readyState !== "loading") drawChart();
  connect();
})();
