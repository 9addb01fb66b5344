// The HTML export (`ajax-chat export --format html`) as a browser opens it, offline, from a
// file: the release binary exports this worker's server's database (while the server runs),
// and axe finds no serious violation in light and dark, at desktop and phone widths; nothing
// in the file runs, and hostile text shows as text.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect, postMessage, seriousViolations, test, unique } from "./helpers";

for (const colorScheme of ["light", "dark"] as const) {
  for (const width of [1280, 360]) {
    test(`an exported room has no serious accessibility violations: ${colorScheme}, ${width} px`, async ({
      page,
      request,
      baseURL,
    }) => {
      const hostile = unique("<img src=x onerror=alert(1)>");
      await postMessage(request, "Exporter", `${hostile} and \`code\` and https://example.org/`);
      await postMessage(request, "Exporter", "```\n" + "a long line of a log ".repeat(12) + "\n```");
      const port = new URL(baseURL!).port;
      const database = path.join(process.env.CHAT_E2E_DIR!, `e2e-${port}.db`);
      const out = fs.mkdtempSync(path.join(os.tmpdir(), "ajax-chat-export-"));
      execFileSync(
        path.join(__dirname, "../../target/release/ajax-chat"),
        ["export", "--format", "html", "--room", "general", "--out", out],
        { env: { ...process.env, DATABASE_URL: `sqlite://${database}` } },
      );
      const scripts: string[] = [];
      page.on("dialog", (dialog) => scripts.push(dialog.message()));
      await page.emulateMedia({ colorScheme });
      await page.setViewportSize({ width, height: 800 });
      await page.goto(`file://${path.join(out, "general.html")}`);
      await expect(page.getByRole("heading", { level: 1, name: "#general" })).toBeVisible();
      await expect(page.getByText(hostile)).toBeVisible();
      expect(await page.locator("script, img").count()).toBe(0);

expect(await seriousViolations(page)).toEqual([]);
      expect(scripts).toEqual([]);
      fs.rmSync(out, { recursive: true, force: true });
    });
  }
}
