// Screenshots of the chat page for the README: light and dark, 1280 and 360 px wide, with a
// short conversation on it. Run by scripts/screenshots against a server it starts.
//   node screenshots.mjs <base URL> <output folder>
import { chromium } from "@playwright/test";

const [base, out] = process.argv.slice(2);
const post = (sender, message) =>
  fetch(`${base}/ajax`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "message", data: { sender, message } }),
  });

for (const [sender, message] of [
  ["Ana", "Morning! Is the deploy still planned for 11?"],
  ["Ben", "Yes, after the migration check. I'll post here when it starts."],
  ["Ana", "Great. Shift+Enter gives a new line,\nlike this."],
]) {
  await post(sender, message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
for (const colorScheme of ["light", "dark"]) {
  for (const [width, height] of [
    [1280, 720],
    [360, 640],
  ]) {
    const page = await browser.newPage({ viewport: { width, height }, colorScheme });
    await page.goto(base);
    await page.getByRole("button", { name: "Send", exact: true }).waitFor();
    await page.waitForFunction(() => !document.querySelector("button[type=submit]").disabled);
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("Cleo");
    await page.getByRole("textbox", { name: "Message", exact: true }).fill("On my way");
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}/chat-${colorScheme}-${width}.png` });
    await page.close();
  }
}
await browser.close();
