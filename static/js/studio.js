// Studio page helpers: live strength value, mask options, trigger phrase; generation page: live progress from the
// websocket (the status part re-reads the database when the state changes; htmx also polls every 10 s) and
// synchronised playback.
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

  // The frame rate follows its default while the creator has not typed one: the chosen adapter's training rate,
  // else the chosen control video's or dataset clip's own rate, else blank (the reference's own, once read). The
  // words come from the server with each choice; the help says which default it is.
  const rate = document.getElementById("frame_rate");
  const rateHelp = document.getElementById("frame-rate-help");
  if (rate && rateHelp) {
    let autoRate = rate.value;
    const sources = ["adapter_choice", "reference_control", "reference_pair"]
      .map((id) => document.getElementById(id)).filter(Boolean);
    const followDefault = () => {
      const picked = sources.map((select) => select.selectedOptions[0]).find((option) => option && option.dataset.fps);
      if (rate.value === autoRate) { rate.value = picked ? picked.dataset.fps : ""; autoRate = rate.value; }
      rateHelp.textContent = picked ? picked.dataset.fpsHelp : rate.dataset.blankHelp;
    };
    sources.forEach((select) => select.addEventListener("change", followDefault));
  }

  // --- The generation page
  const root = document.getElementById("generation");
  if (!root) return;

  // The worker pushes the state and progress over the websocket (at most twice a second). The bar and the
  // percentage follow each push here; the status part (htmx, `gen:update`) is fetched again only when the state
  // changes. htmx also asks every 10 s by itself: a push lost while the socket stays open, or no socket at all.
  const ACTIVE = ["queued", "running"];
  function shownState() {
    const result = document.getElementById("generation-result");
    return result ? result.dataset.state : "";
  }
  function nudge() { document.body.dispatchEvent(new Event("gen:update")); }
  function showProgress(progress) {
    const percent = Math.floor(100 * Math.max(0, Math.min(1, progress)));
    const bar = document.getElementById("generation-bar");
    if (bar) {
      bar.style.width = `${percent}%`;
      bar.parentElement.setAttribute("aria-valuenow", percent);
    }
    const text = document.getElementById("generation-progress");
    if (text && text.hasAttribute("data-generating")) text.textContent = `Generating: ${percent}%`;
  }
  let socket = null;
  let retry = 1000;
  let ended = false; // a push said it finished: nothing more will come
  function connect() {
    if (ended || !ACTIVE.includes(shownState())) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
    socket.onopen = () => { retry = 1000; root.dataset.live = "socket"; };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.state !== shownState()) nudge();
      else if (data.state === "running" && data.progress != null) showProgress(data.progress);
      if (!ACTIVE.includes(data.state)) {
        ended = true;
        socket.close();
      }
    };
    socket.onclose = () => {
      root.dataset.live = "polling";
      // Connection lost while it is still being made: try again, less and less often (htmx polls meanwhile).
      if (ACTIVE.includes(shownState())) {
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 30000);
      }
    };
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
      // Videos with sound (a voice): together, only the adapter's is heard; each one's own controls play it alone.
      const main = document.getElementById("output-video");
      if (main && main.controls) all.forEach((v) => { v.muted = v !== main; });
      Promise.all(all.map((v) => v.play().catch(() => null))).then(() => { button.textContent = "Pause"; });
    });
    // Keep the others on the main video's clock while they play.
    const main = document.getElementById("output-video");
    if (main) main.addEventListener("timeupdate", () => {
      all.forEach((v) => { if (v !== main && Math.abs(v.currentTime - main.currentTime) > 0.08) v.currentTime = main.currentTime; });
    });
    // A video with its own controls (one with sound) is played with them, not by a click on the picture.
    all.forEach((v) => { if (!v.controls) v.addEventListener("click", () => button.click()); });
  }
  syncPlayback();
  document.body.addEventListener("htmx:afterSwap", syncPlayback);
})();
