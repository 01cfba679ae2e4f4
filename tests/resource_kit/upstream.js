// A non-Python upstream for the gate test: answers every request with what nginx passed on from the gate.
const http = require("node:http");
const port = Number(process.argv[2]);
http.createServer((req, res) => {
  const body = JSON.stringify({
    method: req.method, url: req.url,
    account: req.headers["x-authserver-account"] ?? null,
    integration: req.headers["x-authserver-integration"] ?? null,
    scopes: req.headers["x-authserver-scopes"] ?? null,
  });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}).listen(port, "127.0.0.1");
