// Bar charts of one value per day, drawn as inline SVG (no library, no external resource). Each day
// is a link to that day: a click opens it, and the chart is one stop of the keyboard's Tab order in
// which the arrow keys, Home and End move from day to day and Enter opens one.
"use strict";

const Charts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 600;
  const HEIGHT = 150;
  const MARGIN = { top: 8, right: 4, bottom: 18, left: 46 };

  function node(tag, attrs = {}, text = null) {
    const element = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, String(value));
    if (text !== null) element.textContent = text;
    return element;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
    return 10 * magnitude;
  }

  function moveFocus(links, from, to) {
    const target = links[Math.max(0, Math.min(links.length - 1, to))];
    if (!target || target === links[from]) return;
    links[from].setAttribute("tabindex", "-1");
    target.setAttribute("tabindex", "0");
    target.focus();
  }

  // points: [{day, ...}]; options: {value(point) -> number|null, barClass(point), describe(point),
  // format(number) for the axis, title for the chart's accessible name, onOpen(day)}
  function bars(container, points, options) {
    const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
    const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    const values = points.map((point) => options.value(point));
    const top = niceMax(Math.max(0, ...values.filter((v) => v !== null && v !== undefined)));
    const band = plotWidth / Math.max(points.length, 1);
    const svg = node("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "group",
      "aria-label": `${options.title}, ${points.length} days; arrow keys move between days, Enter opens one`,
    });
    for (const fraction of [0, 0.5, 1]) {
      const y = MARGIN.top + plotHeight * (1 - fraction);
      svg.append(node("line", { class: "grid-line", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y, y2: y }));
      svg.append(node("text", { class: "axis", x: MARGIN.left - 6, y: y + 3, "text-anchor": "end" }, options.format(top * fraction)));
    }
    const links = [];
    points.forEach((point, index) => {
      const value = values[index];
      const x = MARGIN.left + index * band;
      const width = Math.max(band * 0.8, 0.6);
      const link = node("a", {
        href: `?day=${point.day}`,
        class: "day-point",
        "data-day": point.day,
        "data-value": value === null || value === undefined ? "" : value,
        tabindex: index === points.length - 1 ? "0" : "-1",
        "aria-label": options.describe(point),
      });
      link.append(node("title", {}, options.describe(point)));
      // the whole column answers the pointer, not only the bar
      link.append(node("rect", { class: "hit", x, y: MARGIN.top, width: band, height: plotHeight, fill: "transparent" }));
      if (value === null || value === undefined) {
        link.append(node("rect", { class: "none", x, y: MARGIN.top + plotHeight - 2, width, height: 2 }));
      } else {
        const height = Math.max((plotHeight * value) / top, value > 0 ? 1 : 0);
        link.append(node("rect", { class: `bar ${options.barClass(point)}`, x, y: MARGIN.top + plotHeight - height, width, height }));
      }
      link.addEventListener("click", (event) => {
        event.preventDefault();
        options.onOpen(point.day);
      });
      link.addEventListener("keydown", (event) => {
        const moves = { ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: links.length - 1 };
        if (event.key in moves) {
          event.preventDefault();
          moveFocus(links, index, moves[event.key]);
        }
      });
      links.push(link);
      svg.append(link);
    });
    if (points.length) {
      const first = points[0].day;
      const last = points[points.length - 1].day;
      svg.append(node("text", { class: "axis", x: MARGIN.left, y: HEIGHT - 4, "text-anchor": "start" }, first));
      svg.append(node("text", { class: "axis", x: WIDTH - MARGIN.right, y: HEIGHT - 4, "text-anchor": "end" }, last));
    }
    container.querySelector("svg")?.remove();
    container.append(svg);
  }

  return { bars };
})();
