// The browser's side of tests/test_browser.py.
//
// Speaks to our server on ws://127.0.0.1:<?ws=port>: a conversation on
// /main (echoes, messages the server makes, a ping from the server), a
// second connection on /close-me that the server closes, then a JSON
// report of everything this side saw, sent over /main, which the browser
// then closes with its own code and reason.  Any failure is sent to
// /error so that the test fails at once with the reason.
"use strict";

const PORT = new URLSearchParams(location.search).get("ws");
const BASE = `ws://127.0.0.1:${PORT}`;
const TEXT = "héllo from the browser ✓ 𝄞 中文 😀";
const MIB = 1 << 20;

function pattern(length, seed) {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + seed) & 255;
  return bytes;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// A WebSocket with next(): a promise of the next message, in order.
function connect(path, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(BASE + path, protocols);
    ws.binaryType = "arraybuffer";
    const queue = [];
    const waiters = [];
    ws.onmessage = (event) => (waiters.length ? waiters.shift()(event.data) : queue.push(event.data));
    ws.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
    ws.closed = new Promise((r) =>
      ws.addEventListener("close", (e) => r({code: e.code, reason: e.reason, wasClean: e.wasClean}))
    );
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`WebSocket error on ${path}`));
  });
}

async function main() {
  const checks = {};
  const ws = await connect("/main?from=chromium", ["chat.v1", "chat.v2"]);
  const report = {protocol: ws.protocol, extensions: ws.extensions, userAgent: navigator.userAgent, checks};

  // Our messages, echoed by the server.
  ws.send(TEXT);
  checks.text = (await ws.next()) === TEXT;
  const big = pattern(MIB, 3);
  ws.send(big);
  checks.binary = equal(new Uint8Array(await ws.next()), big);
  ws.send("");
  checks.emptyText = (await ws.next()) === "";
  ws.send(new Uint8Array(0));
  const empty = await ws.next();
  checks.emptyBinary = empty instanceof ArrayBuffer && empty.byteLength === 0;

  // Messages the server makes: fragmented ones arrive whole.
  ws.send("send yours");
  checks.serverFragmentedText = (await ws.next()) === "fragmented ✓ 𝄞";
  checks.serverFragmentedBinary = equal(new Uint8Array(await ws.next()), new Uint8Array([1, 2, 3, 4]));
  checks.serverBig = equal(new Uint8Array(await ws.next()), pattern(MIB, 5));
  checks.serverLongText = (await ws.next()) === "é𝄞中".repeat(100000);

  // The server pings; the browser answers by itself.
  ws.send("ping me");
  report.serverPing = await ws.next();

  // A connection the server closes.
  const other = await connect("/close-me", []);
  report.serverClose = await other.closed;

  ws.send(JSON.stringify(report));
  const ack = await ws.next();
  if (ack !== "report received") throw new Error(`unexpected reply to the report: ${ack}`);
  ws.close(4001, "browser done ✓");
  await ws.closed;
}

main().catch(async (error) => {
  const ws = await connect("/error", []);
  ws.send(String(error && error.stack ? error.stack : error));
});
