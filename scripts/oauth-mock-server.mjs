// Starts oauth2-mock-server (installed in .oauth-mock/ by scripts/oauth-mock.sh) on 127.0.0.1,
// so the end-to-end test of OAuth connections talks to a real third-party authorization server.
// Uses the programmatic API rather than the package's CLI so tests can hook its events
// (server.service.on('beforeResponse', ...)) here if they ever need to.
//
// Usage: node scripts/oauth-mock-server.mjs PORT   (0 lets the OS choose a free port)
// Prints one line once listening: "oauth-mock listening on http://127.0.0.1:PORT".
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const moduleDir = process.env.OAUTH_MOCK_DIR ?? fileURLToPath(new URL("../.oauth-mock/", import.meta.url));
const entry = createRequire(`${moduleDir}/package.json`).resolve("oauth2-mock-server");
const { OAuth2Server } = await import(pathToFileURL(entry).href);

const host = "127.0.0.1";
const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
await server.start(Number(process.argv[2] ?? 0), host);
const port = server.address().port;
// The library names itself http://localhost:PORT when bound to 127.0.0.1; use the address we
// bound so the discovery document, `iss` claims and $OAUTH_MOCK_URL all agree.
server.issuer.url = `http://${host}:${port}`;

// A real provider grants the scopes its consent page asked for (when the person leaves every box
// ticked); the library answers "dummy", which Tessera rightly takes for a consent without the
// required scope. Each code remembers the scope asked at /authorize, and /token grants it.
const scopeOfCode = new Map();
server.service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const code = redirect.url.searchParams.get("code");
  if (code && typeof req.query.scope === "string") scopeOfCode.set(code, req.query.scope);
});
server.service.on("beforeResponse", (response, req) => {
  const body = req.body ?? {};
  if (body.grant_type === "authorization_code" && scopeOfCode.has(body.code)) {
    response.body.scope = scopeOfCode.get(body.code);
    scopeOfCode.delete(body.code);
  }
});

for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
console.log(`oauth-mock listening on ${server.issuer.url}`);
