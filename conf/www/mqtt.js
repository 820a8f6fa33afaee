// conf/www/mqtt.js — the MQTT demo page's script (see mqtt.html): a live feed
// of demo/# from an EventSource, and a form that publishes to demo/chat.
"use strict";

const feed = document.getElementById("feed");
const status = document.getElementById("status");
const sent = document.getElementById("sent");

function show(topic, text, note) {
  const li = document.createElement("li");
  if (topic) {
    const code = document.createElement("code");
    code.textContent = topic;
    li.appendChild(code);
  }
  const span = document.createElement("span");
  span.textContent = text;
  if (note) span.className = "note";
  li.appendChild(span);
  feed.prepend(li);
  while (feed.children.length > 200) feed.lastChild.remove();
}

// An event's data: JSON with the topic and payload when it parses, else as is.
function showEvent(ev) {
  let topic = "", text = ev.data;
  try {
    const m = JSON.parse(ev.data);
    if (m && typeof m === "object") {
      topic = m.topic || "";
      text = m.payload !== undefined ? String(m.payload) : ev.data;
      if (m.encoding === "base64") text = "(binary, base64) " + text;
      if (m.retain) text += "  (retained)";
    }
  } catch (e) { /* not JSON: shown as it came */ }
  show(topic, text, ev.type !== "message");
}

const source = new EventSource("/mqtt/subscribe?topic=" + encodeURIComponent("demo/#"));
source.onopen = () => { status.textContent = "live"; };
source.onerror = () => { status.textContent = "reconnecting…"; };
source.onmessage = showEvent;
for (const name of ["status", "missed", "overflow", "closing"])
  source.addEventListener(name, showEvent);

document.getElementById("send").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("text");
  sent.textContent = "…";
  try {
    const r = await fetch("/mqtt/publish/demo/chat?qos=1", {method: "POST", body: input.value});
    sent.textContent = r.ok ? "sent" : "refused: " + r.status + " " + (await r.text()).trim();
    if (r.ok) input.value = "";
  } catch (e) {
    sent.textContent = "failed: " + e;
  }
});
