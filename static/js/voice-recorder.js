// The Studio's voice field (an adapter trained with a reference voice): shown while such an adapter is chosen,
// recorded here with the microphone (MediaRecorder, webm/opus) or uploaded, with its length and a player to listen
// back. A recording is put into the form's own file input, so it is sent and checked exactly like an upload.
// Without scripts the upload works alone.
(function () {
  const field = document.getElementById("voice-field");
  if (!field) return;
  const input = document.getElementById("voice_upload");
  const player = document.getElementById("voice-player");
  const status = document.getElementById("voice-status");
  const MIN_SECONDS = 5;
  const MAX_SECONDS = 15; // only the first 15 s are used: recording stops there by itself

  // Follow the adapter chosen: the field is for adapters trained with a voice. A hidden field sends nothing (its
  // inputs are disabled), and what was recorded stays for when such an adapter is chosen again.
  const adapter = document.getElementById("adapter_choice");
  function follow() {
    const option = adapter && adapter.selectedOptions[0];
    if (!option || !option.value) return; // nothing chosen yet: as the server showed it
    field.hidden = option.dataset.voice !== "yes";
    field.querySelectorAll("input").forEach((box) => { box.disabled = field.hidden; });
  }
  if (adapter) adapter.addEventListener("change", follow);
  follow();

  let playerUrl = null;
  function listen(blob) {
    if (playerUrl) URL.revokeObjectURL(playerUrl);
    playerUrl = URL.createObjectURL(blob);
    player.src = playerUrl;
    player.hidden = false;
  }
  function seconds(value) { return `${value.toFixed(1)} s`; }
  function lengthNote(length) {
    if (length < MIN_SECONDS) return ` That is too short: at least ${MIN_SECONDS} s of the person speaking are needed.`;
    if (length > MAX_SECONDS) return ` Only the first ${MAX_SECONDS} s are used.`;
    return "";
  }

  const recorderBox = document.getElementById("voice-recorder");
  const say = (text) => { if (status) status.textContent = text; };

  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (!file) { player.hidden = true; return; }
    listen(file);
    say(`${file.name}: listen to it below.`);
    // A recording made elsewhere may not say how long it is until played; then no length is shown.
    player.onloadedmetadata = () => {
      if (Number.isFinite(player.duration)) say(`${file.name}: ${seconds(player.duration)}.${lengthNote(player.duration)}`);
    };
  });

  const canRecord = navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder &&
    window.DataTransfer;
  if (!canRecord || !recorderBox) return;
  recorderBox.hidden = false;
  const button = document.getElementById("voice-record");
  let recorder = null;
  let started = 0;
  let ticker = null;
  let limit = null;

  function type() {
    const wanted = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
    return wanted.find((t) => MediaRecorder.isTypeSupported(t)) || "";
  }
  function suffix(mime) {
    if (mime.includes("ogg")) return "ogg";
    if (mime.includes("mp4")) return "m4a";
    return "webm";
  }

  async function start() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      say(`The microphone could not be used (${error.name}): allow it for this site in your browser, or upload a ` +
        "recording instead.");
      return;
    }
    const mime = type();
    recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : {});
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      const length = (performance.now() - started) / 1000;
      const blobType = recorder.mimeType || mime || "audio/webm";
      const blob = new Blob(chunks, { type: blobType });
      const file = new File([blob], `voice-recording.${suffix(blobType)}`, { type: blobType });
      const files = new DataTransfer();
      files.items.add(file);
      input.files = files.files; // the form sends it as the upload
      player.onloadedmetadata = null; // its length is the time recorded (a recorder's webm does not say it)
      listen(blob);
      say(`Recorded ${seconds(length)}: listen to it below, or record again to replace it.${lengthNote(length)}`);
      button.textContent = "Record";
      button.setAttribute("aria-pressed", "false");
      recorder = null;
    });
    recorder.start(250);
    started = performance.now();
    button.textContent = "Stop";
    button.setAttribute("aria-pressed", "true");
    say("Recording… 0 s");
    ticker = setInterval(() => say(`Recording… ${Math.floor((performance.now() - started) / 1000)} s`), 500);
    limit = setTimeout(stop, MAX_SECONDS * 1000);
  }

  function stop() {
    clearInterval(ticker);
    clearTimeout(limit);
    if (recorder && recorder.state !== "inactive") recorder.stop();
  }

  button.addEventListener("click", () => { if (recorder) stop(); else start(); });
})();
