// Drag-and-drop upload with one request per file, so each shows its own progress and a refused file
// never takes the others down. Files larger than one piece go in pieces (datasets/resumable.py): a dropped
// connection is retried from the last stored byte, and the same file dropped again after a reload goes on
// where it stopped (the page lists such unfinished uploads). Without this script the form still posts all files
// at once.

// A link to one pair (#pair-12) opens the folded pair list it is in.
(function () {
  "use strict";
  function reveal() {
    const target = location.hash.length > 1 && document.getElementById(location.hash.slice(1));
    let opened = false;
    for (let el = target && target.parentElement; el; el = el.parentElement) {
      if (el.tagName === "DETAILS" && !el.open) { el.open = true; opened = true; }
    }
    if (opened) target.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  if (location.hash) document.addEventListener("DOMContentLoaded", reveal);
})();

(function () {
  "use strict";
  const form = document.querySelector("form[data-upload]");
  if (!form || !window.XMLHttpRequest) return;
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".dropzone");
  const list = form.querySelector("[data-upload-list]");
  const fold = form.querySelector("[data-upload-fold]");
  const summary = form.querySelector("[data-upload-summary]");
  const submit = form.querySelector(".upload-submit");
  const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  // The rows fold under one line: open while files are sent, closed once all arrived, open on any problem.
  function tell() {
    const rows = Array.from(list.children);
    const count = function (state) { return rows.filter(function (li) { return li.dataset.state === state; }).length; };
    const sent = count("done");
    const failed = count("failed");
    const busy = rows.length - sent - failed;
    const files = function (n) { return n + (n === 1 ? " file" : " files"); };
    if (busy) summary.textContent = "Uploading " + files(rows.length) + ": " + sent + " sent so far";
    else if (!failed) summary.textContent = files(sent) + " uploaded";
    else summary.textContent = sent + " of " + files(rows.length) + " uploaded; " + failed + " not, see why below";
  }

  function settle(ui, state) {
    ui.li.dataset.state = state;
    tell();
  }

  function row(name) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = name;
    const state = document.createElement("span");
    state.className = "muted";
    state.textContent = "waiting";
    const bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + name);
    li.append(label, state, bar);
    li.dataset.state = "waiting";
    list.append(li);
    return { li, state, bar };
  }

  function send(file, path, ui) {
    return new Promise(function (resolve) {
      const data = new FormData();
      data.append("files", file, file.name);
      data.append("paths", path);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { ui.bar.value = Math.round(100 * e.loaded / e.total); ui.state.textContent = ui.bar.value + "%"; }
      };
      xhr.onload = function () {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = { ok: false, problems: ["The server answered " + xhr.status + "."] }; }
        ui.bar.value = 100;
        if (body.ok) { ui.state.textContent = "uploaded"; ui.state.className = "good"; settle(ui, "done"); }
        else refuse(ui, body.problems);
        resolve(body.ok);
      };
      xhr.onerror = function () {
        ui.state.textContent = "connection lost"; ui.state.className = "bad"; settle(ui, "failed"); resolve(false);
      };
      ui.state.textContent = "0%";
      xhr.send(data);
    });
  }

  const chunkBytes = parseInt(form.dataset.chunkBytes || "0", 10);
  const RETRIES = 8; // about four minutes of waiting, doubling from 1 s to 30 s
  const PUTTING_TOGETHER_CHECKS = 400; // every 3 s: twenty minutes, past the server's own 15 for a stuck one

  function sleep(seconds) { return new Promise(function (r) { setTimeout(r, seconds * 1000); }); }

  function refuse(ui, problems) {
    ui.state.textContent = "refused"; ui.state.className = "bad";
    const why = document.createElement("span");
    why.className = "bad";
    why.textContent = (problems || []).join(" ");
    ui.li.append(why);
    settle(ui, "failed");
    return false;
  }

  // Resolves {status, body}; rejects when the connection is lost (then the caller retries).
  function request(method, url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.setRequestHeader("Accept", "application/json");
      Object.keys(headers || {}).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      if (onProgress) xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () {
        let parsed = null;
        try { parsed = JSON.parse(xhr.responseText); } catch (err) { parsed = null; }
        // A proxy's error page or a restarting server: worth another try, like a lost connection.
        if (xhr.status >= 500 || parsed === null) reject(new Error("status " + xhr.status));
        else resolve({ status: xhr.status, body: parsed });
      };
      xhr.onerror = function () { reject(new Error("connection lost")); };
      xhr.send(body);
    });
  }

  async function sendInPieces(file, path, ui) {
    const fields = new FormData();
    fields.append("name", path);
    fields.append("size", String(file.size));
    fields.append("fingerprint", String(file.lastModified || ""));
    let upload = null;
    for (let attempt = 0; upload === null; attempt++) {
      try {
        const answer = await request("POST", form.dataset.resumableUrl, fields);
        if (!answer.body.ok) return refuse(ui, answer.body.problems);
        upload = answer.body;
      } catch (lost) {
        if (attempt >= RETRIES) return pause(ui, "connection lost. Drop the file again to go on.");
        await waitAndSay(ui, attempt);
      }
    }
    unlist(upload.url);
    let received = upload.received;
    const show = function (extra) {
      ui.bar.value = Math.floor(100 * (received + extra) / file.size);
      ui.state.textContent = ui.bar.value + "%";
    };
    if (received > 0) { show(0); ui.state.textContent = "going on from " + ui.bar.value + "%"; }
    let failures = 0;
    let waited = 0;
    while (true) {
      let answer;
      try {
        if (received < file.size) {
          const end = Math.min(received + upload.chunk_bytes, file.size);
          answer = await request("POST", upload.url, file.slice(received, end),
            { "Upload-Offset": String(received), "Content-Type": "application/octet-stream" }, show);
        } else {
          // Every byte is there and the server is putting the file together: ask until it says how that went.
          if (waited++ >= PUTTING_TOGETHER_CHECKS) return pause(ui, "the server is still putting the file together; it appears in your clips once stored.");
          ui.state.textContent = "putting the file together…";
          await sleep(3);
          answer = await request("GET", upload.url);
        }
      } catch (lost) {
        if (failures >= RETRIES) return pause(ui, "connection lost. Drop the file again to go on.");
        await waitAndSay(ui, failures++);
        // Ask how much arrived. The lost answer may have been the last one: then this is that answer.
        try { answer = await request("GET", upload.url); } catch (still) { continue; }
      }
      if (answer.status === 409 || (answer.body.ok && !answer.body.done)) {
        received = answer.body.received; // where the server's stored bytes end
        if (answer.status !== 409) failures = 0;
        if (received < file.size) show(0);
        continue;
      }
      if (!answer.body.ok) return refuse(ui, answer.body.problems);
      ui.bar.value = 100; ui.state.textContent = "uploaded"; ui.state.className = "good";
      settle(ui, "done");
      return true;
    }
  }

  function pause(ui, why) {
    ui.state.textContent = "paused at " + ui.bar.value + "%: " + why;
    ui.state.className = "bad";
    settle(ui, "failed");
    return false;
  }

  // This upload goes on here: its line among the unfinished uploads (listed after a reload) would only repeat it.
  function unlist(url) {
    const box = document.getElementById("unfinished");
    if (!box) return;
    box.querySelectorAll("li[data-upload-url]").forEach(function (li) { if (li.dataset.uploadUrl === url) li.hidden = true; });
    if (!box.querySelector("li[data-upload-url]:not([hidden])")) box.hidden = true;
  }

  async function waitAndSay(ui, attempt) {
    const seconds = Math.min(30, Math.pow(2, attempt));
    for (let left = seconds; left > 0; left--) {
      ui.state.textContent = "connection lost, trying again in " + left + " s";
      await sleep(1);
    }
  }

  async function uploadAll(entries) {
    if (!entries.length) return;
    submit.disabled = true;
    const rows = entries.map(function (e) { return row(e.path); });
    fold.hidden = false;
    fold.open = true;
    tell();
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (chunkBytes && form.dataset.resumableUrl && entry.file.size > chunkBytes) await sendInPieces(entry.file, entry.path, rows[i]);
      else await send(entry.file, entry.path, rows[i]);
    }
    submit.disabled = false;
    input.value = "";
    if (!list.querySelector("li[data-state=failed]")) fold.open = false;
    if (window.htmx) {
      htmx.ajax("GET", form.dataset.pairsUrl || location.pathname + "pairs/", { target: "#pairs", swap: "outerHTML" });
      const unfinished = document.getElementById("unfinished");
      if (unfinished) htmx.ajax("GET", unfinished.dataset.unfinishedUrl, { target: "#unfinished", swap: "outerHTML" });
    }
  }

  // Folders dropped from the desktop keep their structure (targets/, references/).
  function walk(entry, prefix) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (f) { resolve([{ file: f, path: prefix + f.name }]); }, function () { resolve([]); });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const all = [];
        (function more() {
          reader.readEntries(async function (batch) {
            if (!batch.length) {
              const nested = await Promise.all(all.map(function (e) { return walk(e, prefix + entry.name + "/"); }));
              resolve(nested.flat());
            } else { all.push.apply(all, batch); more(); }
          }, function () { resolve([]); });
        })();
      } else { resolve([]); }
    });
  }

  const folder = form.querySelector("input[data-folder]");
  if (folder && "webkitdirectory" in folder) {
    form.querySelector("[data-folder-pick]").hidden = false;
    folder.addEventListener("change", function () {
      uploadAll(Array.from(folder.files).map(function (f) { return { file: f, path: f.webkitRelativePath || f.name }; }));
      folder.value = "";
    });
  }

  form.addEventListener("submit", function (e) {
    if (!input.files.length) return;
    e.preventDefault();
    uploadAll(Array.from(input.files).map(function (f) { return { file: f, path: f.webkitRelativePath || f.name }; }));
  });
  input.addEventListener("change", function () {
    uploadAll(Array.from(input.files).map(function (f) { return { file: f, path: f.webkitRelativePath || f.name }; }));
  });
  ["dragenter", "dragover"].forEach(function (t) {
    zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", async function (e) {
    const items = Array.from(e.dataTransfer.items || []);
    const entries = items.map(function (it) { return it.webkitGetAsEntry && it.webkitGetAsEntry(); }).filter(Boolean);
    const files = entries.length
      ? (await Promise.all(entries.map(function (en) { return walk(en, ""); }))).flat()
      : Array.from(e.dataTransfer.files).map(function (f) { return { file: f, path: f.name }; });
    uploadAll(files);
  });
})();
