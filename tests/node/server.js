// A ws echo server on 127.0.0.1; prints its port, then reports how each connection closed.
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 8 << 20,
  handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false) });
wss.on('listening', () => console.log(JSON.stringify({ port: wss.address().port })));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('close', (code, reason) => console.log(JSON.stringify({ closeCode: code, reason: reason.toString() })));
});
