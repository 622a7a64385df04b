// SLA countdown badges that tick in the browser. The server renders each running badge with
// the business minutes left (data-sla-left), how many minutes from then the clock counts
// without a break (data-sla-run: to the end of the working interval, 0 outside working time,
// empty in calendar time), the warning lead (data-sla-warn) and its words in the page's
// language (data-text-*). The badge counts down only while the clock counts, so it stands
// still over lunch, evenings and holidays exactly as the server would; the inbox poll and
// a page load bring a fresh reading. Registered as x-data="slaCountdown" (CSP build).
import Alpine from "@alpinejs/csp";

const TICK_MS = 15000;

function duration(element, minutes) {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  const data = element.dataset;
  if (hours && rest) {
    return data.textHoursMinutes.replace("{h}", hours).replace("{m}", rest);
  }
  if (hours) {
    return data.textHours.replace("{h}", hours);
  }
  return data.textMinutes.replace("{m}", rest);
}

export function leftAfter(left, run, elapsedMinutes) {
  // Minutes left once elapsedMinutes of wall time passed, counting only the unbroken run.
  const counted = run === null ? elapsedMinutes : Math.min(elapsedMinutes, run);
  return left - counted;
}

Alpine.data("slaCountdown", () => ({
  timer: null,
  init() {
    const data = this.$el.dataset;
    this.left = Number.parseInt(data.slaLeft, 10);
    this.run = data.slaRun === "" ? null : Number.parseInt(data.slaRun, 10);
    this.warn = data.slaWarn === "" ? null : Number.parseInt(data.slaWarn, 10);
    this.started = Date.now();
    this.timer = window.setInterval(() => this.tick(), TICK_MS);
  },
  destroy() {
    window.clearInterval(this.timer);
  },
  tick() {
    if (!this.$el.isConnected) {
      window.clearInterval(this.timer);
      return;
    }
    const elapsed = Math.floor((Date.now() - this.started) / 60000);
    const left = leftAfter(this.left, this.run, elapsed);
    const data = this.$el.dataset;
    let condition = "ok";
    if (left <= 0) {
      condition = "breached";
    } else if (this.warn !== null && this.warn > 0 && left <= this.warn) {
      condition = "warning";
    } else if (data.slaCondition !== "ok") {
      condition = data.slaCondition; // a warning already sent stays a warning
    }
    const words =
      left <= 0
        ? data.textLate.replace("{}", duration(this.$el, -left))
        : data.textLeft.replace("{}", duration(this.$el, left));
    this.$el.textContent = `${data.slaLabel} ${words}`;
    data.slaCondition = condition;
    this.$el.classList.toggle("badge-success", condition === "ok");
    this.$el.classList.toggle("badge-warning", condition === "warning");
    this.$el.classList.toggle("badge-danger", condition === "breached");
  },
}));
