// Quality by prediction time: per model its MAE (accuracy for a classifier) per bucket of event
// time, from the plot service's quality_by_time.csv, and under it each bucket's label
// completeness. A provisional bucket (labels may still come, so its figure may still move) is a
// hollow point on a dashed line over a shaded span, with a hollow completeness bar; a final one
// is filled. Where estimation is on (MLMON_REFERENCE), a dotted line beside it is the figure
// estimated before labels from the bucket's predictions; once the bucket is final the
// table shows how far that estimate was from the realized figure. Loaded after dashboard.js, whose helpers (colorOf, number, integer, escapeHtml,
// MUTED) it uses; dashboard.js's draw() calls drawByTime().
"use strict";

const BY_TIME_TABLE = 4; // latest buckets per model in the table under the chart
const FIGURE_NAMES = { mae: "MAE", accuracy: "accuracy" };
const SHADE = "rgba(107, 119, 133, 0.09)";
const TICK_STEPS = [300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400];
let byTimeDays = false; // a span past a day: ticks carry the date
const labelled = (share) => (share === null || share === undefined ? "–" : `${Math.round(100 * share)} %`);

function eventTime(seconds, withDate = false) {
  const d = new Date(seconds * 1000);
  const time = d.toLocaleTimeString("en-GB", { hour12: false, hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  return withDate ? `${d.toISOString().slice(0, 10)} ${time}` : time;
}

// The span of provisional buckets, shaded behind both axes.
const provisionalSpan = {
  id: "provisionalSpan",
  beforeDatasetsDraw(chart, _args, options) {
    if (options.from === null || options.from === undefined) return;
    const { ctx, chartArea, scales } = chart;
    const left = Math.max(scales.x.getPixelForValue(options.from), chartArea.left);
    const right = Math.min(scales.x.getPixelForValue(options.to), chartArea.right);
    if (!(right > left)) return;
    ctx.save();
    ctx.fillStyle = SHADE;
    ctx.fillRect(left, chartArea.top, right - left, chartArea.bottom - chartArea.top);
    ctx.fillStyle = MUTED;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText("provisional", left + 4, chartArea.top + 12);
    ctx.restore();
  },
};

const byTimeChart = new Chart(document.getElementById("by-time"), {
  type: "line",
  data: { datasets: [] },
  plugins: [provisionalSpan],
  options: {
    maintainAspectRatio: false,
    spanGaps: false,
    scales: {
      x: { type: "linear", ticks: { callback: (v) => eventTime(v, byTimeDays) }, title: { display: true, text: "event time (UTC)" } },
      labelled: {
        type: "linear", axis: "y", position: "left",
        stack: "by-time", stackWeight: 1.2, offset: true, min: 0, max: 1,
        ticks: { stepSize: 0.5, callback: (v) => `${Math.round(100 * v)}%` },
        title: { display: true, text: "labelled" },
      },
      y: { type: "linear", position: "left", stack: "by-time", stackWeight: 3, beginAtZero: true, title: { display: true, text: "MAE" } },
    },
    plugins: {
      provisionalSpan: { from: null, to: null },
      legend: {
        labels: {
          usePointStyle: true, boxHeight: 8,
          generateLabels: (chart) => [
            ...Chart.defaults.plugins.legend.labels.generateLabels(chart)
              .filter((item) => chart.data.datasets[item.datasetIndex].type !== "bar")
              .map((item) => ({ ...item, pointStyle: "line", lineDash: chart.data.datasets[item.datasetIndex].borderDash || [], lineWidth: 3 })),
            { text: "final", pointStyle: "circle", fillStyle: MUTED, strokeStyle: MUTED, lineWidth: 1.5, fontColor: MUTED, key: true },
            { text: "provisional (labels may still come)", pointStyle: "circle", fillStyle: "white", strokeStyle: MUTED, lineWidth: 1.5, fontColor: MUTED, key: true },
            { text: "bars: share of predictions labelled", pointStyle: "rect", fillStyle: SHADE, strokeStyle: MUTED, lineWidth: 1, fontColor: MUTED, key: true },
          ],
        },
        onClick(event, item, legend) {
          if (!item.key) Chart.defaults.plugins.legend.onClick.call(this, event, item, legend);
        },
      },
      tooltip: {
        callbacks: {
          title: (items) => eventTime(items[0].raw.bucket.bucket_start, true),
          label: (item) => {
            const b = item.raw.bucket;
            const value = item.dataset.type === "bar" ? `labelled ${labelled(b.completeness)}` : `${item.dataset.figureName} ${number(item.raw.y, 3)}`;
            return `${item.dataset.model}: ${value} (${b.state}, ${integer(b.rows)} rows)`;
          },
        },
      },
    },
  },
});

function drawByTime(models, estimation) {
  const card = document.getElementById("by-time-card");
  card.hidden = !models.length;
  if (!models.length) return;
  const datasets = [];
  let from = null, to = null;
  models.forEach((m, i) => {
    const color = colorOf(i);
    const final = (b) => b.state === "final";
    const points = m.buckets.map((b) => ({ x: (b.bucket_start + b.bucket_end) / 2, y: b[m.figure] ?? null, bucket: b }));
    for (const b of m.buckets.filter((b) => !final(b))) {
      from = from === null ? b.bucket_start : Math.min(from, b.bucket_start);
      to = to === null ? b.bucket_end : Math.max(to, b.bucket_end);
    }
    datasets.push({
      type: "line", label: m.model, model: m.model, figureName: FIGURE_NAMES[m.figure] || m.figure, yAxisID: "y",
      data: points, borderColor: color, borderWidth: 2, pointRadius: 3.5, pointBorderWidth: 1.5,
      pointBorderColor: color, pointBackgroundColor: points.map((p) => (final(p.bucket) ? color : "white")),
      // A segment into a provisional bucket is dashed: its figure may still move.
      segment: { borderDash: (ctx) => (final(points[ctx.p1DataIndex].bucket) ? undefined : [6, 4]) },
    });
    const estimated = points.map((p) => ({ x: p.x, y: p.bucket[`est_${m.figure}`] ?? null, bucket: p.bucket }));
    if (estimated.some((p) => p.y !== null)) {
      datasets.push({
        type: "line", label: `${m.model} estimated`, model: m.model, figureName: `estimated ${FIGURE_NAMES[m.figure] || m.figure}`, yAxisID: "y",
        data: estimated, borderColor: color, borderWidth: 1.5, borderDash: [2, 3], pointRadius: 2, pointStyle: "rectRot",
        pointBackgroundColor: color, pointBorderColor: color,
      });
    }
    datasets.push({
      type: "bar", label: `${m.model} labelled`, model: m.model, yAxisID: "labelled",
      data: points.map((p) => ({ x: p.x, y: p.bucket.completeness ?? null, bucket: p.bucket })),
      backgroundColor: points.map((p) => (final(p.bucket) ? color + "cc" : "white")),
      borderColor: color, borderWidth: 1, barPercentage: 0.9, categoryPercentage: 0.9,
    });
  });
  const starts = models.flatMap((m) => m.buckets.map((b) => b.bucket_start));
  const ends = models.flatMap((m) => m.buckets.map((b) => b.bucket_end));
  const low = Math.min(...starts), high = Math.max(...ends);
  // Ticks on whole 5 minutes, quarters, hours or days, ten at most.
  const step = TICK_STEPS.find((s) => (high - low) / s <= 10) || TICK_STEPS[TICK_STEPS.length - 1];
  byTimeDays = high - low > 86400;
  Object.assign(byTimeChart.options.scales.x, { min: Math.floor(low / step) * step, max: Math.ceil(high / step) * step });
  byTimeChart.options.scales.x.ticks.stepSize = step;
  const figures = [...new Set(models.map((m) => FIGURE_NAMES[m.figure] || m.figure))];
  byTimeChart.options.scales.y.title.text = figures.join(" / ");
  byTimeChart.options.scales.y.max = figures.length === 1 && figures[0] === "accuracy" ? 1 : undefined;
  byTimeChart.options.plugins.provisionalSpan = { from, to };
  byTimeChart.data.datasets = datasets;
  byTimeChart.update("none");
  const shown = models.reduce((n, m) => n + m.buckets.length, 0);
  const known = models.some((m) => m.buckets.some((b) => b.completeness !== null && b.completeness !== undefined));
  document.getElementById("by-time-note").textContent =
    `per bucket of event time (when the prediction was made), latest ${integer(shown)} buckets; a late label revises its bucket` +
    (known ? "" : "; completeness unknown (no prediction counts from the metric service)") +
    (estimation ? `; estimation before labels ${estimation.state}` : "");
  document.getElementById("by-time-figure").textContent = figures.join(" / ");
  drawByTimeTable(models);
}

// The latest buckets, newest first, and the latest final one if it is older than those.
function tableBuckets(buckets) {
  const newest = [...buckets].reverse().slice(0, BY_TIME_TABLE);
  const final = [...buckets].reverse().find((b) => b.state === "final");
  return final && !newest.includes(final) ? [...newest, final] : newest;
}

function drawByTimeTable(models) {
  document.querySelector("#by-time-table tbody").innerHTML = models
    .flatMap((m) => tableBuckets(m.buckets).map((b) =>
      `<tr class="${b.state}" data-model="${escapeHtml(m.model)}" data-start="${b.bucket_start}" data-state="${b.state}">` +
      `<td>${escapeHtml(m.model)}</td><td>${eventTime(b.bucket_start, true)}</td>` +
      `<td>${integer((b.bucket_end - b.bucket_start) / 60)} min</td>` +
      `<td><span class="state-pill state-${b.state}">${b.state}</span></td><td>${integer(b.rows)}</td>` +
      `<td class="completeness">${labelled(b.completeness)}</td><td>${number(b[m.figure], 3)}</td>` +
      `<td class="estimated">${number(b[`est_${m.figure}`], 3)}</td><td class="estimate-error">${number(b.estimate_error, 3)}</td></tr>`))
    .join("");
}
