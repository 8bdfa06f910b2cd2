// After the page has loaded: start GOV.UK Frontend's components (skip link, error summary, menus).
import { initAll } from "./govuk/govuk-frontend.min.js";

initAll();
