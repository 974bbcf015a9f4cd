// Drag-and-drop upload with one request per file, so each shows its own progress and a refused file
// never takes the others down. Without this script the form still posts all files at once.
(function () {
  "use strict";
  const form = document.querySelector("form[data-upload]");
  if (!form || !window.XMLHttpRequest) return;
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".dropzone");
  const list = form.querySelector("[data-upload-list]");
  const submit = form.querySelector(".upload-submit");
  const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;

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
        if (body.ok) { ui.state.textContent = "uploaded"; ui.state.className = "good"; }
        else {
          ui.state.textContent = "refused"; ui.state.className = "bad";
          const why = document.createElement("span");
          why.className = "bad";
          why.textContent = (body.problems || []).join(" ");
          ui.li.append(why);
        }
        resolve(body.ok);
      };
      xhr.onerror = function () { ui.state.textContent = "connection lost"; ui.state.className = "bad"; resolve(false); };
      ui.state.textContent = "0%";
      xhr.send(data);
    });
  }

  async function uploadAll(entries) {
    if (!entries.length) return;
    submit.disabled = true;
    const rows = entries.map(function (e) { return row(e.path); });
    for (let i = 0; i < entries.length; i++) {
      await send(entries[i].file, entries[i].path, rows[i]);
    }
    submit.disabled = false;
    input.value = "";
    if (window.htmx) htmx.ajax("GET", form.dataset.pairsUrl || location.pathname + "pairs/", { target: "#pairs", swap: "outerHTML" });
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
