// A deploy under open pages: a page that gets a reply from another build of the chat, or a
// reply it cannot read, says a new version is available and offers Reload. That is not a
// network failure: no "Reconnecting…" for ever, and what waits in the outbox is neither
// retried for ever nor lost: the new version sends it.
import { expect, log, nameField, openChat, pauseClock, say, test, unique } from "./helpers";

const NEW_VERSION = "A new version is available";

test("a reply from another build offers Reload", async ({ page }) => {
  await openChat(page);
  await page.route("**/ajax", async (route) => {
    if (route.request().postDataJSON()?.type !== "sync") return route.continue();
    const response = await route.fetch();
    await route.fulfill({
      response,
      headers: { ...response.headers(), "x-chat-build": "a-later-build" },
    });
  });
  await expect(page.getByRole("status").filter({ hasText: NEW_VERSION })).toBeVisible();
  const reload = page.getByRole("button", { name: "Reload", exact: true });
  await expect(reload).toBeVisible();
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await reload.click();
  await expect(page.getByRole("button", { name: "Send", exact: true })).toBeEnabled();
  await expect(page.getByText(NEW_VERSION)).toHaveCount(0);
});

test("a reply the page cannot read is no network failure, and loses nothing", async ({ page }) => {
  await pauseClock(page);
  await openChat(page);
  await nameField(page).fill("Vera");
  // The server of a later build answers in a shape this page does not know.
  let posts = 0;
  await page.route("**/ajax", (route) => {
    if (route.request().postDataJSON()?.type !== "message") return route.continue();
    posts += 1;
    return route.fulfill({
      status: 200,
      contentType: "application/json",
      body: JSON.stringify({ type: "receipt", data: { stored: [1] } }),
    });
  });
  const text = unique("written before the reload");
  await say(page, text);
  await expect(page.getByRole("status").filter({ hasText: NEW_VERSION })).toBeVisible();
  await expect(page.getByText(/Reconnecting/)).toHaveCount(0);
  // A minute of the page's time: it does not try again and again.
  await page.clock.runFor(60_000);
  expect(posts).toBe(1);
  await expect(log(page).locator("li.pending", { hasText: text })).toHaveCount(1);

  // The new version (here: the same server, answering as it should) sends it, once.
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.getByRole("button", { name: "Reload", exact: true }).click();
  await expect(log(page).locator("li", { hasText: text })).not.toHaveClass(/pending/);
  await expect(log(page).getByText(text, { exact: true })).toHaveCount(1);
});
