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

  for (const button of document.querySelectorAll("[data-help-toggle]")) {
    button.addEventListener("click", () => {
      const help = document.getElementById("help");
      help.hidden = !help.hidden;
    });
  }
})();
