// After the page has loaded: start GOV.UK Frontend's components (skip link, error summary, menus).
import { initAll } from "./govuk/govuk-frontend.min.js";

initAll();

// Filters stay folded on a phone, so the first figure is on the first screen; open on wider screens.
if (window.matchMedia("(min-width: 48.0625em)").matches) {
  for (const details of document.querySelectorAll("details[data-hl-open-wide]")) details.open = true;
}
