// A ws client: text, a 2 MiB binary message, a ping, then a close with our own code.
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[2], ['chat.v1']);
const big = Buffer.alloc(2 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 255;
const report = {};
let n = 0;
ws.on('open', () => { report.protocol = ws.protocol; ws.send('héllo from node ✓'); });
ws.on('message', (data, isBinary) => {
  n++;
  if (n === 1) { report.text = data.toString(); report.textIsBinary = isBinary; ws.send(big); }
  else if (n === 2) { report.binaryOk = isBinary && Buffer.compare(data, big) === 0; ws.ping('are you there'); }
});
ws.on('pong', (data) => { report.pong = data.toString(); ws.close(4002, 'node is done'); });
ws.on('close', (code) => { report.closeCode = code; console.log(JSON.stringify(report)); });
ws.on('error', (err) => { console.error(String(err)); process.exit(1); });
