// Office list: the header's tick box picks (or unpicks) every office of the page for a bulk
// action. Loaded with <script src> (the CSP forbids inline scripts); delegated from document,
// so it keeps working after htmx swaps the table.
document.addEventListener("change", (event) => {
  const all = event.target;
  if (!all.matches || !all.matches("input[data-pick-page]")) return;
  document.querySelectorAll('input[name="office"][form="bulk-form"]').forEach((box) => {
    box.checked = all.checked;
  });
});
