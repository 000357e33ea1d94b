// The Node reference stack for benches/versus.sh: Express 4 + express-session + socket.io 4
// telling the scaffold's story the way a Node app would, so both stacks take the same load.
//
//   node benches/node/app.mjs <port>        (prints "http://127.0.0.1:PORT/" once listening)
//
// GET / renders the scaffold's page (same HTML, same session writes: `message` and a CSRF
// token); the socket shares the session through `io.engine.use(session)` (socket.io's
// documented way), logs its connect and disconnect as the scaffold's script prints them,
// emits `msg` with `session.message` on connect, and re-emits every `chat`
// event to every socket of the namespace, sender included (`io.emit`). Sessions live in
// express-session's default MemoryStore. Never run by CI.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import express from "express";
import session from "express-session";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 0);
const secret = process.env.KEYSTONE_SECRET ?? randomBytes(48).toString("hex");

const app = express();
app.disable("x-powered-by");
const sessions = session({
  name: "keystone.sid",
  secret,
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: "lax", maxAge: 7 * 24 * 3600 * 1000 },
});
app.use(sessions);

const escape = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const navLinks = [{ label: "Home", key: "home", href: "/" }];

// The scaffold's layout + index view, as a template literal.
function page(section) {
  const nav = navLinks
    .map((l) => `<a href="${escape(l.href)}"${l.key === section ? ' class="active"' : ""}>${escape(l.label)}</a>`)
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>bench</title>
  <link rel="stylesheet" href="/styles/site.css?v=0123456789abcdef">
</head>
<body>
  <header>
    <nav>
      ${nav}
    </nav>
  </header>
  <main>
    
<h1>Welcome to bench</h1>
<p>This page's controller put a message in your session. The socket below shares that
session, so the server can send it back over Socket.IO: open the browser console.</p>

  </main>
  <script src="/socket.io/socket.io.js"></script>
  
<script>
  var socket = io();
  socket.on("msg", function (message) {
    console.log(message);
  });
</script>

</body>
</html>`;
}

app.get("/", (req, res) => {
  req.session.message = "Hello World";
  req.session._csrf ??= randomBytes(32).toString("hex");
  res.type("html").send(page("home"));
});

const server = createServer(app);
const io = new Server(server);
io.engine.use(sessions);
io.on("connection", (socket) => {
  console.log("--- User connected");
  const { session: visitor } = socket.request;
  socket.emit("msg", visitor?.message);
  socket.on("chat", (data) => io.emit("chat", data));
  socket.on("disconnect", () => console.log("--- User disconnected"));
});

server.listen(port, "127.0.0.1", () => {
  console.log(`node reference serving at http://127.0.0.1:${server.address().port}/`);
});
const stop = () => {
  io.close();
  server.close(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
