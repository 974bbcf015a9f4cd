// Motion-track references are shown over their clip: the track video, which has the controls, lies on top of the
// clip (see wizard.css), and the clip follows whatever it does. Listeners sit on the document, catching media
// events on their way down (they do not bubble), because htmx replaces the pairs list while references are made.
(() => {
  "use strict";
  const DRIFT = 0.08; // seconds the clip may stray from the tracks while playing before it is moved back in step

  function follow(event, drift) {
    const tracks = event.target;
    if (!(tracks instanceof HTMLVideoElement) || !tracks.matches("[data-tracks-over-clip] video.tracks")) return;
    const clip = tracks.closest("[data-tracks-over-clip]").querySelector("video.under");
    if (!clip) return;
    if (Math.abs(clip.currentTime - tracks.currentTime) > drift) clip.currentTime = tracks.currentTime;
    clip.playbackRate = tracks.playbackRate;
    if (tracks.paused && !clip.paused) clip.pause();
    if (!tracks.paused && clip.paused) clip.play().catch(() => {}); // a tab in the background may refuse
  }

  for (const name of ["play", "pause", "seeking", "seeked", "ratechange", "ended"]) {
    document.addEventListener(name, (event) => follow(event, 0.01), true);
  }
  document.addEventListener("timeupdate", (event) => follow(event, DRIFT), true);
})();
