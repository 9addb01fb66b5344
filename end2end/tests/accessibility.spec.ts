// An accessibility scan of the chat page with axe-core, the engine behind most audit tools:
// light and dark, desktop and phone widths, with messages of others and of one's own on it.
// Any serious or critical violation of WCAG 2.0/2.1 A and AA or 2.2 AA fails the test.
import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import { log, nameField, openChat, postMessage, say, unique } from "./helpers";

for (const colorScheme of ["light", "dark"] as const) {
  for (const width of [1280, 360]) {
    test(`no serious accessibility violations: ${colorScheme}, ${width} px`, async ({
      page,
      request,
    }) => {
      await page.emulateMedia({ colorScheme });
      await page.setViewportSize({ width, height: 800 });
      await postMessage(request, "Someone else", unique("a message of another"));
      await openChat(page);
      await nameField(page).fill("Axe");
      const mine = unique("a message of mine");
      await say(page, mine);
      await expect(log(page).locator("li.mine", { hasText: mine })).toHaveCount(1);

      const results = await new AxeBuilder({ page })
        .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
        .analyze();
      const serious = results.violations
        .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
        .map((violation) => ({
          rule: violation.id,
          impact: violation.impact,
          where: violation.nodes.map((node) => node.target.join(" ")),
        }));
      expect(serious).toEqual([]);
    });
  }
}
