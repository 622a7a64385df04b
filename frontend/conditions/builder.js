// The condition builder (aftersales/conditions/templates/conditions/builder.html): nested
// "all of" / "any of" groups of rows field → operator → value, kept as a JSON tree in a hidden
// input that the form posts. The catalog (fields, operators, options), the initial tree, the
// server's errors and the labels come from <script type="application/json"> elements next to
// the component, so nothing runs inline (the CSP allows none). The rows are built with plain
// DOM calls: Alpine's CSP build evaluates no expressions, and a recursive tree of groups is
// simpler to draw than to template. Every control is a native select, input or button, so the
// builder works from the keyboard.
import Alpine from "@alpinejs/csp";

import "./builder.css";

const MAX_DEPTH = 5;
const WORD_SEPARATORS = /[,，、;；\n]+/;

function readJson(id, fallback) {
  const element = id && document.getElementById(id);
  if (!element) {
    return fallback;
  }
  try {
    const value = JSON.parse(element.textContent);
    return value === null || value === undefined ? fallback : value;
  } catch (error) {
    return fallback;
  }
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    if (name === "text") {
      node.textContent = value;
    } else if (name === "className") {
      node.className = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child) {
      node.append(child);
    }
  }
  return node;
}

function isGroup(node) {
  return node && typeof node === "object" && !("field" in node) && ("all" in node || "any" in node);
}

function groupKind(node) {
  return "any" in node ? "any" : "all";
}

function splitWords(text) {
  return text
    .split(WORD_SEPARATORS)
    .map((word) => word.trim())
    .filter((word) => word);
}

class ConditionBuilder {
  constructor(root) {
    this.root = root;
    const data = root.dataset;
    this.name = data.name || "condition";
    this.input = root.querySelector("input[type=hidden][data-builder-input]");
    this.canvas = root.querySelector("[data-builder-canvas]");
    this.celOutput = root.querySelector("[data-builder-cel]");
    this.checkButton = root.querySelector("[data-builder-check]");
    this.checkUrl = data.checkUrl || "";
    this.businessLine = data.businessLine || "";
    this.catalog = readJson(data.catalogId, []);
    this.labels = readJson(data.labelsId, {});
    this.errors = this.errorsByPath(readJson(data.errorsId, []));
    this.fields = new Map(this.catalog.map((field) => [field.key, field]));
    let tree = readJson(data.valueId, null);
    if (!tree || typeof tree !== "object") {
      tree = { all: [] };
    } else if (!isGroup(tree)) {
      tree = { all: [tree] };
    }
    this.tree = tree;
    this.uid = 0;
    if (this.checkButton) {
      this.checkButton.hidden = !this.checkUrl;
      this.checkButton.addEventListener("click", () => this.check());
    }
    this.render();
  }

  label(key, fallback) {
    return this.labels[key] || fallback;
  }

  errorsByPath(list) {
    const errors = new Map();
    for (const error of list || []) {
      const path = error.field || this.name;
      if (!errors.has(path)) {
        errors.set(path, []);
      }
      errors.get(path).push(error.detail);
    }
    return errors;
  }

  nextId(prefix) {
    this.uid += 1;
    return `${this.name}-${prefix}-${this.uid}`;
  }

  // --- State -------------------------------------------------------------------------------

  store() {
    this.input.value = JSON.stringify(this.tree);
  }

  changed({ structure = false, focus = null } = {}) {
    if (structure) {
      // Paths shift when rows come and go: the server's errors no longer point anywhere.
      this.errors = new Map();
    }
    this.store();
    this.render(focus);
  }

  newLeaf() {
    const field = this.catalog[0];
    const operator = field ? field.operators[0] : null;
    return {
      field: field ? field.key : "",
      op: operator ? operator.key : "",
      value: this.defaultValue(field, operator),
    };
  }

  defaultValue(field, operator) {
    if (!field || !operator) {
      return null;
    }
    switch (operator.value) {
      case "none":
        return null;
      case "many":
      case "words":
      case "weekdays":
        return [];
      case "range":
        return ["", ""];
      case "hour_range":
        return [9, 18];
      case "one":
        if (field.options && field.options.length) {
          return field.options[0].value;
        }
        return field.value_type === "boolean" ? true : "";
      default:
        return "";
    }
  }

  // --- Drawing -----------------------------------------------------------------------------

  render(focusKey = null) {
    const focused = document.activeElement;
    if (!focusKey && focused && this.root.contains(focused)) {
      focusKey = focused.dataset.focusKey;
    }
    this.canvas.replaceChildren(this.drawGroup(this.tree, this.name, 1, null));
    this.store();
    if (focusKey) {
      const again = this.canvas.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) {
        again.focus();
      }
    }
  }

  drawErrors(paths) {
    const messages = [];
    for (const path of paths) {
      for (const message of this.errors.get(path) || []) {
        messages.push(element("li", { text: message }));
      }
    }
    if (!messages.length) {
      return null;
    }
    return element("ul", { className: "field-errors", role: "alert" }, messages);
  }

  drawGroup(group, path, depth, remove) {
    const kind = groupKind(group);
    const children = group[kind];
    const kindSelect = element("select", {
      "aria-label": this.label("group", "Match"),
      "data-focus-key": `${path}:kind`,
      "data-testid": "group-kind",
    });
    for (const [value, text] of [
      ["all", this.label("all", "All of these")],
      ["any", this.label("any", "Any of these")],
    ]) {
      kindSelect.append(element("option", { value, text, selected: value === kind }));
    }
    kindSelect.addEventListener("change", () => {
      const items = group[kind];
      delete group[kind];
      group[kindSelect.value] = items;
      this.changed({ structure: true });
    });
    const header = element("div", { className: "cb-group-header" }, [kindSelect]);
    if (remove) {
      header.append(
        element("button", {
          type: "button",
          className: "button button-small cb-remove",
          text: this.label("remove_group", "Remove group"),
          "data-testid": "remove-group",
        }),
      );
      header.lastChild.addEventListener("click", remove);
    }
    const list = element("ol", { className: "cb-children" });
    children.forEach((child, index) => {
      const childPath = `${path}.${kind}.${index}`;
      const removeChild = () => {
        children.splice(index, 1);
        this.changed({ structure: true });
      };
      list.append(
        element("li", {}, [
          isGroup(child)
            ? this.drawGroup(child, childPath, depth + 1, removeChild)
            : this.drawRow(child, childPath, removeChild),
        ]),
      );
    });
    if (!children.length) {
      list.append(
        element("li", { className: "muted cb-empty", text: this.label("empty", "No conditions: always true.") }),
      );
    }
    const addRow = element("button", {
      type: "button",
      className: "button button-small",
      text: this.label("add_condition", "Add condition"),
      "data-testid": "add-condition",
    });
    addRow.addEventListener("click", () => {
      children.push(this.newLeaf());
      this.changed({ structure: true, focus: `${path}.${kind}.${children.length - 1}:field` });
    });
    const actions = element("div", { className: "cb-group-actions" }, [addRow]);
    if (depth < MAX_DEPTH) {
      const addGroup = element("button", {
        type: "button",
        className: "button button-small",
        text: this.label("add_group", "Add group"),
        "data-testid": "add-group",
      });
      addGroup.addEventListener("click", () => {
        children.push({ any: [this.newLeaf()] });
        this.changed({ structure: true, focus: `${path}.${kind}.${children.length - 1}:kind` });
      });
      actions.append(addGroup);
    }
    return element(
      "fieldset",
      { className: `cb-group cb-depth-${depth}`, "data-group-path": path, "data-testid": "condition-group" },
      [
        element("legend", { className: "visually-hidden", text: this.label("group", "Group") }),
        header,
        this.drawErrors([path, `${path}.${kind}`]),
        list,
        actions,
      ],
    );
  }

  drawRow(leaf, path, remove) {
    const field = this.fields.get(leaf.field);
    const row = element("div", {
      className: "cb-row",
      "data-path": path,
      "data-testid": "condition-row",
    });
    const fieldSelect = element("select", {
      "aria-label": this.label("field", "Field"),
      "data-role": "field",
      "data-focus-key": `${path}:field`,
      "data-testid": "condition-field",
    });
    if (!field) {
      fieldSelect.append(element("option", { value: leaf.field, text: leaf.field, selected: true }));
    }
    const groups = new Map();
    for (const item of this.catalog) {
      if (!groups.has(item.group)) {
        groups.set(item.group, element("optgroup", { label: item.group }));
        fieldSelect.append(groups.get(item.group));
      }
      groups.get(item.group).append(
        element("option", { value: item.key, text: item.label, selected: item.key === leaf.field }),
      );
    }
    fieldSelect.addEventListener("change", () => {
      const chosen = this.fields.get(fieldSelect.value);
      leaf.field = fieldSelect.value;
      leaf.op = chosen && chosen.operators.length ? chosen.operators[0].key : "";
      leaf.value = this.defaultValue(chosen, chosen ? chosen.operators[0] : null);
      this.forget(path);
      this.changed();
    });
    row.append(fieldSelect);
    const operators = field ? field.operators : [];
    const operator = operators.find((item) => item.key === leaf.op);
    const opSelect = element("select", {
      "aria-label": this.label("operator", "Operator"),
      "data-focus-key": `${path}:op`,
      "data-testid": "condition-operator",
    });
    if (!operator) {
      opSelect.append(element("option", { value: leaf.op || "", text: leaf.op || "—", selected: true }));
    }
    for (const item of operators) {
      opSelect.append(element("option", { value: item.key, text: item.label, selected: item.key === leaf.op }));
    }
    opSelect.addEventListener("change", () => {
      const chosen = operators.find((item) => item.key === opSelect.value);
      const before = operator ? operator.value : null;
      leaf.op = opSelect.value;
      if (!chosen || chosen.value !== before) {
        leaf.value = this.defaultValue(field, chosen);
      }
      this.forget(path);
      this.changed();
    });
    row.append(opSelect);
    if (field && operator) {
      const value = this.drawValue(field, operator, leaf, path);
      if (value) {
        row.append(value);
      }
    }
    const removeButton = element("button", {
      type: "button",
      className: "button button-small cb-remove",
      text: this.label("remove", "Remove"),
      "aria-label": this.label("remove_condition", "Remove condition"),
      "data-testid": "remove-condition",
    });
    removeButton.addEventListener("click", remove);
    row.append(removeButton);
    const errors = this.drawErrors([path, `${path}.field`, `${path}.op`, `${path}.value`]);
    if (errors) {
      row.classList.add("has-error");
    }
    return element("div", { className: "cb-row-wrap" }, [row, errors]);
  }

  forget(path) {
    for (const key of [path, `${path}.field`, `${path}.op`, `${path}.value`]) {
      this.errors.delete(key);
    }
  }

  // --- Values ------------------------------------------------------------------------------

  update(leaf, path, value) {
    leaf.value = value;
    this.forget(path);
    this.store();
    const row = this.canvas.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (row) {
      row.classList.remove("has-error");
      const errors = row.parentElement.querySelector(":scope > .field-errors");
      if (errors) {
        errors.remove();
      }
    }
  }

  inputFor(field, value, path, suffix) {
    const types = { number: "number", decimal: "number", date: "date", datetime: "datetime-local" };
    const type = types[field.value_type] || "text";
    const input = element("input", {
      type,
      className: "cb-value",
      "aria-label": this.label("value", "Value"),
      "data-focus-key": `${path}:value${suffix}`,
      "data-testid": `condition-value${suffix}`,
      step: type === "number" ? "any" : null,
    });
    input.value = value === null || value === undefined ? "" : String(value);
    return input;
  }

  parseTyped(field, text) {
    if (text === "") {
      return "";
    }
    if (field.value_type === "number" || field.value_type === "decimal") {
      const number = Number(text);
      return Number.isFinite(number) ? number : text;
    }
    if (field.value_type === "reference") {
      return /^\d+$/.test(text) ? Number(text) : text;
    }
    return text;
  }

  optionSelect(field, selected, path, multiple) {
    const select = element("select", {
      className: "cb-value",
      multiple,
      size: multiple ? Math.min(6, field.options.length) : null,
      "aria-label": this.label("value", "Value"),
      "data-focus-key": `${path}:value`,
      "data-testid": "condition-value",
    });
    const chosen = multiple ? selected || [] : [selected];
    field.options.forEach((option, index) => {
      select.append(
        element("option", {
          value: String(index),
          text: option.label,
          selected: chosen.some((value) => value === option.value),
        }),
      );
    });
    return select;
  }

  drawValue(field, operator, leaf, path) {
    const kind = operator.value;
    const hasOptions = Array.isArray(field.options) && field.options.length > 0;
    if (kind === "none") {
      return null;
    }
    if ((kind === "one" || kind === "many") && field.value_type === "boolean") {
      const select = element("select", { className: "cb-value", "aria-label": this.label("value", "Value"), "data-testid": "condition-value" });
      select.append(element("option", { value: "true", text: this.label("yes", "Yes"), selected: leaf.value === true }));
      select.append(element("option", { value: "false", text: this.label("no", "No"), selected: leaf.value === false }));
      select.addEventListener("change", () => this.update(leaf, path, select.value === "true"));
      return select;
    }
    if ((kind === "one" || kind === "many") && hasOptions) {
      const multiple = kind === "many";
      const select = this.optionSelect(field, leaf.value, path, multiple);
      select.addEventListener("change", () => {
        const values = Array.from(select.selectedOptions).map((option) => field.options[Number(option.value)].value);
        this.update(leaf, path, multiple ? values : values[0]);
      });
      return select;
    }
    if (kind === "weekdays") {
      const box = element("div", { className: "cb-weekdays", role: "group", "aria-label": field.label });
      for (const option of field.options || []) {
        const checkbox = element("input", { type: "checkbox", value: String(option.value), checked: (leaf.value || []).includes(option.value) });
        checkbox.addEventListener("change", () => {
          const days = Array.from(box.querySelectorAll("input:checked")).map((item) => Number(item.value));
          this.update(leaf, path, days);
        });
        box.append(element("label", { className: "checkbox-row" }, [checkbox, document.createTextNode(` ${option.label}`)]));
      }
      return box;
    }
    if (kind === "range" || kind === "hour_range") {
      const bounds = Array.isArray(leaf.value) ? leaf.value : ["", ""];
      const hourField = { value_type: "number" };
      const low = this.inputFor(kind === "range" ? field : hourField, bounds[0], path, "-low");
      const high = this.inputFor(kind === "range" ? field : hourField, bounds[1], path, "-high");
      if (kind === "hour_range") {
        low.min = "0";
        low.max = "23";
        high.min = "1";
        high.max = "24";
      }
      const sync = () => {
        const typed = kind === "range" ? field : hourField;
        this.update(leaf, path, [this.parseTyped(typed, low.value), this.parseTyped(typed, high.value)]);
      };
      low.addEventListener("input", sync);
      high.addEventListener("input", sync);
      return element("span", { className: "cb-range" }, [low, element("span", { text: this.label("and", "and") }), high]);
    }
    if (kind === "words" || (kind === "many" && !hasOptions)) {
      const input = element("input", {
        type: "text",
        className: "cb-value cb-words",
        placeholder: this.label("words_placeholder", "word, another word"),
        "aria-label": this.label("words", "Words, separated by commas"),
        "data-focus-key": `${path}:value`,
        "data-testid": "condition-value",
      });
      input.value = Array.isArray(leaf.value) ? leaf.value.join(", ") : "";
      input.addEventListener("input", () => {
        const words = splitWords(input.value).map((word) => this.parseTyped(field, word));
        this.update(leaf, path, words);
      });
      return input;
    }
    if (kind === "hours") {
      const input = this.inputFor({ value_type: "number" }, leaf.value, path, "");
      input.min = "1";
      input.addEventListener("input", () => this.update(leaf, path, this.parseTyped({ value_type: "number" }, input.value)));
      return element("span", { className: "cb-range" }, [input, element("span", { text: this.label("hours", "hours") })]);
    }
    const input = this.inputFor(field, leaf.value, path, "");
    input.addEventListener("input", () => this.update(leaf, path, this.parseTyped(field, input.value)));
    return input;
  }

  // --- Show the expression -----------------------------------------------------------------

  async check() {
    if (!this.checkUrl || !this.celOutput) {
      return;
    }
    const body = { tree: this.tree };
    if (this.businessLine) {
      body.business_line = Number(this.businessLine);
    }
    const response = await fetch(this.checkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": document.body.dataset.csrfToken || "",
      },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      this.celOutput.textContent = this.label("check_failed", "The expression could not be shown.");
      return;
    }
    const result = await response.json();
    this.errors = this.errorsByPath(result.errors);
    this.celOutput.textContent = result.valid ? result.cel : this.label("invalid", "The condition has errors, shown next to the rows.");
    this.render();
  }
}

Alpine.data("conditionBuilder", () => ({
  init() {
    if (!this.$el.conditionBuilder) {
      this.$el.conditionBuilder = new ConditionBuilder(this.$el);
    }
  },
}));
