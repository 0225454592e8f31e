// Live delivery in a real browser: log in with fetch, trade the token for a stream ticket,
// open an EventSource on /messages/stream, then send a message and expect it on the stream.
// Usage: node event_source.mjs BASE_URL USERNAME PASSWORD
// Run by .ci/clients with playwright-core and Debian's chromium.

import { chromium } from "playwright-core";

const [base, username, password] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});

try {
  const page = await browser.newPage();
  await page.goto(`${base}/docs`, { waitUntil: "domcontentloaded" });
  const outcome = await page.evaluate(
    async ({ username, password }) => {
      const json = async (response) => {
        if (!response.ok) throw new Error(`${response.url} answered ${response.status}`);
        return response.json();
      };
      const login = await json(
        await fetch("/auth/login", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username, password }),
        }),
      );
      const auth = { Authorization: `Bearer ${login.access_token}` };
      const { ticket } = await json(
        await fetch("/messages/stream/ticket", { method: "POST", headers: auth }),
      );
      const events = new EventSource(`/messages/stream?ticket=${encodeURIComponent(ticket)}`);
      const next = (type) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${type} within 10 s`)), 10000);
          events.addEventListener(type, (event) => {
            clearTimeout(timer);
            resolve(event);
          }, { once: true });
        });
      try {
        const opened = await next("stream.open");
        const arriving = next("message.created");
        const sent = await json(
          await fetch("/messages", {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: JSON.stringify({ recipient_id: login.user.id, content: "pushed to the browser" }),
          }),
        );
        const created = await arriving;
        return {
          cursor: opened.lastEventId,
          sentId: sent.id,
          received: JSON.parse(created.data),
          lastEventId: created.lastEventId,
        };
      } finally {
        events.close();
      }
    },
    { username, password },
  );
  if (outcome.received.id !== outcome.sentId) {
    throw new Error(`EventSource got ${JSON.stringify(outcome.received)}, sent ${outcome.sentId}`);
  }
  // The cursor is a position in the user's own sequence: the next message takes the next one.
  if (Number(outcome.lastEventId) !== Number(outcome.cursor) + 1) {
    throw new Error(
      `the event's id ${outcome.lastEventId} is not the cursor after ${outcome.cursor}`,
    );
  }
  console.log(
    `event source: opened at cursor ${outcome.cursor}, message ${outcome.sentId} arrived live`,
  );
  console.log("browser: 1 passed, 0 failed");
} finally {
  await browser.close();
}
