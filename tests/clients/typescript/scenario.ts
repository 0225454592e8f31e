// A whole session through a TypeScript client generated from openapi/openapi.json: the
// types by openapi-typescript, the calls by openapi-fetch. The same scenario as
// tests/clients/python_scenario.py; `tsc` type-checks it against the generated schema before
// it runs, so a document that drifts from what a client needs fails the build. Run by
// .ci/clients with the base URL and the first superuser's credentials.

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type User = components["schemas"]["User"];
type AuthResponse = components["schemas"]["AuthResponse"];
type Message = components["schemas"]["Message"];

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`check failed: ${what}`);
  }
}

/** The data of a 2xx answer; anything else fails the scenario with the server's detail. */
function ok<T>(
  result: { data?: T; error?: unknown; response: Response },
  what: string,
): T {
  if (result.data === undefined || !result.response.ok) {
    throw new Error(`${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

async function main(baseUrl: string, adminName: string, adminPassword: string): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl });
  const health = ok(await anonymous.GET("/health"), "health");
  check(health.status === "healthy", "healthy");

  const suffix = Math.random().toString(16).slice(2, 10);
  const accounts: Record<"alice" | "bob", { name: string; id: number }> = {
    alice: { name: `alice-${suffix}`, id: 0 },
    bob: { name: `bob-${suffix}`, id: 0 },
  };
  for (const account of Object.values(accounts)) {
    const user: User = ok(
      await anonymous.POST("/auth/register", {
        body: {
          username: account.name,
          email: `${account.name}@example.com`,
          password: `${account.name}-password`,
        },
      }),
      `register ${account.name}`,
    );
    check(user.full_name === null, "no full name");
    account.id = user.id;
  }

  const signIn = async (name: string, password: string): Promise<AuthResponse> =>
    ok(await anonymous.POST("/auth/login", { body: { username: name, password } }), `login ${name}`);
  const as = (token: string) =>
    createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

  const { alice: aliceAccount, bob: bobAccount } = accounts;
  const aliceSession = await signIn(aliceAccount.name, `${aliceAccount.name}-password`);
  check(aliceSession.token_type === "bearer" && aliceSession.expires_in > 0, "token type");
  let alice = as(aliceSession.access_token);
  const me = ok(await alice.GET("/auth/me"), "me");
  check(me.username === aliceAccount.name, "me is alice");

  const sent: Message = ok(
    await alice.POST("/messages", {
      body: { recipient_id: bobAccount.id, content: "Hello Bob" },
    }),
    "send",
  );
  const low = Math.min(aliceAccount.id, bobAccount.id);
  const high = Math.max(aliceAccount.id, bobAccount.id);
  check(sent.conversation_id === `conv_${low}_${high}`, "default conversation");
  const listed = ok(
    await alice.GET("/messages/sent", { params: { query: { limit: 20 } } }),
    "sent list",
  );
  check(listed.length === 1 && listed[0]?.id === sent.id, "sent list holds the message");

  const bobSession = await signIn(bobAccount.name, `${bobAccount.name}-password`);
  const bob = as(bobSession.access_token);
  const unread = ok(await bob.GET("/messages/unread/count"), "unread");
  check(unread.unread_count === 1, "one unread");
  const received = ok(
    await bob.GET("/messages/received", { params: { query: { limit: 20 } } }),
    "received",
  );
  check(received.map((m) => m.content).join() === "Hello Bob", "received the message");
  const reply = ok(
    await bob.POST("/messages", {
      body: { recipient_id: aliceAccount.id, content: "Hi Alice", parent_id: sent.id },
    }),
    "reply",
  );
  check(reply.parent_id === sent.id && reply.conversation_id === sent.conversation_id, "reply");
  const conversations = ok(await alice.GET("/auth/conversations"), "conversations");
  check(conversations[0]?.last_message === "Hi Alice", "last message");
  check(conversations[0]?.other_user_name === bobAccount.name, "other party");

  const rotated = ok(
    await anonymous.POST("/auth/refresh", {
      body: { refresh_token: aliceSession.refresh_token },
    }),
    "refresh",
  );
  check(rotated.refresh_token !== aliceSession.refresh_token, "rotated");
  alice = as(rotated.access_token);
  ok(await alice.POST("/auth/logout", { body: {} }), "logout");
  const refused = await alice.GET("/auth/me");
  check(refused.response.status === 401, `401 after logout, got ${refused.response.status}`);
  check(refused.error?.detail === "Could not validate credentials", "401 detail");

  const adminSession = await signIn(adminName, adminPassword);
  const admin = as(adminSession.access_token);
  const users = ok(
    await admin.GET("/auth/users", { params: { query: { limit: 500 } } }),
    "users",
  );
  const names = new Set(users.map((u) => u.username));
  check(names.has(aliceAccount.name) && names.has(bobAccount.name), "both users listed");
  const roles = ok(
    await admin.GET("/auth/users/{id}/roles", { params: { path: { id: bobAccount.id } } }),
    "roles",
  );
  check(roles.length === 0, "no roles");

  // A facility report, filed by Bob, answered and resolved by the superuser.
  const filed = ok(
    await bob.POST("/reports", {
      body: { title: "Lift on level 3", content: "Stuck between floors" },
    }),
    "create report",
  );
  check(filed.status === "open" && filed.reporter_username === bobAccount.name, "filed open");
  const mine = ok(
    await bob.GET("/reports", { params: { query: { status_filter: "open" } } }),
    "my reports",
  );
  check(mine.length === 1 && mine[0]?.id === filed.id, "my open report listed");
  const answered = ok(
    await admin.POST("/reports/{id}/comment", {
      params: { path: { id: filed.id } },
      body: { comment: "Technician on Monday", status: "in_progress" },
    }),
    "comment report",
  );
  check(answered.status === "in_progress", "in progress");
  const resolved = ok(
    await admin.PUT("/reports/{id}/resolve", {
      params: { path: { id: filed.id } },
      body: { comment: "Fixed" },
    }),
    "resolve report",
  );
  check(resolved.status === "resolved" && resolved.resolver_username === adminName, "resolved");
  const seen = ok(
    await bob.GET("/reports/{id}", { params: { path: { id: filed.id } } }),
    "get report",
  );
  check(seen.comment === "Fixed" && seen.resolved_at !== null, "the reporter sees the answer");
  console.log("typescript client scenario: 1 passed, 0 failed");
}

const [baseUrl, adminName, adminPassword] = process.argv.slice(2);
if (!baseUrl || !adminName || !adminPassword) {
  throw new Error("usage: node dist/scenario.js BASE_URL ADMIN_NAME ADMIN_PASSWORD");
}
await main(baseUrl, adminName, adminPassword);
