// Search from the page: the `search` landmark, results newest first from every room with the
// matched words marked (as text, never HTML), each a link to its message's permalink.
import { expect, heading, openChat, postTo, test, unique } from "./helpers";

test("search finds messages in every room, marks the words and links to them", async ({
  page,
  request,
}) => {
  await openChat(page);
  // One word that is in no other test's messages.
  const tag = unique("zq").replace(" ", "");
  const older = await postTo(request, "general", "Ana", `${tag} betamax tapes`);
  await postTo(request, "general", "Ana", `${tag} alone`);
  const hostile = await postTo(request, "dev", "Ben", `<img src=x onerror="window.__pwned=1"> ${tag} beta`);

  const search = page.getByRole("search");
  await expect(search).toBeVisible();
  const box = search.getByRole("searchbox", { name: "Search messages" });
  await box.fill(`${tag.toUpperCase()} bet`);
  await box.press("Enter");
  const results = page.getByRole("list", { name: "Search results" });
  const items = results.getByRole("listitem");
  await expect(items).toHaveCount(2);
  await expect(page.getByRole("status").filter({ hasText: "found" })).toHaveText("2 found, newest first");

  // Newest first, from #dev too; the text is text, and the matched words are marked.
  await expect(items.nth(0)).toContainText("#dev · Ben");
  await expect(items.nth(0)).toContainText(`<img src=x onerror="window.__pwned=1"> ${tag} beta`);
  await expect(items.nth(0).locator("mark")).toHaveText([tag, "beta"]);
  await expect(items.nth(0).locator("img")).toHaveCount(0);
  await expect(items.nth(1).locator("mark")).toHaveText([tag, "betamax"]);
  await expect(items.nth(1).getByRole("link")).toHaveAttribute("href", `/r/general/${older}`);
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();

  // A result opens its message's permalink.
  await items.nth(0).getByRole("link").click();
  await expect(page).toHaveURL(new RegExp(`/r/dev/${hostile}$`));
  await expect(page.locator(`#m${hostile}`)).toHaveAttribute("aria-current", "true");

  // Nothing found says so; Close search closes the panel.
  await page.getByRole("searchbox", { name: "Search messages" }).fill(`${tag}nothing`);
  await page.getByRole("searchbox", { name: "Search messages" }).press("Enter");
  await expect(page.getByText("No messages found")).toBeVisible();
  await page.getByRole("button", { name: "Close search" }).click();
  await expect(page.getByRole("list", { name: "Search results" })).toBeHidden();
});

test("on a phone, the search box takes the width the header leaves it", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 640 });
  await openChat(page);
  const header = page.locator(".chat-header");
  const box = page.getByRole("searchbox", { name: "Search messages" });
  const [bar, title, field] = await Promise.all([
    header.evaluate((el) => {
      const rect = el.getBoundingClientRect();
      return { right: rect.right - parseFloat(getComputedStyle(el).paddingRight) };
    }),
    heading(page).boundingBox(),
    box.boundingBox(),
  ]);
  if (!title || !field) throw new Error("the heading and the search box are on the page");
  // From the room's name (and the gap after it) to the header's edge, not a fixed 6rem in it:
  // room to read what one types.
  expect(field.x - (title.x + title.width)).toBeLessThanOrEqual(12);
  expect(Math.abs(bar.right - (field.x + field.width))).toBeLessThanOrEqual(2);
  expect(field.width).toBeGreaterThanOrEqual(96);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
});
