// Mentions: `@` and the reader's name (any case) marks a message for them, and the room link
// says how many of its unread messages mention them; their own messages never count.
import { expect, log, messageField, nameField, openChat, postMessage, roomLink, say, test, unique } from "./helpers";

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

test("typing @ offers the names seen recently in the room", async ({ page, request }) => {
  const tag = unique("").trim();
  const [first, second] = [`Bea${tag}`, `Ber${tag}`];
  await postMessage(request, first, unique("from the first"));
  await postMessage(request, second, unique("from the second"));
  await postMessage(request, "Carl", unique("from Carl"));
  await openChat(page);
  await nameField(page).fill("Al");
  const box = messageField(page);
  const offers = page.getByRole("listbox", { name: "Mention someone" });

  await box.pressSequentially("hi @be");
  await expect(offers).toBeVisible();
  // Newest first; the first is chosen, the arrow keys move.
  await expect(offers.getByRole("option").first()).toHaveText(second);
  await expect(offers.getByRole("option", { name: second })).toHaveAttribute("aria-selected", "true");
  await box.press("ArrowDown");
  await expect(offers.getByRole("option", { name: first })).toHaveAttribute("aria-selected", "true");
  await box.press("Enter");
  await expect(offers).toBeHidden();
  await expect(box).toHaveValue(`hi @${first} `);

  // Escape closes without choosing; Tab chooses.
  await box.pressSequentially("and @ca");
  await expect(offers.getByRole("option")).toHaveText(["Carl"]);
  await box.press("Escape");
  await expect(offers).toBeHidden();
  await expect(box).toHaveValue(`hi @${first} and @ca`);
  await box.press("Backspace");
  await box.pressSequentially("a");
  await box.press("Tab");
  await expect(box).toHaveValue(`hi @${first} and @Carl `);

  // Enter sends once nothing is offered; an e-mail address offers nothing.
  await box.pressSequentially("mail x@b");
  await expect(offers).toBeHidden();
  await box.press("Enter");
  await expect(log(page).locator("li", { hasText: `hi @${first} and @Carl mail x@b` })).toHaveCount(1);
});
