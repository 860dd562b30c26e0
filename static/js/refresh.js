// Pages that keep themselves current: elements marked data-refresh poll with htmx
// (hx-trigger="every 30s, refresh-page"); nothing is fetched while the tab is hidden, and a tab
// shown again refreshes at once. htmx's trigger filters would need eval, which the CSP forbids.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (document.hidden && event.detail.elt.hasAttribute("data-refresh")) event.preventDefault();
});
document.addEventListener("visibilitychange", () => {
  if (document.hidden || !window.htmx) return;
  document.querySelectorAll("[data-refresh]").forEach((el) => window.htmx.trigger(el, "refresh-page"));
});
