// The community's day as inline SVG: generation and consumption bars per bucket,
// battery charge as a line, trade prices as dots, the utility price dashed.
// Drawn at the container's own width in CSS pixels (one SVG unit = one pixel), so its text
// is the stylesheet's 12 px on a phone as on a desktop, and drawn again when that width
// changes (a phone turned, a window resized).
const NS = "http://www.w3.org/2000/svg";
const LABEL_PX = 40;  // room for one time label ("00:00" at 12 px) with a gap

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

const drawn = new WeakMap();  // container -> {series, width}
const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver((entries) => {
  for (const entry of entries) {
    const last = drawn.get(entry.target);
    if (last && Math.round(entry.contentRect.width) !== last.width) drawDayChart(entry.target, last.series);
  }
});

export function drawDayChart(container, series) {
  const W = Math.max(280, Math.round(container.clientWidth || 1100));
  const narrow = W < 600;
  const H = narrow ? 230 : 270, left = narrow ? 40 : 52, right = narrow ? 50 : 58, top = 26, bottom = 28;
  const plotW = W - left - right, plotH = H - top - bottom;
  if (!drawn.has(container)) observer?.observe(container);
  drawn.set(container, { series, width: W });
  const pts = series.points;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": "community energy over the day" });
  const maxWh = Math.max(1, ...pts.map((p) => Math.max(p.generatedWh, p.consumedWh)));
  const socs = pts.map((p) => p.stateOfChargeWh).filter((v) => v !== null);
  const maxSoc = Math.max(1, ...socs);
  const prices = pts.map((p) => (p.averagePrice === null ? null : Number(p.averagePrice)));
  const utility = Number(series.utilityPrice);
  const maxPrice = Math.max(utility * 1.15, ...prices.filter((v) => v !== null)) || 1;
  const slot = plotW / Math.max(1, pts.length);
  // a time label every `every` buckets: as many as fit, at most 12
  const every = Math.max(Math.ceil(pts.length / 12), Math.ceil(LABEL_PX / slot));
  const y = (v, max) => top + plotH - (v / max) * plotH;

  for (let i = 0; i <= 4; i++) {  // grid and left axis (kWh)
    const gy = top + (plotH * i) / 4;
    svg.append(el("line", { x1: left, x2: W - right, y1: gy, y2: gy, stroke: "#e6ece8" }));
    svg.append(el("text", { x: left - 6, y: gy + 4, "text-anchor": "end" }, `${((maxWh * (4 - i)) / 4 / 1000).toFixed(1)}`));
    svg.append(el("text", { x: W - right + 6, y: gy + 4 }, `${((maxPrice * (4 - i)) / 4).toFixed(2)}`));
  }
  svg.append(el("text", { x: left - 6, y: 11, "text-anchor": "end" }, "kWh"));
  svg.append(el("text", { x: W - 2, y: 11, "text-anchor": "end" }, "TSL/kWh"));

  pts.forEach((p, i) => {
    const x = left + i * slot;
    const bw = Math.max(2, slot * 0.36);
    // bar colours 3.4:1 and 3.6:1 on white (WCAG 1.4.11, graphics)
    svg.append(el("rect", { x: x + slot * 0.12, y: y(p.generatedWh, maxWh), width: bw,
      height: top + plotH - y(p.generatedWh, maxWh), fill: "#1f9e6c", rx: 2 }));
    svg.append(el("rect", { x: x + slot * 0.12 + bw, y: y(p.consumedWh, maxWh), width: bw,
      height: top + plotH - y(p.consumedWh, maxWh), fill: "#d9652f", rx: 2 }));
    if (i % every === 0) {
      const label = new Date(p.start * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
      svg.append(el("text", { x: x + slot / 2, y: H - 8, "text-anchor": "middle" }, label));
    }
  });

  // battery charge: a step line through the buckets that have a report (carried forward)
  let last = null, path = "";
  pts.forEach((p, i) => {
    if (p.stateOfChargeWh !== null) last = p.stateOfChargeWh;
    if (last === null) return;
    const x = left + i * slot + slot / 2, yy = top + plotH - (last / maxSoc) * plotH * 0.9;
    path += path ? ` L${x.toFixed(1)},${yy.toFixed(1)}` : `M${x.toFixed(1)},${yy.toFixed(1)}`;
  });
  if (path) svg.append(el("path", { d: path, fill: "none", stroke: "#2f6fde", "stroke-width": 2.5 }));

  const uy = y(utility, maxPrice);
  svg.append(el("line", { x1: left, x2: W - right, y1: uy, y2: uy, stroke: "#737373", "stroke-dasharray": "6 4" }));
  prices.forEach((v, i) => {
    if (v === null) return;
    svg.append(el("circle", { cx: left + i * slot + slot / 2, cy: y(v, maxPrice), r: 5, fill: "#8e44ad" }));
  });
  container.replaceChildren(svg);
}
