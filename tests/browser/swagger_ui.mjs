// Swagger UI in a real browser: open /docs, log in with the Authorize button (OAuth2
// password flow), run GET /auth/me from the page and expect 200 with the user's JSON.
// Usage: node swagger_ui.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_PATH
// Run by .ci/browser with playwright-core and Debian's chromium.

import { chromium } from "playwright-core";

const [base, username, password, screenshot] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

function fail(message) {
  throw new Error(message);
}

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  await page.goto(`${base}/docs`, { waitUntil: "networkidle" });
  await page.locator("button.authorize").first().click();

  // The dialog lists every scheme (the stream ticket too); the OAuth2 one has the form.
  const dialog = page.locator(".modal-ux");
  const oauth = dialog.locator(".auth-container", { hasText: "OAuth2PasswordBearer" });
  await oauth.locator("#oauth_username").fill(username);
  await oauth.locator("#oauth_password").fill(password);
  await oauth.locator(".auth-btn-wrapper button.authorize").click();
  // Swagger UI swaps Authorize for Logout once the token request succeeded.
  await oauth.locator(".auth-btn-wrapper button", { hasText: "Logout" }).waitFor({ timeout: 15000 });
  await dialog.locator("button.btn-done, button.close-modal").first().click();

  const operation = page.locator("#operations-auth-get_me");
  await operation.locator(".opblock-summary").first().click();
  await operation.locator("button.try-out__btn").click();
  await operation.locator("button.execute").click();
  const live = operation.locator(".live-responses-table .response").first();
  await live.waitFor({ timeout: 15000 });
  const status = (await live.locator(".response-col_status").first().textContent()).trim();
  const body = await live.locator(".microlight, pre").first().textContent();
  // The authorized operation with its live 200 response.
  await operation.screenshot({ path: screenshot });

  if (status !== "200") fail(`GET /auth/me from Swagger UI answered ${status}: ${body}`);
  const user = JSON.parse(body);
  if (user.username !== username) fail(`unexpected user: ${body}`);
  console.log(`swagger ui: authorized as ${user.username}, GET /auth/me 200; screenshot ${screenshot}`);
  console.log("browser: 1 passed, 0 failed");
} finally {
  await browser.close();
}
