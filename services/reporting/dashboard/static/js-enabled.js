// Before the page renders: tell GOV.UK Frontend's styles that JavaScript runs (a file, not an inline
// script, so the dashboard's Content-Security-Policy needs no 'unsafe-inline').
document.body.className += " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " govuk-frontend-supported" : "");
