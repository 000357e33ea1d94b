// Listens on a namespace with the official socket.io-client and prints what arrives:
//   node listen.mjs <url with namespace> <event> [<event>…]
// Prints {"event":"connected"} once connected, then {"event":NAME,"data":…} per event.
import { io } from "socket.io-client";

const [url, ...events] = process.argv.slice(2);
const print = (value) => console.log(JSON.stringify(value));
setTimeout(() => process.exit(0), 60000).unref();
const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 5000 });
socket.on("connect_error", (err) => {
  print({ event: "refused", message: err.message });
  process.exit(0);
});
socket.on("connect", () => print({ event: "connected" }));
for (const name of events) socket.on(name, (data) => print({ event: name, data }));
