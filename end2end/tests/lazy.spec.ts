// The parts of the page a first paint does not need load on first use, each a chunk of the
// WASM of its own: a first visit fetches the main module only; a part says so while it loads,
// and if its chunk cannot come (offline, or a deploy replaced the build), says that, with a
// way to try again.
import { expect, openChat, test } from "./helpers";

const isChunk = (url: string) => /\/pkg\/.*\.wasm$/.test(url);

test("a first visit fetches one WASM module; search brings its own", async ({ page }) => {
  const modules: string[] = [];
  page.on("request", (request) => {
    if (isChunk(request.url())) modules.push(request.url());
  });
  await openChat(page);
  // Whatever the page fetches once it is interactive has been fetched by then too.
  await page.waitForLoadState("networkidle");
  expect(modules).toHaveLength(1);
  const box = page.getByRole("searchbox", { name: "Search messages" });
  await box.fill("anything at all");
  await box.press("Enter");
  await expect(page.getByRole("status").filter({ hasText: /found/ })).toBeVisible();
  expect(modules.length).toBeGreaterThan(1);
});

test("a part whose code cannot be loaded says so, and loads when tried again", async ({ page }) => {
  await openChat(page);
  // From now on no chunk arrives.
  await page.route((url) => isChunk(url.href), (route) => route.abort("internetdisconnected"));
  const box = page.getByRole("searchbox", { name: "Search messages" });
  await box.fill("nothing here");
  await box.press("Enter");
  const failed = page.getByRole("alert").filter({ hasText: "The search could not be loaded" });
  await expect(failed).toBeVisible();
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await failed.getByRole("button", { name: "Try again" }).click();
  await expect(page.getByRole("status").filter({ hasText: /found/ })).toBeVisible();
  await expect(failed).toHaveCount(0);
});
