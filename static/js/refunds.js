// The approval queue's "select every refund you may approve" box. Without JavaScript each
// refund is ticked by hand; the server checks every ticked refund either way.
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  const name = all.dataset.selectAll;
  for (const box of document.querySelectorAll(`input[name="${name}"]`)) {
    if (!box.hasAttribute("data-refused")) box.checked = all.checked;
  }
});
