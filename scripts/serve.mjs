// A small static file server on 127.0.0.1.
//
// Run as a script (`node scripts/serve.mjs [--port N]`, or PORT=N), it
// serves the dashboard as `npm start` does: www/ at `/` (with the build in
// www/dist/) and pkg/ at `/pkg/`, prints the URL, and stops cleanly on
// Ctrl-C. Imported, `serve()` gives the test harness the same server over
// the whole repository on a free port.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ts": "text/plain",
  ".md": "text/plain; charset=utf-8",
};

/** What `npm start` serves: URL prefix → folder of the repository. */
export const DASHBOARD_MOUNTS = [
  ["/pkg/", "pkg"],
  ["/", "www"],
];

/** Maps a URL path to a file under one of the mounts, or null. */
function resolve(mounts, urlPath) {
  let path;
  try {
    path = normalize(decodeURIComponent(urlPath)).replaceAll(sep, "/");
  } catch {
    return null;
  }
  if (path.split("/").includes("..")) return null;
  for (const [prefix, folder] of mounts) {
    if (path.startsWith(prefix) || `${path}/` === prefix) {
      return join(ROOT, folder, path.slice(prefix.length));
    }
  }
  return null;
}

/**
 * Starts the server. `mounts` maps URL prefixes to folders of the
 * repository (default: the whole repository at `/`); port 0 picks a free one.
 */
export async function serve({ mounts = [["/", ""]], host = "127.0.0.1", port = 0 } = {}) {
  const server = createServer(async (req, res) => {
    let file = resolve(mounts, new URL(req.url, "http://x").pathname);
    if (file === null) {
      res.writeHead(403).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, ok);
  });
  return { server, origin: `http://${host}:${server.address().port}` };
}

/** The port of `--port N`, `--port=N` or PORT=N (default 8080); throws on a bad one. */
export function portFromArgs(argv, env) {
  const i = argv.indexOf("--port");
  const raw = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith("--port="))?.slice(7) ?? env.PORT;
  if (raw === undefined || raw === "") return 8080;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid port ${JSON.stringify(raw)}: give a number from 0 to 65535`);
  }
  return port;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let port;
  try {
    port = portFromArgs(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(error.message);
    process.exit(2);
  }
  const { server, origin } = await serve({ mounts: DASHBOARD_MOUNTS, port }).catch((error) => {
    console.error(`cannot listen on 127.0.0.1:${port}: ${error.message}`);
    process.exit(1);
  });
  console.log(`twinkit dashboard: ${origin}/`);
  console.log(`plain-JavaScript example: ${origin}/examples/plain-js.html`);
  console.log("Ctrl-C stops the server.");
  const stop = () => {
    console.log("\nstopping");
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
