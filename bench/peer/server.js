// A minimal push server for comparison in herald-bench: the push subset of Herald's API
// (GET /v1/ws with HS256 tokens, POST /v1/notify with persist:false) on Bun.serve, whose
// WebSockets run on uWebSockets. Nothing is stored. Not a Herald replacement.
//
// Env: HERALD_JWT_SECRET, HERALD_API_KEY, PEER_PUBLIC_ADDR (127.0.0.1:9080),
//      PEER_INTERNAL_ADDR (127.0.0.1:9081).
import { createHmac, timingSafeEqual } from "node:crypto";

const secret = process.env.HERALD_JWT_SECRET;
const apiKey = process.env.HERALD_API_KEY;
if (!secret || !apiKey) {
  console.error("peer: HERALD_JWT_SECRET and HERALD_API_KEY are required");
  process.exit(2);
}

function parseAddr(text, fallback) {
  const [hostname, port] = (text || fallback).split(":");
  return { hostname, port: Number(port) };
}

function errorResponse(status, code, message, field) {
  const error = { code, message };
  if (field) error.field = field;
  return Response.json({ error }, { status });
}

// The user id of a valid HS256 token, or 0.
function verifyToken(token) {
  const parts = (token || "").split(".");
  if (parts.length !== 3) return 0;
  try {
    const header = JSON.parse(Buffer.from(parts[0], "base64url").toString());
    if (header.alg !== "HS256") return 0;
    const expected = createHmac("sha256", secret).update(parts[0] + "." + parts[1]).digest();
    const given = Buffer.from(parts[2], "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 0;
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
    const now = Date.now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp <= now) return 0;
    if (typeof claims.nbf === "number" && claims.nbf > now) return 0;
    const user = Number(claims.sub);
    return Number.isSafeInteger(user) && user > 0 ? user : 0;
  } catch {
    return 0;
  }
}

const connectionsByUser = new Map();
let connections = 0;

const publicServer = Bun.serve({
  ...parseAddr(process.env.PEER_PUBLIC_ADDR, "127.0.0.1:9080"),
  fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname !== "/v1/ws") return errorResponse(404, "not_found", "no such route");
    const auth = req.headers.get("authorization") || "";
    const token = url.searchParams.get("token") || (auth.startsWith("Bearer ") ? auth.slice(7) : "");
    const user = verifyToken(token);
    if (!user) return errorResponse(401, "unauthenticated", "invalid token");
    if (server.upgrade(req, { data: { user } })) return undefined;
    return errorResponse(400, "invalid_argument", "expected a WebSocket upgrade");
  },
  websocket: {
    perMessageDeflate: false,
    idleTimeout: 60,
    sendPings: true,
    maxPayloadLength: 4096,
    open(ws) {
      ws.subscribe("all");
      ws.subscribe("u:" + ws.data.user);
      connectionsByUser.set(ws.data.user, (connectionsByUser.get(ws.data.user) || 0) + 1);
      ++connections;
      ws.send('{"type":"count","unread":0}');
    },
    message(ws, message) {
      try {
        const frame = JSON.parse(String(message));
        if (frame.type === "ping") ws.send('{"type":"pong"}');
        else ws.send(JSON.stringify({ type: "error", code: "unknown_type", message: "not supported by the peer" }));
      } catch {
        ws.send('{"type":"error","code":"invalid_frame","message":"not JSON"}');
      }
    },
    close(ws) {
      const left = (connectionsByUser.get(ws.data.user) || 1) - 1;
      if (left) connectionsByUser.set(ws.data.user, left);
      else connectionsByUser.delete(ws.data.user);
      --connections;
    },
  },
});

Bun.serve({
  ...parseAddr(process.env.PEER_INTERNAL_ADDR, "127.0.0.1:9081"),
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/healthz" || url.pathname === "/readyz") return Response.json({ ok: true });
    if (req.headers.get("authorization") !== "Bearer " + apiKey)
      return errorResponse(401, "unauthenticated", "bad API key");
    if (url.pathname === "/v1/stats") return Response.json({ connections, users_online: connectionsByUser.size });
    if (url.pathname !== "/v1/notify") return errorResponse(404, "not_found", "no such route");
    if (req.method !== "POST") return errorResponse(405, "method_not_allowed", "POST only");
    let body;
    try {
      body = await req.json();
    } catch {
      return errorResponse(400, "invalid_argument", "body is not JSON", "body");
    }
    if (typeof body !== "object" || body === null) return errorResponse(400, "invalid_argument", "not an object", "body");
    if (body.persist !== false) return errorResponse(400, "invalid_argument", "the peer only pushes (persist:false)", "persist");
    if (typeof body.title !== "string" || body.title.length < 1 || body.title.length > 200)
      return errorResponse(400, "invalid_argument", "title is 1..200 characters", "title");
    const frame = { type: "desktop", title: body.title, content: body.content ?? "" };
    if (body.data !== undefined) frame.data = body.data;
    const text = JSON.stringify(frame);
    if (body.user_id === -1) {
      publicServer.publish("all", text);
      return Response.json({ id: null, online: connections });
    }
    if (!Number.isSafeInteger(body.user_id) || body.user_id <= 0)
      return errorResponse(400, "invalid_argument", "user_id is a positive integer or -1", "user_id");
    publicServer.publish("u:" + body.user_id, text);
    return Response.json({ id: null, online: connectionsByUser.get(body.user_id) || 0 });
  },
});

console.log(`peer: public ${publicServer.hostname}:${publicServer.port}`);
