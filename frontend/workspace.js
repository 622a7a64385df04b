// The agent workspace: keyboard shortcuts, ticking rows for bulk actions, and pausing the live
// inbox refresh while rows are ticked. Templates only name behaviour with data- attributes
// (the CSP allows no inline script): data-shortcut-list / data-row / data-open / data-take on
// the ticket list, data-shortcut="take|message|search" on the ticket page and filter bar,
// data-shortcut-help on buttons that open the help dialog (#shortcut-help), data-poll on the
// refreshed list and data-bulk-form on the form around it.
import "./workspace.css";

const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);
const TICKET_BOXES = 'input[name="ticket"]';
let currentTicket = null;

function rows() {
  return Array.from(document.querySelectorAll("[data-shortcut-list] [data-row]"));
}

function currentRow() {
  return rows().find((row) => row.dataset.ticket === currentTicket) || null;
}

function markCurrent() {
  for (const row of rows()) {
    row.classList.toggle("is-current", row.dataset.ticket === currentTicket);
  }
}

function move(step) {
  const list = rows();
  if (!list.length) {
    return false;
  }
  let index = list.findIndex((row) => row.dataset.ticket === currentTicket);
  if (index < 0) {
    index = step > 0 ? 0 : list.length - 1;
  } else {
    index = Math.min(list.length - 1, Math.max(0, index + step));
  }
  currentTicket = list[index].dataset.ticket;
  markCurrent();
  list[index].scrollIntoView({ block: "nearest" });
  return true;
}

function openCurrent() {
  const row = currentRow();
  const link = row && row.querySelector("[data-open]");
  if (!link) {
    return false;
  }
  window.location.assign(link.href);
  return true;
}

function toggleCurrent() {
  const row = currentRow();
  const box = row && row.querySelector(TICKET_BOXES);
  if (!box) {
    return false;
  }
  box.checked = !box.checked;
  updateSelection();
  return true;
}

function take() {
  const row = currentRow();
  const button =
    (row && row.querySelector("[data-take]")) ||
    document.querySelector('[data-shortcut="take"]');
  if (!button) {
    return false;
  }
  button.click();
  return true;
}

function compose(kind) {
  const box = document.querySelector('[data-shortcut="message"]');
  if (!box) {
    return false;
  }
  const choice = document.querySelector(`input[name="visibility"][value="${kind}"]`);
  if (choice) {
    choice.checked = true;
    choice.dispatchEvent(new Event("change", { bubbles: true }));
  }
  box.scrollIntoView({ block: "center" });
  box.focus();
  return true;
}

function focusSearch() {
  const input = document.querySelector('[data-shortcut="search"]');
  if (!input) {
    return false;
  }
  input.focus();
  input.select();
  return true;
}

function showHelp() {
  const dialog = document.getElementById("shortcut-help");
  if (!dialog || dialog.open) {
    return false;
  }
  dialog.showModal();
  return true;
}

function ticked() {
  const form = document.querySelector("[data-bulk-form]");
  return form ? Array.from(form.querySelectorAll(`${TICKET_BOXES}:checked`)) : [];
}

function updateSelection() {
  const count = ticked().length;
  const label = document.querySelector("[data-selected-count]");
  if (label) {
    label.textContent = count
      ? label.dataset.some.replace("%(count)s", String(count))
      : label.dataset.none;
  }
  for (const row of rows()) {
    const box = row.querySelector(TICKET_BOXES);
    row.classList.toggle("is-selected", Boolean(box && box.checked));
  }
  const all = document.querySelector("[data-select-all]");
  if (all) {
    const boxes = document.querySelectorAll(`[data-shortcut-list] ${TICKET_BOXES}`);
    all.checked = boxes.length > 0 && count === boxes.length;
    all.indeterminate = count > 0 && count < boxes.length;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  const target = event.target;
  if (target && (TYPING.has(target.tagName) || target.isContentEditable)) {
    return;
  }
  if (document.querySelector("dialog[open]")) {
    return;
  }
  let handled = false;
  switch (event.key) {
    case "j":
      handled = move(1);
      break;
    case "k":
      handled = move(-1);
      break;
    case "o":
      handled = openCurrent();
      break;
    case "Enter":
      // A focused link or button keeps its own Enter.
      if (!(target && target.closest && target.closest("a, button"))) {
        handled = openCurrent();
      }
      break;
    case "x":
      handled = toggleCurrent();
      break;
    case "t":
      handled = take();
      break;
    case "r":
      handled = compose("public");
      break;
    case "n":
      handled = compose("internal");
      break;
    case "/":
      handled = focusSearch();
      break;
    case "?":
      handled = showHelp();
      break;
    default:
      break;
  }
  if (handled) {
    event.preventDefault();
  }
});

document.addEventListener("click", (event) => {
  const opener = event.target.closest && event.target.closest("[data-shortcut-help]");
  if (opener) {
    showHelp();
    return;
  }
  const row = event.target.closest && event.target.closest("[data-shortcut-list] [data-row]");
  if (row) {
    currentTicket = row.dataset.ticket;
    markCurrent();
  }
});

document.addEventListener("change", (event) => {
  const target = event.target;
  if (!target.matches) {
    return;
  }
  if (target.matches("[data-select-all]")) {
    const list = target.closest("[data-shortcut-list]");
    for (const box of list ? list.querySelectorAll(TICKET_BOXES) : []) {
      box.checked = target.checked;
    }
  }
  if (target.matches("[data-select-all]") || target.matches(TICKET_BOXES)) {
    updateSelection();
  }
});

// The list refreshes itself (hx-trigger="every 20s"); a refresh would untick what the agent
// ticked, so it waits while anything is ticked, while the tab is hidden or a dialog is open.
document.addEventListener("htmx:beforeRequest", (event) => {
  const element = event.detail && event.detail.elt;
  if (!element || !element.hasAttribute || !element.hasAttribute("data-poll")) {
    return;
  }
  if (ticked().length > 0 || document.hidden || document.querySelector("dialog[open]")) {
    event.preventDefault();
  }
});

document.addEventListener("htmx:afterSwap", () => {
  markCurrent();
  updateSelection();
});
