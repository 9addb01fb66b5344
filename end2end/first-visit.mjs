// What a first visit to a room page costs, as Chromium gets it: the WASM, JS and CSS bytes it
// downloads before it is interactive (encoded, as the server sends them to a browser that
// accepts brotli), and the time from navigation to interactive (the page hydrated: Send is
// enabled). Each run is a fresh browser context (a cold cache, no service worker).
//
//   node end2end/first-visit.mjs http://127.0.0.1:3000/ [runs] [split manifest]
//
// With the split manifest (target/site/pkg/__wasm_split_manifest.*.json), it also lists what
// each part loaded on first use downloads, at most (its chunks, some shared with other parts).
//
// `scripts/first-visit` starts a release server with 200 messages in `general` and runs this.
import { chromium } from "@playwright/test";
import { readFileSync } from "node:fs";

const url = process.argv[2] ?? "http://127.0.0.1:3000/";
const runs = Number(process.argv[3] ?? 5);
const manifest = process.argv[4];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const results = [];
for (let run = 0; run < runs; run++) {
  const context = await browser.newContext({ serviceWorkers: "block" });
  const page = await context.newPage();
  const responses = [];
  page.on("requestfinished", async (request) => {
    const response = await request.response();
    const sizes = await request.sizes();
    responses.push({
      url: request.url(),
      type: response?.headers()["content-type"] ?? "",
      bytes: sizes.responseBodySize,
    });
  });
  await page.goto(url, { waitUntil: "commit" });
  await page.waitForFunction(() => {
    const send = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === "Send");
    return send && !send.disabled;
  }, null, { polling: "raf", timeout: 30_000 });
  const interactive = await page.evaluate(() => performance.now());
  // Whatever the page fetches right after it is interactive counts too (a part it needs at
  // once would show here): wait until the network is quiet but for the long poll.
  await page.waitForTimeout(1000);
  let wasm = 0, js = 0, css = 0, files = 0;
  for (const { url, type, bytes } of responses) {
    if (/wasm/.test(type) || url.endsWith(".wasm")) wasm += bytes;
    else if (/javascript/.test(type) || url.endsWith(".js")) js += bytes;
    else if (/css/.test(type) || url.endsWith(".css")) css += bytes;
    else continue;
    files += 1;
  }
  results.push({ total: wasm + js + css, wasm, js, css, files, interactive });
  await context.close();
}
await browser.close();
const times = results.map((r) => r.interactive).sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const first = results[0];
console.log(
  `first visit ${first.total} B (wasm ${first.wasm} + js ${first.js} + css ${first.css}, ${first.files} files); ` +
    `navigation to interactive: median ${median.toFixed(0)} ms of ${runs} (${times.map((t) => t.toFixed(0)).join(", ")})`,
);

if (manifest) {
  const parts = JSON.parse(readFileSync(manifest, "utf8"));
  const sizes = [];
  for (const [part, files] of Object.entries(parts)) {
    let bytes = 0;
    for (const file of files) {
      const reply = await fetch(new URL(`/pkg/${file}.wasm`, url), {
        headers: { "accept-encoding": "br" },
      });
      bytes += Number(reply.headers.get("content-length"));
      await reply.arrayBuffer();
    }
    sizes.push(`${part} ${bytes} B (${files.length} files)`);
  }
  console.log(`loaded on first use: ${sizes.join("; ")}`);
}
