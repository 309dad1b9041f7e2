// Renders the service's own OpenAPI document. A file of its own because the page's
// Content-Security-Policy allows no inline script.
Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
