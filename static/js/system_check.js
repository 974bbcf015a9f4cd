// Shows worker answers to the operator's test tasks as they arrive over the websocket.
(function () {
  const list = document.getElementById("probe-answers");
  if (!list) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/ops/`);
  socket.addEventListener("message", (message) => {
    const answer = JSON.parse(message.data);
    const item = document.createElement("li");
    item.dataset.queue = answer.queue;
    item.textContent = `Queue ${answer.queue}: answered by ${answer.worker} in ${answer.latency_ms} ms`;
    list.appendChild(item);
  });
  socket.addEventListener("close", () => {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "Live connection closed. Reload the page to reconnect.";
    list.appendChild(item);
  });
})();
