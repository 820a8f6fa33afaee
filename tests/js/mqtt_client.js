// mqtt_client.js — MQTT.js (npm mqtt) through Iridium's MQTT bridge, for
// tests/mqtt/test_mqtt_clients.py. Reads a JSON plan (argv[2]):
//   {url, protocolVersion, clientId, ca?, subscribe, expect, publish: [{topic, payload, qos}]}
// connects, subscribes to `subscribe` at QoS 2, prints {"ready":true,"granted":[..]},
// waits for `expect` messages, publishes each of `publish` (waiting for its
// acknowledgement), then prints {"received":[{topic,payload,qos}],"published":n}
// and exits. Every wait is bounded (plan.timeout_ms, default 20 s).
"use strict";
const fs = require("fs");
const path = require("path");
const mqtt = require(path.join(__dirname, "node_modules", "mqtt"));

const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const fail = (why) => {
  out({ error: String(why) });
  process.exit(1);
};
setTimeout(() => fail("timed out"), plan.timeout_ms || 20000).unref();

const opts = {
  protocolVersion: plan.protocolVersion,
  clientId: plan.clientId,
  reconnectPeriod: 0,
  connectTimeout: 10000,
};
if (plan.ca) opts.ca = fs.readFileSync(plan.ca);
const client = mqtt.connect(plan.url, opts);
const received = [];
let published = 0;

client.on("error", (e) => fail(e.message || e));
client.on("close", () => {
  if (published < plan.publish.length) fail("closed early");
});
client.on("message", (topic, payload, packet) => {
  received.push({ topic, payload: payload.toString(), qos: packet.qos });
  if (received.length === plan.expect) publishAll();
});
client.on("connect", () => {
  client.subscribe(plan.subscribe, { qos: 2 }, (err, granted) => {
    if (err) fail(err.message);
    out({ ready: true, granted: granted.map((g) => g.qos) });
    if (plan.expect === 0) publishAll();
  });
});

async function publishAll() {
  for (const p of plan.publish) {
    await client.publishAsync(p.topic, p.payload, { qos: p.qos });
    published++;
  }
  out({ received, published });
  client.end(false, () => process.exit(0));
}
