// URLs in messages become links, on the server-rendered page and on the page that receives them
// by polling alike, and nothing else becomes markup: hostile inputs stay text.
import { type Page } from "@playwright/test";
import { expect, log, openChat, postMessage, test, unique } from "./helpers";

const REL = "noopener noreferrer nofollow ugc";

// As a visitor's browser has it, service worker included: nothing may complain in the console.
test.use({ serviceWorkers: "allow" });

/** The markup of a message's text, without the comments hydration leaves as markers. */
const markup = (page: Page, tag: string) =>
  log(page)
    .locator("li", { hasText: tag })
    .locator(".text")
    .evaluate((p) => p.innerHTML.replace(/<!--[^>]*-->/g, ""));

test("URLs become links, the same on the rendered and the polled page; hostile input stays text", async ({
  page,
  browser,
  request,
}) => {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
  });
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await openChat(page);
  const tag = unique("links");
  const text =
    `${tag} <img src=x onerror="window.__pwned=1"> javascript:alert(1) ` +
    `see HTTPS://example.org/a_(b)?q=1&r=2. and (http://example.org/x"onmouseover="alert(2)) ` +
    `https://example.org/<script>window.__pwned=3</script> data:text/html,hi`;
  await postMessage(request, "Linker", text);
  const row = log(page).locator("li", { hasText: tag });
  await expect(row).toHaveCount(1);

  // Exactly three links, each to what it shows, opening in a new tab without the opener.
  const links = row.locator(".text a");
  await expect(links).toHaveCount(3);
  const hrefs = ["HTTPS://example.org/a_(b)?q=1&r=2", "http://example.org/x", "https://example.org/"];
  for (const [index, href] of hrefs.entries()) {
    await expect(links.nth(index)).toHaveAttribute("href", href);
    await expect(links.nth(index)).toHaveText(href);
    await expect(links.nth(index)).toHaveAttribute("rel", REL);
    await expect(links.nth(index)).toHaveAttribute("target", "_blank");
  }
  // The text is all there, as text: no image, no script, no other element.
  await expect(row.locator(".text")).toHaveText(text);
  await expect(row.locator(".text *:not(a)")).toHaveCount(0);
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
  const polled = await markup(page, tag);

  // The server renders the same markup (seen with JavaScript off)...
  const plain = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await plain.goto("/");
  expect(await markup(plain, tag)).toBe(polled);

  // ...and the hydrated page takes it over without a complaint.
  await page.reload();
  await expect(log(page).locator("li", { hasText: tag }).locator(".text a")).toHaveCount(3);
  expect(await markup(page, tag)).toBe(polled);
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(problems).toEqual([]);
});
