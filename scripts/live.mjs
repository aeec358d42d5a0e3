// `npm start -- --live`: the dashboard against live devices. Starts
// mosquitto (tests/mosquitto/mosquitto.conf.template, free loopback ports,
// a fresh data directory: the helper the connection tests use) and the
// twinkit-sim binary (target/debug/twinkit-sim, built by scripts/start.sh)
// serving its fleet over MQTT through mosquitto and over its own WebSocket
// and HTTP servers, then serves the dashboard and prints one URL per
// connection type. Ctrl-C (or SIGTERM) stops the server, the simulator and
// the broker.
//
// Options: --port N (or PORT=N; default 8080), --devices N (default 6),
// --interval MS (telemetry interval, default 1000).
import { freePort, startMosquitto, startSim } from "../tests/connections/services.mjs";
import { DASHBOARD_MOUNTS, portFromArgs, serve } from "./serve.mjs";

function option(argv, name, fallback, min, max) {
  const i = argv.indexOf(`--${name}`);
  const raw = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`--${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  }
  return n;
}

const argv = process.argv.slice(2).filter((a) => a !== "--live");
let port, devices, interval;
try {
  port = portFromArgs(argv, process.env);
  devices = option(argv, "devices", 6, 1, 500);
  interval = option(argv, "interval", 1000, 50, 10_000);
} catch (error) {
  console.error(error.message);
  process.exit(2);
}

let broker, sim, server;
let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  console.log("\nstopping the server, the simulator and mosquitto");
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  // The simulator first, so it announces its devices offline while the
  // broker is still up.
  await sim?.stop();
  await broker?.stop();
  process.exit(code);
}
process.once("SIGINT", () => stopAll(0));
process.once("SIGTERM", () => stopAll(0));

try {
  broker = await startMosquitto();
  const wsPort = await freePort();
  const httpPort = await freePort();
  sim = await startSim(
    ["--mqtt", `127.0.0.1:${broker.ports.tcp}`, "--ws", `127.0.0.1:${wsPort}`, "--http", `127.0.0.1:${httpPort}`,
      "--devices", String(devices), "--interval", String(interval), "--prefix", "twinkit", "--time-scale", "60"],
    [wsPort, httpPort],
  );
  ({ server } = await serve({ mounts: DASHBOARD_MOUNTS, port }));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const common = `devices=${devices}&rate=${1000 / interval}`;
  console.log(`mosquitto: mqtt://127.0.0.1:${broker.ports.tcp}, MQTT over WebSocket ws://127.0.0.1:${broker.ports.ws} (log ${broker.logFile})`);
  console.log(`twinkit-sim: ${devices} devices every ${interval} ms, prefix twinkit (log ${sim.logFile})`);
  console.log(`twinkit dashboard, live over MQTT: ${origin}/?live=mqtt&broker=ws://127.0.0.1:${broker.ports.ws}&${common}`);
  console.log(`  over WebSocket JSON: ${origin}/?live=websocket&url=ws://127.0.0.1:${wsPort}/&${common}`);
  console.log(`  over HTTP: ${origin}/?live=http&url=http://127.0.0.1:${httpPort}&${common}`);
  console.log(`  embedded simulation (no network): ${origin}/`);
  console.log("Ctrl-C stops all of them.");
} catch (error) {
  console.error(`live mode did not start: ${error.message}`);
  await stopAll(1);
}
