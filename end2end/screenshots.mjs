// Screenshots of the chat page for the README: light and dark, 1280 and 360 px wide, with a
// short conversation on it. Run by scripts/screenshots against a server it starts.
//   node screenshots.mjs <base URL> <output folder>
import { chromium } from "@playwright/test";
import * as zlib from "node:zlib";

const [base, out] = process.argv.slice(2);
const ajax = async (type, data) =>
  (
    await fetch(`${base}/ajax`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type, data }),
    })
  ).json();
const post = (sender, message, room = "general", key) =>
  ajax("message", { sender, message, room, key });

// The reader is Ana: her browser's key, so her messages are hers (Edit, Delete) on the page.
const keys = { Ana: "screenshot-key-of-ana-0123456789", Ben: "screenshot-key-of-ben-0123456789" };
let ana;
let ben;
const ids = [];
for (const [sender, message] of [
  ["Ana", "Morning! Is the deploy still planned for 11?"],
  ["Ben", "Yes, after the migration check. I'll post here when it starts."],
  ["Ben", "It usually takes ten minutes."],
  // Inline code and a code block, kept as written.
  ["Ben", "The check passed, `make migrate-check` said:\n```\nchecking 42 migrations … ok\nschema is up to date (took 3.2 s)\n```"],
  ["Ana", "Great. Shift+Enter gives a new line,\nlike this."],
  // A mention of the reader (highlighted) with a link in it.
  ["Ben", "@Ana the deploy checklist is at https://wiki.example.com/deploy."],
]) {
  const reply = await post(sender, message, "general", keys[sender]);
  ids.push(reply.data.id);
  if (sender === "Ana") ana = reply.data;
  if (sender === "Ben") ben = reply.data;
}
// A reply of Ana's that quotes Ben's estimate.
await ajax("message", { sender: "Ana", message: "Perfect, I'll plan around that.", key: keys.Ana, reply_to: ids[2] });
// The team's CI bot reports the deploy: its name with a "bot" badge.
const ci = await ajax("bot", { admin: process.env.CHAT_ADMIN_TOKEN, name: "CI", rooms: ["general"] });
await fetch(`${base}/bots/general/messages`, {
  method: "POST",
  headers: { authorization: `Bearer ${ci.data.token}`, "content-type": "text/plain" },
  body: "Deploy of main started (build 1284)",
});
// Reactions: Ben's 👍 on Ana's question, and Ana's own 🎉 (pressed on her page) and Ben's on the
// check that passed.
await ajax("react", { id: ids[0], emoji: "👍", key: keys.Ben });
await ajax("react", { id: ids[3], emoji: "🎉", key: keys.Ana });
await ajax("react", { id: ids[3], emoji: "🎉", key: keys.Ben });
// One of Ana's messages edited: marked "(edited)".
await ajax("edit", { id: ana.id, message: "Great. Shift+Enter gives a new line,\nlike this one.", key: keys.Ana });

// Ben writes to Ana alone: their direct room, listed on her page under "Direct messages".
const [low, high] = [ana.author, ben.author].sort();
const direct = `dm-${low}-${high}`;
await post("Ben", "Before the deploy: could you look at my migration PR? No rush.", direct, keys.Ben);
await post("Ana", "Sure, send me the link.", direct, keys.Ana);
await post("Ben", "https://git.example.com/app/pull/311 (only the second commit is new)", direct, keys.Ben);

// Files in #design: Ben's screenshot of a chart (a thumbnail) and a PDF (a link with its size).
function chart(width, height) {
  const chunk = (kind, data) => {
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
  // Bars on a pale ground, with a grid.
  const bars = [0.35, 0.5, 0.45, 0.7, 0.62, 0.85];
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      const bar = Math.floor((x / width) * bars.length);
      const inBar = (x % (width / bars.length)) > width / bars.length / 5;
      const top = height * (1 - bars[bar]);
      let rgb = y % 60 === 0 ? [220, 226, 235] : [246, 248, 252];
      if (inBar && y > top) rgb = [37 + bar * 12, 99 + bar * 10, 235];
      row.set(rgb, 1 + x * 3);
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
const upload = async (name, type, bytes, key) =>
  (
    await (
      await fetch(`${base}/files?name=${encodeURIComponent(name)}`, {
        method: "POST",
        headers: { "content-type": type, "x-chat-key": key },
        body: bytes,
      })
    ).json()
  ).data;
await post("Ana", "How did sign-ups go this week?", "design", keys.Ana);
const shot = await upload("signups-week-49.png", "image/png", chart(800, 450), keys.Ben);
const pdf = await upload("Q4 report.pdf", "application/pdf", Buffer.alloc(182_400, 32), keys.Ben);
await ajax("message", { sender: "Ben", message: "Up every day but Wednesday. The details:", room: "design", key: keys.Ben, files: [shot.id, pdf.id] });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
// A page of Ana's browser (her key in localStorage, her name typed), ready to write.
async function openAsAna(colorScheme, width, height) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  const page = await context.newPage();
  await page.addInitScript(([key, author]) => {
    localStorage.setItem("chat.key", key);
    localStorage.setItem("chat.author", author);
  }, [keys.Ana, ana.author]);
  await page.goto(base);
  await page.waitForFunction(() => !document.querySelector("button[type=submit]").disabled);
  await page.getByRole("textbox", { name: "Name", exact: true }).fill("Ana");
  return { context, page };
}
for (const colorScheme of ["light", "dark"]) {
  for (const [width, height] of [
    [1280, 720],
    [360, 640],
  ]) {
    const { context, page } = await openAsAna(colorScheme, width, height);
    // Writing an answer to Ben's checklist: "Replying to Ben" above the box.
    const checklist = page.getByRole("log").locator("li", { hasText: "deploy checklist" });
    await checklist.getByRole("button", { name: "Reply" }).click();
    await page.getByRole("textbox", { name: "Message", exact: true }).fill("On my way");
    // News in another room while the page is open: its link counts it.
    await post("Dev", `Build ${colorScheme}-${width} is green`, "dev");
    await post("Dev", "Release notes are in the wiki", "dev");
    await page.getByRole("link", { name: "#dev 2 unread" }).or(page.getByRole("button", { name: "Rooms" })).first().waitFor();
    await page.waitForTimeout(1500);
    await page.screenshot({ path: `${out}/chat-${colorScheme}-${width}.png` });
    await context.close();
  }
}
// Offline: a message written in a tunnel waits in the outbox, under the offline line.
for (const [colorScheme, width, height] of [
  ["light", 360, 640],
  ["dark", 1280, 720],
]) {
  const { context, page } = await openAsAna(colorScheme, width, height);
  await context.setOffline(true);
  const message = page.getByRole("textbox", { name: "Message", exact: true });
  await message.fill("Train is in a tunnel, this goes out when we're back");
  await message.press("Enter");
  await page.getByText("Not sent yet").waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/chat-offline-${colorScheme}-${width}.png` });
  await context.close();
}
// Search: the results of a two-word search, the matched words marked, each a permalink.
for (const [colorScheme, width, height] of [
  ["light", 1280, 720],
  ["dark", 360, 640],
]) {
  const { context, page } = await openAsAna(colorScheme, width, height);
  const search = page.getByRole("searchbox", { name: "Search messages" });
  await search.fill("the deploy");
  await search.press("Enter");
  await page.getByRole("list", { name: "Search results" }).getByRole("listitem").first().waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/chat-search-${colorScheme}-${width}.png` });
  await context.close();
}
// Reacting: the menu of Add reaction open under Ben's message with the checklist.
for (const [colorScheme, width, height] of [
  ["light", 1280, 720],
  ["dark", 360, 640],
]) {
  const { context, page } = await openAsAna(colorScheme, width, height);
  const last = page.getByRole("log").locator("li", { hasText: "deploy checklist" });
  await last.hover();
  await last.getByRole("button", { name: "Add reaction" }).click();
  await last.getByRole("menuitem", { name: "👍" }).waitFor();
  await last.scrollIntoViewIfNeeded();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/chat-react-${colorScheme}-${width}.png` });
  await context.close();
}
// A link that carries another browser's key: the page asks before it switches.
for (const [colorScheme, width, height] of [
  ["light", 1280, 720],
  ["dark", 360, 640],
]) {
  const { context, page } = await openAsAna(colorScheme, width, height);
  await page.goto(`${base}/r/general#key=${keys.Ben}`);
  await page.getByRole("dialog", { name: "Use another browser's key?" }).waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/chat-key-${colorScheme}-${width}.png` });
  await context.close();
}
// A direct message: the conversation of Ana and Ben, which only their two keys read; on the
// phone, Ben's card open over #general (his name, his fingerprint, "Message Ben").
for (const [colorScheme, width, height] of [
  ["light", 1280, 720],
  ["dark", 360, 640],
]) {
  const { context, page } = await openAsAna(colorScheme, width, height);
  if (width > 600) {
    await page.goto(`${base}/r/${direct}`);
    await page.getByRole("log").locator("li", { hasText: "second commit" }).waitFor();
    await page.getByRole("textbox", { name: "Message", exact: true }).fill("Looking now");
  } else {
    const checklist = page.getByRole("log").locator("li", { hasText: "deploy checklist" });
    await checklist.getByRole("button", { name: "Ben", exact: true }).click();
    await page.getByRole("button", { name: "Message Ben" }).waitFor();
  }
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/chat-direct-${colorScheme}-${width}.png` });
  await context.close();
}
// Files: Ben's chart and report in #design; Ana attaching her notes (a chip in the composer).
for (const [colorScheme, width, height] of [
  ["light", 1280, 720],
  ["dark", 360, 640],
]) {
  const { context, page } = await openAsAna(colorScheme, width, height);
  await page.goto(`${base}/r/design`);
  await page.waitForFunction(() => !document.querySelector("button[type=submit]").disabled);
  await page.getByRole("img", { name: "signups-week-49.png" }).waitFor();
  await page.waitForFunction(() => [...document.images].every((img) => img.complete));
  await page.getByLabel("Attach files").setInputFiles({
    name: "notes-from-the-call.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("Wednesday: the sign-up form was down for two hours.\n".repeat(40)),
  });
  await page.getByRole("button", { name: "Remove notes-from-the-call.txt" }).waitFor();
  await page.getByRole("progressbar").waitFor({ state: "detached" });
  await page.getByRole("textbox", { name: "Message", exact: true }).fill("Wednesday was the form outage");
  // The chip made the log shorter: show its end, as a reader would scroll to it.
  await page.getByRole("log").evaluate((log) => (log.scrollTop = log.scrollHeight));
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/chat-files-${colorScheme}-${width}.png` });
  await context.close();
}
await browser.close();
