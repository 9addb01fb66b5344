// Code people can read: backticks make inline code, fenced lines a block that keeps its lines,
// `Copy code` copies exactly what was written, and nothing inside code becomes markup, on the
// server-rendered page and on the page that receives it by polling alike.
import { type Page } from "@playwright/test";
import { expect, log, openChat, postMessage, test, unique } from "./helpers";

/** The markup of a message's text: its elements with their attributes (in name order: the
 * server writes them in another order than the browser does) and its text. A status says what a
 * button did, and is left out (the server renders it empty, as a space for hydration). */
const markup = (page: Page, tag: string) =>
  log(page)
    .locator("li", { hasText: tag })
    .locator(".text")
    .evaluate((text) => {
      const walk = (node: Node): string => {
        if (node.nodeType === Node.TEXT_NODE) return node.textContent ?? "";
        if (node.nodeType !== Node.ELEMENT_NODE) return "";
        const element = node as Element;
        const attributes = [...element.attributes]
          .map((attribute) => ` ${attribute.name}="${attribute.value}"`)
          .sort()
          .join("");
        const inner =
          element.getAttribute("role") === "status" ? "" : [...element.childNodes].map(walk).join("");
        return `<${element.localName}${attributes}>${inner}</${element.localName}>`;
      };
      return [...text.childNodes].map(walk).join("");
    });

test("a code block with <script> in it shows as text, keeps its lines and copies exactly", async ({
  page,
  browser,
  context,
  request,
}) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await openChat(page);
  const tag = unique("code");
  const block =
    `<script>window.__pwned = 1</script>\n` +
    `  indented\t"quoted" & 'single' https://example.org/x @Coder\n\n` +
    `${"long line ".repeat(30)}end`;
  const text = `${tag} run \`cargo test --release\` then:\n\`\`\`html\n${block}\n\`\`\`\ndone`;
  await postMessage(request, "Coder", text);
  const row = log(page).locator("li", { hasText: tag });
  await expect(row).toHaveCount(1);

  // The block holds the lines as written (white space too), as text: no link, no element.
  const code = row.locator(".text pre > code");
  await expect(code).toHaveCount(1);
  expect(await code.evaluate((element) => element.textContent)).toBe(block);
  await expect(code.locator("*")).toHaveCount(0);
  await expect(row.locator(".text a")).toHaveCount(0);
  await expect(row.locator(".text > code")).toHaveText("cargo test --release");
  await expect(row.locator(".text")).toContainText("done");
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();

  // A long line scrolls sideways inside the block; the page itself does not.
  const pre = row.locator(".text pre");
  expect(await pre.evaluate((element) => element.scrollWidth > element.clientWidth)).toBe(true);
  expect(
    await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
  ).toBe(true);

  const polled = await markup(page, tag);

  // Copy code, from the keyboard: exactly the block's lines reach the clipboard.
  await row.getByRole("button", { name: "Copy code" }).focus();
  await page.keyboard.press("Enter");
  await expect(row.getByRole("status")).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(block);

  // The server renders the same markup (seen with JavaScript off), and the hydrated page takes
  // it over.
  const plain = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await plain.goto("/");
  expect(await markup(plain, tag)).toBe(polled);
  await page.reload();
  await expect(row.locator(".text pre > code")).toHaveCount(1);
  expect(await code.evaluate((element) => element.textContent)).toBe(block);
});
