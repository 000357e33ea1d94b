// Probes the Admin UI's socket namespace with the official socket.io-client:
//   node admin-socket.mjs <baseUrl> <cookie or ""> <origin> [watch|hostile]
// Prints JSON lines: {"event":"refused"|"connected"}; with `watch`, it watches PostCategory
// and then prints {"event":"watching"}, each {"event":"changed","data":…} and
// {"event":"disconnect"}; with `hostile`, malformed and too many watches, then
// {"event":"hostile","bad":[…],"joined":n,"connected":…}. Exits 0 when refused or, without `watch`, once connected.
import { io } from "socket.io-client";

const [base, cookie, origin, mode] = process.argv.slice(2);
const print = (value) => console.log(JSON.stringify(value));
setTimeout(() => {
  console.error("admin-socket.mjs: hung");
  process.exit(1);
}, 30000).unref();

const extraHeaders = { Origin: origin };
if (cookie) extraHeaders.Cookie = cookie;
const socket = io(base + "/__keystone_admin", {
  transports: ["websocket"],
  forceNew: true,
  reconnection: false,
  timeout: 5000,
  extraHeaders,
});
socket.on("connect_error", (err) => {
  print({ event: "refused", message: err.message });
  process.exit(0);
});
socket.on("connect", async () => {
  print({ event: "connected" });
  if (!mode) {
    socket.close();
    process.exit(0);
  }
  if (mode === "hostile") {
    const ask = (payload) => socket.timeout(2000).emitWithAck("watch", payload).catch(() => "no answer");
    const bad = [];
    for (const payload of [{ list: "../etc" }, { list: "Post", id: "<script>" }, { list: "x".repeat(10000) }, 5, null]) {
      bad.push(await ask(payload));
    }
    let joined = 0;
    for (let i = 0; i < 40; i++) if ((await ask({ list: "Post", id: String(i).padStart(24, "0") })) === true) joined++;
    print({ event: "hostile", bad, joined, connected: socket.connected });
    socket.close();
    process.exit(0);
  }
  const joined = await socket.timeout(5000).emitWithAck("watch", { list: "PostCategory" });
  print({ event: joined ? "watching" : "not-watching" });
});
socket.on("changed", (data) => print({ event: "changed", data }));
socket.on("disconnect", (reason) => {
  print({ event: "disconnect", reason });
  process.exit(0);
});
