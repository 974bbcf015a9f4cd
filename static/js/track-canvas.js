// The Studio's motion-track canvas: a creator places keypoints for each track over a blank canvas of the
// generation's size (or a picture's or clip's first frame), sees the paths the server will draw, and sends them in
// the hidden `drawn_tracks` field as {width, height, frames, tracks: [[{x, y, frame}, ...], ...]} in the canvas's
// pixels and frames. The server checks them and renders the reference (prep/extract/drawn_tracks.py); this script
// only has to show the same paths: the sparse track editor's Catmull-Rom spline (prep/extract/track_paths.py) and
// the renderer's trail colours (prep/extract/track_drawing.py).
(() => {
  "use strict";
  const stage = document.getElementById("tracks-stage");
  if (!stage) return;
  const canvas = document.getElementById("tracks-canvas");
  const layer = document.getElementById("tracks-points");
  const field = document.getElementById("drawn_tracks");
  const time = document.getElementById("tracks-time");
  const timeOut = document.getElementById("tracks-time-out");
  const framesOut = document.getElementById("tracks-frames-out");
  const pointFrame = document.getElementById("tracks-point-frame");
  const selectedText = document.getElementById("tracks-selected");
  const list = document.getElementById("tracks-list");
  const buttons = {
    newTrack: document.getElementById("tracks-new"), addPoint: document.getElementById("tracks-add-point"),
    deletePoint: document.getElementById("tracks-delete-point"),
    deleteTrack: document.getElementById("tracks-delete-track"), clear: document.getElementById("tracks-clear"),
    play: document.getElementById("tracks-play"),
  };
  const sizeInputs = ["width", "height", "num_frames"].map((id) => document.getElementById(id));
  const TRAIL = 50; // frames of trail behind each point, as the renderer draws (TRAIL_FRAMES)
  // Each track's keypoints have their own colour, so a creator tells tracks apart; trails use the renderer's.
  const TRACK_COLOURS = ["#ff4d9d", "#ffd23f", "#3fd0ff", "#9dff3f", "#c08bff", "#ff8a3d", "#3dffc5", "#ffffff"];

  const state = { width: 256, height: 160, frames: 25, tracks: [[]], current: 0, selected: null, time: 0 };
  let background = null; // an image or canvas holding the first frame to draw over

  // --- The path between keypoints: the editor's uniform Catmull-Rom (tension 1/2, ends repeated); two points: a line.
  function pathOf(track) {
    const points = new Map();
    if (track.length < 2) return points;
    const first = track[0].frame, last = track[track.length - 1].frame;
    for (let t = Math.ceil(first - 1e-9); t <= last + 1e-9 && t < state.frames; t++) {
      let s = 0;
      while (s < track.length - 2 && t >= track[s + 1].frame) s++;
      const a = track[s], b = track[s + 1];
      const u = b.frame > a.frame ? Math.min(1, Math.max(0, (t - a.frame) / (b.frame - a.frame))) : 0;
      if (track.length === 2) { points.set(t, [a.x + (b.x - a.x) * u, a.y + (b.y - a.y) * u]); continue; }
      const p0 = track[Math.max(0, s - 1)], p3 = track[Math.min(track.length - 1, s + 2)];
      const at = (k) => 0.5 * (2 * a[k] + (b[k] - p0[k]) * u + (2 * p0[k] - 5 * a[k] + 4 * b[k] - p3[k]) * u * u
        + (3 * a[k] - p0[k] - 3 * b[k] + p3[k]) * u * u * u);
      points.set(t, [at("x"), at("y")]);
    }
    return points;
  }

  // The renderer's colour for freshness r = 1 - age / trail: blue when new, through cyan and green, red when old.
  function ageColour(r) {
    let c;
    if (r <= 1 / 3) c = [1 - 3 * r, 3 * r, 0];
    else if (r <= 2 / 3) c = [0, 1, 3 * (r - 1 / 3)];
    else c = [0, 1 - 3 * (r - 2 / 3), 1];
    return `rgb(${c.map((v) => Math.round(255 * v)).join(",")})`;
  }

  // --- Drawing
  function draw() {
    const box = stage.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(box.width * ratio));
    canvas.height = Math.max(1, Math.round(box.height * ratio));
    const ctx = canvas.getContext("2d");
    const scale = canvas.width / state.width;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#15151c";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (background) {
      // Cover the canvas, centred, as the generation crops a reference of another shape.
      const bw = background.naturalWidth || background.width, bh = background.naturalHeight || background.height;
      const cover = Math.max(canvas.width / bw, canvas.height / bh);
      ctx.globalAlpha = 0.6; // dimmed, so every trail colour stands out on it
      ctx.drawImage(background, (canvas.width - bw * cover) / 2, (canvas.height - bh * cover) / 2, bw * cover, bh * cover);
      ctx.globalAlpha = 1;
    } else {
      ctx.strokeStyle = "rgba(255,255,255,0.07)";
      ctx.lineWidth = 1;
      for (let i = 1; i < 8; i++) {
        ctx.beginPath(); ctx.moveTo((canvas.width * i) / 8, 0); ctx.lineTo((canvas.width * i) / 8, canvas.height); ctx.stroke();
        ctx.beginPath(); ctx.moveTo(0, (canvas.height * i) / 8); ctx.lineTo(canvas.width, (canvas.height * i) / 8); ctx.stroke();
      }
    }
    ctx.setTransform(scale, 0, 0, scale, 0.5 * scale, 0.5 * scale); // a pixel's centre at whole numbers
    // The renderer's circle radius (8 on a 1080 short side, oldest a quarter of it), at least a few screen pixels.
    const unit = Math.min(state.width, state.height) / 1080;
    const least = 3 / scale;
    state.tracks.forEach((track, index) => {
      const path = pathOf(track);
      if (path.size > 1) {
        ctx.strokeStyle = "rgba(255,255,255,0.55)";
        ctx.lineWidth = 1.5 / scale;
        ctx.setLineDash(index === state.current ? [] : [4 / scale, 3 / scale]);
        ctx.beginPath();
        let started = false;
        for (const [x, y] of path.values()) { if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y); started = true; }
        ctx.stroke();
        ctx.setLineDash([]);
      }
      for (let age = Math.min(TRAIL, state.time); age >= 0; age--) { // oldest first, as the renderer stamps them
        const where = path.get(state.time - age);
        if (!where) continue;
        const fresh = 1 - age / TRAIL;
        ctx.fillStyle = ageColour(fresh);
        ctx.beginPath();
        ctx.arc(where[0], where[1], Math.max(least * (0.4 + 0.6 * fresh), unit * (2 + 6 * fresh)), 0, 2 * Math.PI);
        ctx.fill();
      }
      const now = path.get(state.time);
      if (now) { // where the point is on the frame shown: ringed, so it reads on any picture
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 2 / scale;
        ctx.beginPath();
        ctx.arc(now[0], now[1], 7 / scale, 0, 2 * Math.PI);
        ctx.stroke();
      }
    });
  }

  // --- The points: buttons over the canvas, so each is focusable and named
  function pointLabel(t, p) {
    const point = state.tracks[t][p];
    return `Track ${t + 1}, point ${p + 1}: x ${Math.round(point.x)}, y ${Math.round(point.y)}, frame ${fmt(point.frame)}`;
  }
  function fmt(n) { return Number.isInteger(n) ? String(n) : n.toFixed(1); }

  function renderPoints(focus) {
    layer.replaceChildren();
    state.tracks.forEach((track, t) => track.forEach((point, p) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "track-point";
      if (state.selected && state.selected[0] === t && state.selected[1] === p) button.classList.add("selected");
      if (t === state.current) button.classList.add("current");
      button.style.left = `${((point.x + 0.5) / state.width) * 100}%`;
      button.style.top = `${((point.y + 0.5) / state.height) * 100}%`;
      button.style.setProperty("--track", TRACK_COLOURS[t % TRACK_COLOURS.length]);
      button.textContent = String(p + 1);
      button.setAttribute("aria-label", pointLabel(t, p));
      button.dataset.track = t; button.dataset.point = p;
      layer.appendChild(button);
      if (focus && focus[0] === t && focus[1] === p) button.focus();
    }));
  }

  function renderList() {
    list.replaceChildren();
    state.tracks.forEach((track, t) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link track-choice";
      button.style.setProperty("--track", TRACK_COLOURS[t % TRACK_COLOURS.length]);
      const frames = track.map((p) => fmt(p.frame)).join(", ");
      button.textContent = `Track ${t + 1}: ${track.length} point${track.length === 1 ? "" : "s"}`
        + (track.length ? ` (frame${track.length === 1 ? "" : "s"} ${frames})` : "");
      if (t === state.current) { button.setAttribute("aria-current", "true"); button.textContent += " · adding here"; }
      button.addEventListener("click", () => { state.current = t; state.selected = null; update(); });
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  function renderSelection() {
    const sel = state.selected;
    buttons.deletePoint.disabled = !sel;
    buttons.deleteTrack.disabled = !state.tracks[state.current] || state.tracks[state.current].length === 0;
    pointFrame.disabled = !sel;
    pointFrame.max = String(state.frames - 1);
    if (!sel) { selectedText.textContent = "No point selected."; pointFrame.value = ""; return; }
    const [t, p] = sel;
    const track = state.tracks[t];
    pointFrame.value = fmt(track[p].frame);
    let text = `${pointLabel(t, p)}.`;
    if (p > 0 && track[p].frame <= track[p - 1].frame) text += ` Its frame must come after point ${p}'s (${fmt(track[p - 1].frame)}).`;
    if (p < track.length - 1 && track[p].frame >= track[p + 1].frame) text += ` Its frame must come before point ${p + 2}'s (${fmt(track[p + 1].frame)}).`;
    selectedText.textContent = text;
  }

  function save() {
    const tracks = state.tracks.filter((track) => track.length > 0)
      .map((track) => track.map((p) => ({ x: round1(p.x), y: round1(p.y), frame: round1(p.frame) })));
    field.value = tracks.length ? JSON.stringify({ width: state.width, height: state.height, frames: state.frames, tracks }) : "";
    document.querySelectorAll("#tracks-clip-form [data-canvas]").forEach((input) => {
      input.value = input.dataset.canvas === "fps" ? (document.getElementById("frame_rate").value || "24")
        : String(state[input.dataset.canvas]);
    });
  }
  function round1(n) { return Math.round(n * 10) / 10; }

  function update(focus) {
    timeOut.textContent = String(state.time);
    time.value = String(state.time);
    time.max = String(state.frames - 1);
    framesOut.textContent = String(state.frames - 1);
    stage.style.aspectRatio = `${state.width} / ${state.height}`;
    renderPoints(focus);
    renderList();
    renderSelection();
    save();
    draw();
  }

  // --- Editing
  // A track whose frames nobody set is timed as the sparse track editor times it: its points spread evenly from the
  // first frame to the last. Once a creator sets a point's frame, that track keeps the frames it is given.
  const timed = new WeakSet();
  function spread(track) {
    if (timed.has(track) || track.length < 2) { if (track.length === 1 && !timed.has(track)) track[0].frame = 0; return; }
    track.forEach((p, k) => { p.frame = Math.round((k * (state.frames - 1)) / (track.length - 1) * 10) / 10; });
  }

  function evenlyTimed(track, frames) {
    if (track.length < 2) return !track.length || track[0].frame === 0;
    return track.every((p, k) => Math.abs(p.frame - (k * (frames - 1)) / (track.length - 1)) < 0.06);
  }

  function addPoint(x, y, focus) {
    if (!state.tracks[state.current]) { state.tracks.push([]); state.current = state.tracks.length - 1; }
    const track = state.tracks[state.current];
    const last = track[track.length - 1];
    const frame = last ? Math.min(state.frames - 1, Math.max(state.time, last.frame + 1)) : state.time;
    track.push({ x: clamp(x, 0, state.width), y: clamp(y, 0, state.height), frame });
    spread(track);
    state.selected = [state.current, track.length - 1];
    update(focus ? state.selected : null);
  }
  function clamp(v, low, high) { return Math.min(high, Math.max(low, v)); }

  function canvasPoint(event) {
    const box = stage.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * state.width - 0.5,
      ((event.clientY - box.top) / box.height) * state.height - 0.5];
  }

  let dragging = null;
  stage.addEventListener("pointerdown", (event) => {
    const point = event.target.closest(".track-point");
    if (point) {
      const t = Number(point.dataset.track), p = Number(point.dataset.point);
      state.selected = [t, p]; state.current = t;
      dragging = { t, p, id: event.pointerId };
      stage.setPointerCapture(event.pointerId);
      event.preventDefault();
      update([t, p]);
      return;
    }
    if (event.button !== 0) return;
    const [x, y] = canvasPoint(event);
    addPoint(x, y);
  });
  stage.addEventListener("pointermove", (event) => {
    if (!dragging || event.pointerId !== dragging.id) return;
    const [x, y] = canvasPoint(event);
    const point = state.tracks[dragging.t][dragging.p];
    point.x = clamp(x, 0, state.width); point.y = clamp(y, 0, state.height);
    save(); draw();
    const button = layer.querySelector(`[data-track="${dragging.t}"][data-point="${dragging.p}"]`);
    if (button) {
      button.style.left = `${((point.x + 0.5) / state.width) * 100}%`;
      button.style.top = `${((point.y + 0.5) / state.height) * 100}%`;
    }
  });
  const endDrag = (event) => {
    if (!dragging || event.pointerId !== dragging.id) return;
    const at = [dragging.t, dragging.p];
    dragging = null;
    update(at);
  };
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);

  layer.addEventListener("focusin", (event) => {
    const point = event.target.closest(".track-point");
    if (!point || dragging) return;
    const t = Number(point.dataset.track), p = Number(point.dataset.point);
    if (state.selected && state.selected[0] === t && state.selected[1] === p) return;
    state.selected = [t, p]; state.current = t;
    renderSelection(); renderList();
    layer.querySelectorAll(".track-point").forEach((b) => {
      b.classList.toggle("selected", b === point);
      b.classList.toggle("current", Number(b.dataset.track) === t);
    });
    draw();
  });
  layer.addEventListener("keydown", (event) => {
    const point = event.target.closest(".track-point");
    if (!point) return;
    const t = Number(point.dataset.track), p = Number(point.dataset.point);
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[event.key]) {
      const step = event.shiftKey ? 10 : 1;
      const target = state.tracks[t][p];
      target.x = clamp(target.x + moves[event.key][0] * step, 0, state.width);
      target.y = clamp(target.y + moves[event.key][1] * step, 0, state.height);
      state.selected = [t, p];
      event.preventDefault();
      update([t, p]);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      state.selected = [t, p];
      deletePoint(true);
    }
  });

  function deletePoint(keepFocus) {
    if (!state.selected) return;
    const [t, p] = state.selected;
    state.tracks[t].splice(p, 1);
    spread(state.tracks[t]);
    const left = state.tracks[t].length;
    state.selected = left ? [t, Math.min(p, left - 1)] : null;
    update(keepFocus && state.selected ? state.selected : null);
    if (keepFocus && !state.selected) buttons.newTrack.focus();
  }
  buttons.deletePoint.addEventListener("click", () => deletePoint(false));
  // Without a mouse: a point in the middle (or beside the track's last one), focused, for the arrow keys to move.
  buttons.addPoint.addEventListener("click", () => {
    const track = state.tracks[state.current] || [];
    const last = track[track.length - 1];
    const step = Math.max(4, Math.round(state.width / 10));
    if (last) addPoint(last.x + (last.x + step <= state.width ? step : -step), last.y, true);
    else addPoint(Math.round(state.width / 2), Math.round(state.height / 2), true);
  });
  buttons.deleteTrack.addEventListener("click", () => {
    state.tracks.splice(state.current, 1);
    if (!state.tracks.length) state.tracks.push([]);
    state.current = Math.min(state.current, state.tracks.length - 1);
    state.selected = null;
    update();
  });
  buttons.clear.addEventListener("click", () => {
    state.tracks = [[]]; state.current = 0; state.selected = null;
    update();
  });
  buttons.newTrack.addEventListener("click", () => {
    const last = state.tracks[state.tracks.length - 1];
    if (last && last.length === 0) state.current = state.tracks.length - 1; // an empty one is already waiting
    else { state.tracks.push([]); state.current = state.tracks.length - 1; }
    state.selected = null;
    update();
  });
  pointFrame.addEventListener("change", () => {
    if (!state.selected) return;
    const value = Number(pointFrame.value);
    if (!Number.isFinite(value)) return;
    const [t, p] = state.selected;
    timed.add(state.tracks[t]);
    state.tracks[t][p].frame = clamp(value, 0, state.frames - 1);
    state.time = Math.round(state.tracks[t][p].frame);
    update();
  });

  // --- Time: the slider shows the trails on one frame; Play runs through them at the form's frame rate
  time.addEventListener("input", () => { state.time = Number(time.value); timeOut.textContent = time.value; draw(); });
  let playing = null;
  function stop() { if (playing) cancelAnimationFrame(playing); playing = null; buttons.play.textContent = "Play"; }
  buttons.play.addEventListener("click", () => {
    if (playing) { stop(); return; }
    const fps = Number(document.getElementById("frame_rate").value) || 24;
    const start = performance.now();
    const from = state.time >= state.frames - 1 ? 0 : state.time;
    buttons.play.textContent = "Pause";
    const step = (now) => {
      state.time = Math.min(state.frames - 1, from + Math.floor(((now - start) / 1000) * fps));
      time.value = String(state.time); timeOut.textContent = String(state.time);
      draw();
      if (state.time < state.frames - 1) playing = requestAnimationFrame(step); else stop();
    };
    playing = requestAnimationFrame(step);
  });

  // --- The canvas follows the form's size and length; points keep their place in the picture and in time
  function formSize() {
    const [w, h, f] = sizeInputs.map((input) => Math.round(Number(input && input.value)));
    return {
      width: w >= 32 && w <= 4096 ? w : state.width, height: h >= 32 && h <= 4096 ? h : state.height,
      frames: f >= 2 && f <= 1000 ? f : state.frames,
    };
  }
  function resize(size) {
    const sx = size.width / state.width, sy = size.height / state.height;
    const st = (size.frames - 1) / (state.frames - 1);
    state.tracks.forEach((track) => track.forEach((p) => {
      p.x = (p.x + 0.5) * sx - 0.5; p.y = (p.y + 0.5) * sy - 0.5; p.frame = Math.round(p.frame * st * 10) / 10;
    }));
    Object.assign(state, size);
    state.time = Math.min(state.time, state.frames - 1);
  }
  sizeInputs.forEach((input) => input && input.addEventListener("change", () => { resize(formSize()); update(); }));
  const rate = document.getElementById("frame_rate");
  if (rate) rate.addEventListener("change", save);

  function load(data) {
    // Tracks sent back (Reuse these settings, a clip's motion) are in their own canvas's size; placed on this one.
    state.width = data.width; state.height = data.height; state.frames = data.frames;
    state.tracks = data.tracks.map((track) => track.map((p) => ({ x: p.x, y: p.y, frame: p.frame })));
    // A track whose points are spread evenly keeps being spread as points are added; others keep their frames.
    state.tracks.forEach((track) => { if (!evenlyTimed(track, data.frames)) timed.add(track); });
    // Ready for a new track, as after New track; unless the last one still needs points (a refused form).
    if (!state.tracks.length || state.tracks[state.tracks.length - 1].length >= 2) state.tracks.push([]);
    state.current = state.tracks.length - 1;
    state.selected = null;
    resize(formSize());
  }

  // --- A picture or clip to draw over: its first frame, read in the browser (nothing is uploaded)
  document.getElementById("tracks-background").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (!file) { background = null; draw(); return; }
    const url = URL.createObjectURL(file);
    if (file.type.startsWith("image/")) {
      const image = new Image();
      image.onload = () => { background = image; draw(); };
      image.src = url;
      return;
    }
    const video = document.createElement("video");
    video.muted = true; video.playsInline = true; video.preload = "auto";
    video.addEventListener("loadeddata", () => { video.currentTime = 0; }, { once: true });
    video.addEventListener("seeked", () => {
      const still = document.createElement("canvas");
      still.width = video.videoWidth; still.height = video.videoHeight;
      still.getContext("2d").drawImage(video, 0, 0);
      background = still; draw();
      URL.revokeObjectURL(url);
    }, { once: true });
    video.src = url;
  });

  // --- A clip's own motion, once the server has followed it (the htmx part brings its keypoints)
  document.body.addEventListener("htmx:afterSwap", () => {
    const data = document.getElementById("clip-tracks-data");
    if (!data || data.dataset.loaded) return;
    data.dataset.loaded = "1";
    const size = formSize();
    load({ ...size, tracks: JSON.parse(data.textContent) });
    update();
  });

  document.querySelectorAll("[data-opens-tracks]").forEach((link) => link.addEventListener("click", () => {
    document.getElementById("tracks-card").open = true;
  }));
  document.getElementById("tracks-card").addEventListener("toggle", () => draw());
  window.addEventListener("resize", draw);

  Object.assign(state, formSize());
  if (field.value) {
    try { load(JSON.parse(field.value)); } catch (error) { field.value = ""; }
  }
  update();
})();
