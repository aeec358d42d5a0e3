// A stand-in for the AWS IoT Device Shadow service, for tests: a plain
// MQTT 3.1.1 client (QoS 0, over TCP to mosquitto on 127.0.0.1) that keeps
// classic shadows and answers `get` and `update` on
// `$aws/things/{thing}/shadow/...` the way AWS documents it: `get/accepted`
// with the whole document, `update/accepted` with the request's state,
// `update/delta` when desired differs from reported, `update/rejected` 409
// "Version conflict" when a request's `version` is not the shadow's.
import { connect } from "node:net";

function varint(n) {
  const out = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function str(s) {
  const b = Buffer.from(s, "utf8");
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function packet(first, body) {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** Merges `patch` into `target` as the shadow does: `null` deletes. */
function merge(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (isObject(v)) target[k] = merge(isObject(target[k]) ? target[k] : {}, v);
    else target[k] = v;
  }
  return target;
}

/** Desired values that differ from reported. */
function delta(desired, reported) {
  const out = {};
  for (const [k, v] of Object.entries(desired)) {
    if (JSON.stringify(v) !== JSON.stringify(reported[k])) out[k] = v;
  }
  return out;
}

export async function startShadowService(port) {
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const shadows = new Map();
  /** Every request the service received: `{ thing, topic, request }`. */
  const requests = [];
  let buffer = Buffer.alloc(0);
  let connacked;
  const ready = new Promise((resolve) => (connacked = resolve));
  let subacked;

  const send = (bytes) => socket.write(bytes);
  const publish = (topic, payload) =>
    send(packet(0x30, Buffer.concat([str(topic), Buffer.from(JSON.stringify(payload))])));
  const now = () => Math.floor(Date.now() / 1000);
  const shadow = (thing) => {
    if (!shadows.has(thing)) shadows.set(thing, { desired: {}, reported: {}, version: 1 });
    return shadows.get(thing);
  };

  /** Applies an update request; publishes what AWS would. */
  function update(thing, request, { silent = false } = {}) {
    const base = `$aws/things/${thing}/shadow`;
    const doc = shadow(thing);
    const token = request.clientToken === undefined ? {} : { clientToken: request.clientToken };
    if (!isObject(request.state)) {
      publish(`${base}/update/rejected`, { code: 400, message: "Missing required node: state", timestamp: now(), ...token });
      return;
    }
    if (request.version !== undefined && request.version !== doc.version) {
      publish(`${base}/update/rejected`, { code: 409, message: "Version conflict", timestamp: now(), ...token });
      return;
    }
    const { desired, reported } = request.state;
    if (desired === null) doc.desired = {};
    else if (isObject(desired)) merge(doc.desired, desired);
    if (reported === null) doc.reported = {};
    else if (isObject(reported)) merge(doc.reported, reported);
    doc.version += 1;
    if (silent) return;
    publish(`${base}/update/accepted`, { state: request.state, version: doc.version, timestamp: now(), ...token });
    const differs = delta(doc.desired, doc.reported);
    if (isObject(desired) && Object.keys(differs).length > 0) {
      publish(`${base}/update/delta`, { state: differs, version: doc.version, timestamp: now() });
    }
  }

  function handle(first, body) {
    const type = first >> 4;
    if (type === 2) connacked();
    else if (type === 9) subacked?.();
    else if (type === 3) {
      const length = body.readUInt16BE(0);
      const topic = body.subarray(2, 2 + length).toString("utf8");
      const qos = (first >> 1) & 3;
      const payload = body.subarray(2 + length + (qos > 0 ? 2 : 0));
      const match = /^\$aws\/things\/([^/]+)\/shadow\/(update|get)$/.exec(topic);
      if (!match) return;
      const [, thing, verb] = match;
      let request = {};
      try {
        request = payload.length === 0 ? {} : JSON.parse(payload.toString("utf8"));
      } catch {
        publish(`$aws/things/${thing}/shadow/${verb}/rejected`, { code: 400, message: "Payload contains invalid json", timestamp: now() });
        return;
      }
      requests.push({ thing, topic: verb, request });
      if (verb === "get") {
        const doc = shadow(thing);
        const differs = delta(doc.desired, doc.reported);
        const state = { desired: doc.desired, reported: doc.reported };
        if (Object.keys(differs).length > 0) state.delta = differs;
        const token = request.clientToken === undefined ? {} : { clientToken: request.clientToken };
        publish(`$aws/things/${thing}/shadow/get/accepted`, { state, version: doc.version, timestamp: now(), ...token });
      } else {
        update(thing, request);
      }
    }
  }

  socket.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let i = 1;
      for (;; i++) {
        if (i >= buffer.length) return;
        length += (buffer[i] & 0x7f) * multiplier;
        multiplier *= 128;
        if ((buffer[i] & 0x80) === 0) break;
      }
      const end = i + 1 + length;
      if (buffer.length < end) return;
      handle(buffer[0], buffer.subarray(i + 1, end));
      buffer = buffer.subarray(end);
    }
  });

  // CONNECT: "MQTT", level 4, clean session, keepalive 0 (the test is short).
  send(packet(0x10, Buffer.concat([str("MQTT"), Buffer.from([4, 0x02, 0, 0]), str(`shadow-service-${process.pid}`)])));
  await ready;
  const subscribed = new Promise((resolve) => (subacked = resolve));
  const filters = ["$aws/things/+/shadow/update", "$aws/things/+/shadow/get"];
  send(packet(0x82, Buffer.concat([Buffer.from([0, 1]), ...filters.map((f) => Buffer.concat([str(f), Buffer.from([0])]))])));
  await subscribed;

  return {
    requests,
    /** The shadow document of `thing`: `{ desired, reported, version }`. */
    shadow,
    /** Another client (or the device) updates the shadow, as over MQTT. */
    update: (thing, state) => update(thing, { state }),
    /** Changes the shadow without telling anyone (a change whose messages are still on their way). */
    updateUnseen: (thing, state) => update(thing, { state }, { silent: true }),
    close: () => new Promise((resolve) => socket.end(resolve)),
  };
}
