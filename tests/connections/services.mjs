// The real peers of the connection tests, on 127.0.0.1 only: mosquitto
// (from tests/mosquitto/mosquitto.conf.template, fresh ports and data
// directory) and the twinkit-sim device simulator. Both are stopped when
// the test process ends, whatever the outcome.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, appendFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WAIT_MS = 15_000;
/** The broker's test account: made for each run, not a secret. */
export const MQTT_USER = "twin";
export const MQTT_PASSWORD = "twin-test-password";

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listening(port) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => { socket.destroy(); resolve(true); });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function start(command, args, logFile) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const log = (chunk) => appendFileSync(logFile, chunk);
  child.stdout.on("data", log);
  child.stderr.on("data", log);
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Starts mosquitto; `restart()` stops it with SIGTERM (it saves its sessions) and starts it again on the same ports. */
export async function startMosquitto() {
  const dir = mkdtempSync(join(tmpdir(), "twinkit-mosquitto-"));
  chmodSync(dir, 0o777); // mosquitto started as root drops to its own user
  const passwd = join(dir, "passwd");
  execFileSync("mosquitto_passwd", ["-c", "-b", passwd, MQTT_USER, MQTT_PASSWORD], { stdio: "ignore" });
  chmodSync(passwd, 0o644);
  const ports = { tcp: await freePort(), ws: await freePort(), auth: await freePort(), wsAuth: await freePort() };
  const config = readFileSync(join(ROOT, "tests/mosquitto/mosquitto.conf.template"), "utf8")
    .replaceAll("@TCP_PORT@", ports.tcp)
    .replaceAll("@WS_PORT@", ports.ws)
    .replaceAll("@AUTH_PORT@", ports.auth)
    .replaceAll("@WS_AUTH_PORT@", ports.wsAuth)
    .replaceAll("@DATA_DIR@", dir);
  writeFileSync(join(dir, "mosquitto.conf"), config);
  const logFile = join(dir, "mosquitto.log");
  let child;
  const broker = {
    ports,
    logFile,
    async start() {
      child = start("/usr/sbin/mosquitto", ["-c", join(dir, "mosquitto.conf")], logFile);
      for (const port of Object.values(ports)) await listening(port);
    },
    async stop() {
      await stop(child);
    },
    async restart() {
      await broker.stop();
      await broker.start();
    },
  };
  await broker.start();
  return broker;
}

/** Starts the simulator binary (built by the test script) with `args`. */
export async function startSim(args, portsToWaitFor) {
  const dir = mkdtempSync(join(tmpdir(), "twinkit-sim-"));
  const logFile = join(dir, "sim.log");
  const binary = process.env.TWINKIT_SIM ?? join(ROOT, "target/debug/twinkit-sim");
  const child = start(binary, args, logFile);
  for (const port of portsToWaitFor) await listening(port);
  return {
    logFile,
    async stop() {
      await stop(child);
    },
  };
}
