// A list hook reaching open pages: connects with the official socket.io-client, then asks
// for a page whose controller saves a Note; the Note's after_save hook calls io.emit.
//
//   node lists.mjs <baseUrl>
//
// Success: one JSON line { status, note } on stdout, exit 0; failure: stderr, exit 1.
import { io } from "socket.io-client";

const [base] = process.argv.slice(2);
setTimeout(() => {
  console.error("lists.mjs: hung");
  process.exit(1);
}, 20000).unref();

const socket = io(base, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 5000 });
socket.on("connect_error", (err) => {
  console.error(`lists.mjs: ${err.message}`);
  process.exit(1);
});
socket.once("connect", async () => {
  const saved = new Promise((resolve) => socket.on("note:saved", resolve));
  const response = await fetch(base + "/notes?text=hello%20hooks", { signal: AbortSignal.timeout(5000) });
  const note = await saved;
  console.log(JSON.stringify({ status: response.status, note }));
  socket.close();
  process.exit(0);
});
