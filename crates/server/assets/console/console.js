// The console works without this file. With it, the Delete button stays disabled until the
// user id is typed (the server checks the same), and the search box gets the focus.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    const input = form.querySelector("input[name=confirm]");
    const button = form.querySelector("button[type=submit]");
    if (!input || !button) continue;
    const check = () => { button.disabled = input.value.trim() !== form.dataset.confirm; };
    input.addEventListener("input", check);
    check();
  }
  const search = document.querySelector("input[type=search]");
  if (search && !search.value) search.focus();
});
