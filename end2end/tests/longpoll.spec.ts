// Long polling: with it on (the server's default), a message reaches another page in well
// under a poll interval, also a hidden tab's. The server here polls only every 10 s, so that
// nothing but the long poll can explain a quick arrival. (With CHAT_LONG_POLL_MS=0 the page
// polls as before: the other specs run against such a server.)
import { expect, test } from "@playwright/test";
import { Server, log, openChat, setHidden, unique } from "./helpers";

const server = new Server(3221, undefined, {
  CHAT_POLL_INTERVAL_MS: "10000",
  CHAT_LONG_POLL_MS: "25000",
  CHAT_MESSAGE_RATE: "1000",
  CHAT_MESSAGE_BURST: "1000",
});

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

async function post(message: string) {
  const reply = await fetch(`${server.url}/ajax`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "message", data: { sender: "Far", message } }),
  });
  expect(reply.status).toBe(200);
}

test("a message arrives in well under a poll interval", async ({ page }) => {
  await openChat(page, server.url);
  // The page's first long poll is out and held.
  await page.waitForTimeout(500);
  for (let n = 0; n < 3; n++) {
    const text = unique("instant");
    const posted = Date.now();
    await post(text);
    await expect(log(page).getByText(text)).toBeVisible({ timeout: 3000 });
    expect(Date.now() - posted).toBeLessThan(3000);
  }
});

test("a hidden tab keeps its long poll and counts news in its title", async ({ page }) => {
  await openChat(page, server.url);
  await setHidden(page, true);
  await page.waitForTimeout(500);
  const text = unique("while hidden");
  await post(text);
  await expect(log(page).getByText(text)).toBeAttached({ timeout: 3000 });
  await expect(page).toHaveTitle("(1) #general · Chat");
  await setHidden(page, false);
  await expect(page).toHaveTitle("#general · Chat");
});
