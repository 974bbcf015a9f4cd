// Studio page helpers: live strength value, mask options, trigger phrase; generation page: websocket nudges
// (the status part re-reads the database; htmx also polls every second) and synchronised playback.
(function () {
  // --- The form
  const strength = document.getElementById("attention_strength");
  const strengthOut = document.getElementById("strength-out");
  if (strength && strengthOut) strength.addEventListener("input", () => { strengthOut.textContent = strength.value; });

  function showMaskOptions() {
    const picked = document.querySelector('input[name="mask_preset"]:checked');
    document.querySelectorAll(".mask-options").forEach((box) => {
      box.hidden = !picked || box.dataset.for !== picked.value;
    });
  }
  document.querySelectorAll('input[name="mask_preset"]').forEach((r) => r.addEventListener("change", showMaskOptions));
  showMaskOptions();

  const adapter = document.getElementById("adapter_choice");
  const prompt = document.getElementById("prompt");
  let lastTrigger = adapter && adapter.selectedOptions[0] ? adapter.selectedOptions[0].dataset.trigger || "" : "";
  if (adapter && prompt) {
    adapter.addEventListener("change", () => {
      const trigger = (adapter.selectedOptions[0] && adapter.selectedOptions[0].dataset.trigger) || "";
      let text = prompt.value;
      if (lastTrigger && text.startsWith(lastTrigger)) text = text.slice(lastTrigger.length).trimStart();
      if (trigger && !text.startsWith(trigger)) text = `${trigger} ${text}`;
      prompt.value = text;
      lastTrigger = trigger;
    });
  }

  // --- The generation page
  const root = document.getElementById("generation");
  if (!root) return;

  function nudge() { document.body.dispatchEvent(new Event("gen:update")); }
  let socket = null;
  function connect() {
    const state = document.getElementById("generation-result");
    if (!state || !["queued", "running"].includes(state.dataset.state)) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
    socket.onopen = () => { root.dataset.live = "socket"; };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      const bar = document.getElementById("generation-bar");
      if (bar && data.progress != null) bar.style.width = `${Math.floor(100 * data.progress)}%`;
      nudge();
      if (!["queued", "running"].includes(data.state)) socket.close();
    };
    socket.onclose = () => { root.dataset.live = "polling"; };
  }
  connect();

  function videos() { return Array.from(document.querySelectorAll("#compare video")); }
  function syncPlayback() {
    const button = document.getElementById("play-all");
    if (!button || button.dataset.ready) return;
    button.dataset.ready = "1";
    const all = videos();
    button.addEventListener("click", () => {
      const playing = all.some((v) => !v.paused);
      if (playing) { all.forEach((v) => v.pause()); button.textContent = "Play together"; return; }
      all.forEach((v) => { v.currentTime = 0; });
      Promise.all(all.map((v) => v.play().catch(() => null))).then(() => { button.textContent = "Pause"; });
    });
    // Keep the others on the main video's clock while they play.
    const main = document.getElementById("output-video");
    if (main) main.addEventListener("timeupdate", () => {
      all.forEach((v) => { if (v !== main && Math.abs(v.currentTime - main.currentTime) > 0.08) v.currentTime = main.currentTime; });
    });
    all.forEach((v) => v.addEventListener("click", () => button.click()));
  }
  syncPlayback();
  document.body.addEventListener("htmx:afterSwap", syncPlayback);
})();
