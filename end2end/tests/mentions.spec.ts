// Mentions: `@` and the reader's name (any case) marks a message for them, and the room link
// says how many of its unread messages mention them; their own messages never count.
import { expect, test } from "@playwright/test";
import { log, nameField, openChat, roomLink, say, unique } from "./helpers";

test("a message that mentions the reader is marked, and its room link counts it", async ({
  browser,
}) => {
  const mia = await (await browser.newContext()).newPage();
  await openChat(mia);
  await nameField(mia).fill("Mia");
  const bo = await (await browser.newContext()).newPage();
  await openChat(bo, "/r/dev");
  await nameField(bo).fill("Bo");

  const here = unique("@MIA, lunch?");
  await bo.goto("/");
  await nameField(bo).fill("Bo");
  await say(bo, here);
  const row = log(mia).locator("li", { hasText: here });
  await expect(row).toHaveAttribute("data-mention", "true");
  const glued = unique("@miabella no");
  await say(bo, glued);
  await expect(log(mia).locator("li", { hasText: glued })).not.toHaveAttribute("data-mention", "true");

  // In another room: counted beside the unread ones.
  await bo.goto("/r/dev");
  await nameField(bo).fill("Bo");
  await say(bo, unique("hey @mia"));
  await say(bo, unique("no one in particular"));
  await expect(roomLink(mia, "#dev 2 unread, 1 mention")).toBeVisible();
  await say(bo, unique("@Mia again"));
  await expect(roomLink(mia, "#dev 3 unread, 2 mentions")).toBeVisible();
  await roomLink(mia, "#dev 3 unread, 2 mentions").click();
  await expect(roomLink(mia, "#dev")).toBeVisible();

  // One's own message with one's own name is no mention.
  const self = unique("note to @Bo");
  await say(bo, self);
  await expect(log(bo).locator("li", { hasText: self })).toHaveClass(/\bmine\b/);
  await expect(log(bo).locator("li", { hasText: self })).not.toHaveAttribute("data-mention", "true");
});
