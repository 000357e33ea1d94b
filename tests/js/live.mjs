// Listens to the live-reload namespace of a running `keystone-rs serve` with the official
// socket.io-client and prints one JSON line per event, until stdin closes.
//
//   node live.mjs events <baseUrl>      prints {"event":"connected"} then each event
//   node live.mjs first-msg <baseUrl>   prints the first `msg` a new "/" socket gets
import { io } from "socket.io-client";

const [mode, baseUrl] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");
setTimeout(() => {
  console.error("live.mjs: gave up after 60 s");
  process.exit(1);
}, 60000).unref();

if (mode === "events") {
  const socket = io(baseUrl + "/__keystone", { transports: ["websocket"], forceNew: true });
  socket.on("connect", () => print({ event: "connected" }));
  socket.onAny((event, data) => print({ event, data: data ?? null }));
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
} else if (mode === "first-msg") {
  const socket = io(baseUrl, { transports: ["websocket"], forceNew: true });
  const timer = setTimeout(() => {
    console.error("live.mjs: no msg within 5 s");
    process.exit(1);
  }, 5000);
  socket.on("msg", (msg) => {
    clearTimeout(timer);
    print({ msg });
    process.exit(0);
  });
} else {
  console.error(`live.mjs: unknown mode ${mode}`);
  process.exit(2);
}
