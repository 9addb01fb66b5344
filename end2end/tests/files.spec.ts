// Files: attached by the file chooser, pasted into the message box, dropped on the page; shown
// as chips while they upload (removable), sent with the message, and shown to every page: an
// image as a thumbnail that keeps its place, any other file as a link with its size. A failed
// upload says so and is retried; a message sent while its files upload goes once they are
// stored. Axe finds nothing serious on a page with both.
import { type Page } from "@playwright/test";
import * as zlib from "node:zlib";
import {
  expect,
  log,
  messageField,
  nameField,
  openChat,
  roomLink,
  seriousViolations,
  test,
  unique,
} from "./helpers";

/** A real PNG of `width` x `height`, a gradient (so that its thumbnail is a picture too). */
function png(width: number, height: number): Buffer {
  const chunk = (kind: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(kind, "latin1"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([(x * 4) % 256, (y * 5) % 256, 180], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const attachInput = (page: Page) => page.getByLabel("Attach files");
const chips = (page: Page) => page.getByRole("list", { name: "Files to send" }).getByRole("listitem");
const chip = (page: Page, name: string) => chips(page).filter({ hasText: name });

async function person(browser: import("@playwright/test").Browser, name: string) {
  const page = await (await browser.newContext()).newPage();
  const errors: Error[] = [];
  page.on("pageerror", (error) => errors.push(error));
  await openChat(page);
  await nameField(page).fill(name);
  return { page, errors };
}

/** A file made inside the page, as a paste or a drop would carry it. */
async function inPage(page: Page, name: string, type: string, base64: string) {
  return page.evaluateHandle(
    ([name, type, base64]) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], name, { type }));
      return data;
    },
    [name, type, base64],
  );
}

test("files chosen, removed and sent show on every page", async ({ browser }) => {
  const ana = await person(browser, "Ana");
  const ben = await person(browser, "Ben");
  const notes = "release notes\n".repeat(900);
  await attachInput(ana.page).setInputFiles([
    { name: "chart.png", mimeType: "image/png", buffer: png(600, 300) },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(notes) },
    { name: "oops.txt", mimeType: "text/plain", buffer: Buffer.from("not this one") },
  ]);
  await expect(chips(ana.page)).toHaveCount(3);
  await expect(chip(ana.page, "notes.txt")).toContainText("13 KB");
  // Each uploads at once; the uploads end with no progress shown.
  await expect(ana.page.getByRole("progressbar")).toHaveCount(0);
  await ana.page.getByRole("button", { name: "Remove oops.txt" }).click();
  await expect(chips(ana.page)).toHaveCount(2);
  expect(await seriousViolations(ana.page)).toEqual([]);

  const text = unique("the chart and the notes");
  await messageField(ana.page).fill(text);
  await messageField(ana.page).press("Enter");
  await expect(chips(ana.page)).toHaveCount(0);

  for (const { page } of [ana, ben]) {
    const row = log(page).locator("li", { hasText: text });
    const image = row.getByRole("img", { name: "chart.png" });
    // Drawn at its thumbnail's size before it loads: nothing below it moves.
    await expect(image).toHaveAttribute("width", "400");
    await expect(image).toHaveAttribute("height", "200");
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(400);
    // It opens the whole image.
    const full = await image.locator("xpath=..").getAttribute("href");
    expect(full).toMatch(/^\/files\/[A-Za-z0-9_-]{22,64}\/chart\.png$/);
    const link = row.getByRole("link", { name: "notes.txt" });
    await expect(row.locator(".file:not(.image)")).toHaveText("notes.txt, 13 KB");
    const download = await page.request.get((await link.getAttribute("href"))!);
    expect(download.headers()["content-disposition"]).toBe("attachment; filename*=UTF-8''notes.txt");
    expect(await download.text()).toBe(notes);
    await expect(row).not.toContainText("oops.txt");
  }
  expect(await seriousViolations(ana.page)).toEqual([]);
  expect(ana.errors).toEqual([]);
  expect(ben.errors).toEqual([]);
});

test("an image pasted into the box and a file dropped on the page are attached", async ({
  browser,
}) => {
  const ana = await person(browser, "Ana");
  const shot = png(40, 30).toString("base64");
  // A screenshot pasted: browsers name it image.png.
  const pasted = await inPage(ana.page, "image.png", "image/png", shot);
  await messageField(ana.page).evaluate((box, clipboardData) => {
    box.dispatchEvent(
      new ClipboardEvent("paste", { clipboardData, bubbles: true, cancelable: true }),
    );
  }, pasted);
  await expect(chip(ana.page, "pasted-image.png")).toBeVisible();
  await expect(messageField(ana.page)).toHaveValue("");

  // Dragged over the conversation, the drop zone says what a drop does.
  const dropped = await inPage(
    ana.page,
    "build.log",
    "text/plain",
    Buffer.from("error: it broke\n").toString("base64"),
  );
  await ana.page.locator("main").dispatchEvent("dragenter", { dataTransfer: dropped });
  const zone = ana.page.getByText("Drop files to attach");
  await expect(zone).toBeVisible();
  await ana.page.locator(".drop-zone").dispatchEvent("drop", { dataTransfer: dropped });
  await expect(zone).toBeHidden();
  await expect(chip(ana.page, "build.log")).toBeVisible();
  await expect(ana.page.getByRole("progressbar")).toHaveCount(0);

  // Files alone, no text.
  await messageField(ana.page).press("Enter");
  const row = log(ana.page).locator("li", { has: ana.page.getByRole("link", { name: "build.log" }) });
  await expect(row.getByRole("img", { name: "pasted-image.png" })).toBeVisible();
  await expect(row.locator(".file:not(.image)")).toHaveText("build.log, 16 B");
  expect(ana.errors).toEqual([]);
});

test("a failed upload says so and is retried; a message sent meanwhile waits for it", async ({
  browser,
}) => {
  const ana = await person(browser, "Ana");
  const page = ana.page;
  let uploads = 0;
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/files?*", async (route) => {
    uploads += 1;
    if (uploads === 1) return route.abort("connectionreset");
    // The retry is held until the test lets it go.
    await released;
    return route.continue();
  });
  await attachInput(page).setInputFiles({
    name: "report.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.4 a report"),
  });
  const report = chip(page, "report.pdf");
  await expect(report).toContainText("Upload failed");
  // Sending now would send the message without its file: it is refused, and says why.
  const text = unique("the report");
  await messageField(page).fill(text);
  await messageField(page).press("Enter");
  await expect(page.getByRole("alert")).toHaveText(/could not be uploaded/);
  await expect(messageField(page)).toHaveValue(text);

  await report.getByRole("button", { name: "Retry" }).click();
  await expect(page.getByRole("progressbar", { name: "Uploading report.pdf" })).toBeVisible();
  // Sent while it uploads: it waits, and the box is free.
  await messageField(page).press("Enter");
  await expect(page.getByRole("status").filter({ hasText: "sent when its files are uploaded" })).toBeVisible();
  await expect(messageField(page)).toHaveValue("");
  await expect(log(page).locator("li", { hasText: text })).toHaveCount(0);
  // Leaving now would lose the message: the browser asks first.
  const asked = new Promise<string>((resolve) =>
    page.once("dialog", async (dialog) => {
      resolve(dialog.type());
      await dialog.dismiss();
    }),
  );
  await page.evaluate(() => location.reload());
  expect(await asked).toBe("beforeunload");
  await expect(messageField(page)).toHaveValue("");
  // Moving to another room meanwhile does not move the message: it goes where it was written.
  await roomLink(page, "#dev").click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("#dev");
  release();
  await expect(page.getByRole("status").filter({ hasText: "sent when its files are uploaded" })).toBeHidden();
  await expect(log(page).locator("li", { hasText: text })).toHaveCount(0);
  await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: /^#general/ }).click();
  const row = log(page).locator("li", { hasText: text });
  await expect(row.locator(".file")).toHaveText("report.pdf, 17 B");
  await expect(row.locator(".state")).toHaveCount(0);
  expect(uploads).toBe(2);
  expect(ana.errors).toEqual([]);
});
