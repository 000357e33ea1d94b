// Holds N socket.io connections open against a running `keystone-rs serve`, for serve.sh's
// memory measurement. Uses the official socket.io-client installed under tests/js.
//
//   node benches/sockets.mjs <baseUrl> <cookie "keystone.sid=..."> [count=1000]
//
// Every socket connects over websocket with the visitor's cookie and must receive the `msg`
// event the scaffold's sockets/index.rhai emits on connect. Then it prints "connected N" and
// holds the sockets until stdin closes or it gets SIGTERM/SIGINT. Gives up after 60 s.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const jsDir = process.env.KEYSTONE_JS_DIR ?? fileURLToPath(new URL("../tests/js/", import.meta.url));
const { io } = createRequire(jsDir + "/package.json")("socket.io-client");

const [baseUrl, cookie, countArg = "1000"] = process.argv.slice(2);
if (!baseUrl || !cookie) {
  console.error("usage: node sockets.mjs <baseUrl> <cookie> [count]");
  process.exit(2);
}
const count = Number(countArg);
const BATCH = 100;
const TIMEOUT_MS = 60_000;

const sockets = [];
function shutdown(code) {
  for (const s of sockets) s.disconnect();
  setTimeout(() => process.exit(code), 200).unref();
}
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
setTimeout(() => {
  const got = sockets.filter((s) => s.gotMsg).length;
  console.error(`timed out: ${got}/${count} sockets got "msg"`);
  shutdown(1);
}, TIMEOUT_MS).unref();

function open() {
  return new Promise((resolve, reject) => {
    const socket = io(baseUrl, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      extraHeaders: { cookie },
    });
    sockets.push(socket);
    socket.once("msg", (message) => {
      socket.gotMsg = true;
      if (message !== "Hello World") {
        reject(new Error(`unexpected msg ${JSON.stringify(message)}`));
      } else {
        resolve();
      }
    });
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
}

try {
  for (let done = 0; done < count; done += BATCH) {
    const batch = [];
    for (let i = done; i < Math.min(done + BATCH, count); i++) batch.push(open());
    await Promise.all(batch);
  }
} catch (err) {
  console.error(err.message);
  shutdown(1);
  await new Promise(() => {});
}
const connected = sockets.filter((s) => s.connected && s.gotMsg).length;
console.log(`connected ${connected}`);

// Hold until stdin closes (the parent went away) or a signal arrives.
const timer = setInterval(() => {}, 1 << 30);
process.stdin.on("end", () => {
  clearInterval(timer);
  shutdown(0);
});
process.stdin.on("error", () => {});
process.stdin.resume();
