// Keyboard shortcuts for working the queue (see the "?" help panel). No inline script: the CSP forbids it.
(() => {
  "use strict";
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const submit = (id) => {
    const form = document.getElementById(id);
    if (form) form.requestSubmit();
  };

  document.addEventListener("keydown", (event) => {
    const decide = document.getElementById("decide-form");
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && decide) {
      event.preventDefault();
      decide.requestSubmit();  // runs the browser's own validation: decision, policy and reason are required
      return;
    }
    if (event.key === "Escape" && typing(document.activeElement)) {
      document.activeElement.blur();
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") {
      const help = document.getElementById("help");
      help.hidden = !help.hidden;
    } else if (event.key === "n") {
      submit("claim-next");
    } else if (event.key === "a") {
      submit("claim-form");
    } else if (decide) {
      const choice = decide.querySelector(`input[name="decision"][data-key="${event.key}"]`);
      if (!choice) return;
      event.preventDefault();
      choice.checked = true;
      const policy = decide.querySelector("select[name=policy]");
      (policy.value ? decide.querySelector("textarea[name=reason]") : policy).focus();
    }
  });

  // While a reviewer is active on a case they hold, renew the lease (the claim form renews one's own claim),
  // so reading carefully never hands the case to someone else; idle tabs let it lapse back to the queue.
  const renew = document.getElementById("renew-form");
  if (renew) {
    let lastActivity = Date.now();
    for (const type of ["keydown", "mousemove", "scroll"]) {
      document.addEventListener(type, () => { lastActivity = Date.now(); }, { passive: true });
    }
    const every = Number(renew.dataset.everyMs);
    setInterval(async () => {
      if (Date.now() - lastActivity > 3 * every) return;
      const response = await fetch(renew.action, { method: "POST", body: new FormData(renew), redirect: "manual" });
      if (response.type !== "opaqueredirect") document.getElementById("lease-lost").hidden = false;
    }, every);
  }

  for (const button of document.querySelectorAll("[data-help-toggle]")) {
    button.addEventListener("click", () => {
      const help = document.getElementById("help");
      help.hidden = !help.hidden;
    });
  }
})();
