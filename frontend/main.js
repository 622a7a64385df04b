// The one entry point of the server-rendered UI: htmx 2 for partial updates, Alpine's CSP build
// for small behaviours, and our stylesheet. The CSP forbids inline scripts and styles, so all
// behaviour is registered here and templates only name it (x-data="shell", @click="toggleNav").
import htmx from "htmx.org";
import Alpine from "@alpinejs/csp";

import "./app.css";
import "./portal.css";
import "./formbuilder.js";
import "./workspace.js";
import "./conditions/builder.js";
import "./sla.js";
import "./knowledge.js";

window.htmx = htmx;

// Django's CSRF check for every htmx request; the token is on <body data-csrf-token>.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.body.dataset.csrfToken;
  if (token) {
    event.detail.headers["X-CSRFToken"] = token;
  }
});

// A form or button with data-confirm asks before it submits (htmx forms use hx-confirm).
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    const submitter = event.submitter;
    const message =
      (submitter && submitter.dataset && submitter.dataset.confirm) ||
      (form.dataset && form.dataset.confirm);
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);

Alpine.data("shell", () => ({
  navOpen: false,
  toggleNav() {
    this.navOpen = !this.navOpen;
  },
  closeNav() {
    this.navOpen = false;
  },
  get shellClass() {
    return this.navOpen ? "nav-open" : "";
  },
  get navExpanded() {
    return this.navOpen ? "true" : "false";
  },
}));

// Copies the text of the element named by data-copy-target (the API token secret).
Alpine.data("copyable", () => ({
  copied: false,
  copy() {
    const target = document.getElementById(this.$el.dataset.copyTarget);
    if (!target || !navigator.clipboard) {
      return;
    }
    navigator.clipboard.writeText(target.textContent.trim()).then(() => {
      this.copied = true;
    });
  },
  get copiedClass() {
    return this.copied ? "is-copied" : "";
  },
}));

window.Alpine = Alpine;
Alpine.start();
