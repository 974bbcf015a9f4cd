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
    if (!box || typeof uPlot === "undefined") return;
    const data = [steps, losses, smooth(losses, 0.9)];
    if (chart) { chart.setData(data); return; }
    chart = new uPlot({
      width: box.clientWidth || 480, height: 240,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: "loss" }],
      series: [{ label: "step" },
        { label: "loss", stroke: "rgba(91,75,219,0.25)", width: 1 },
        { label: "smoothed", stroke: "#5b4bdb", width: 2 }],
    }, data, box);
    window.addEventListener("resize", () => chart.setSize({ width: box.clientWidth, height: 240 }));
  }

  function text(id, value) { const el = document.getElementById(id); if (el) el.textContent = value; }

  function formatEta(seconds) {
    if (seconds == null || !isFinite(seconds)) return "–";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return `about ${h} h ${m} min`;
    if (m) return `about ${m} min ${r} s`;
    return `about ${r} s`;
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
      for (const [step, loss] of p.points || []) { steps.push(step); losses.push(loss); }
      drawChart();
      text("run-step", p.step); text("run-total", p.total);
      text("run-loss", p.loss.toFixed(4));
      text("run-speed", `${p.steps_per_second.toFixed(2)} steps/s`);
      text("run-eta", formatEta(p.eta_seconds));
      const percent = Math.floor((100 * p.step) / Math.max(1, p.total));
      const bar = document.getElementById("run-bar");
      if (bar) bar.style.width = `${percent}%`;
      document.title = `${percent}% · ${pageTitle}`;
      // Progress means training: if a state change was missed, rebuild the status from the database.
      const state = document.getElementById("run-state");
      if (state && !state.classList.contains("state-training")) document.body.dispatchEvent(new Event("run:state"));
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
