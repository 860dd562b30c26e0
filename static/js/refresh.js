// Pages that keep themselves current: elements marked data-refresh poll with htmx
// (hx-trigger="every 30s, refresh-page"); nothing is fetched while the tab is hidden, and a tab
// shown again refreshes at once. htmx's trigger filters would need eval, which the CSP forbids.
// Nor while rows are ticked for a bulk action: the refresh would drop the ticks.
document.addEventListener("htmx:beforeRequest", (event) => {
  const elt = event.detail.elt;
  if (!elt.hasAttribute("data-refresh")) return;
  if (document.hidden || elt.querySelector("input[data-pick]:checked")) event.preventDefault();
});
document.addEventListener("visibilitychange", () => {
  if (document.hidden || !window.htmx) return;
  document.querySelectorAll("[data-refresh]").forEach((el) => window.htmx.trigger(el, "refresh-page"));
});
