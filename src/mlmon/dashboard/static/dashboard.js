// The live page: subscribes to /api/events and redraws charts in place from each snapshot.
"use strict";

const COLORS = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3"];
const MUTED = "#6b7785", ALARM = "#c44e52", CALM = "#9fb3c8";
const colorOf = (index) => COLORS[index % COLORS.length];
const number = (value, digits = 2) =>
  value === null || value === undefined ? "–" : Number(value).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: Math.min(digits, 2) });
const integer = (value) => (value === null || value === undefined ? "–" : Math.round(value).toLocaleString("en"));
// Statistics between 0 and 1 (PSI, KS p-values): always three decimals, "<0.001" below, so a
// column never reads "0.00" beside "0.001".
const stat = (value) =>
  value === null || value === undefined ? "–" : value > 0 && value < 0.001 ? "<0.001" : Number(value).toFixed(3);
const DRIFT_SIGNALS = new Set(["psi", "ks_statistic", "ks_pvalue", "js_distance", "chi2_pvalue", "missing_rate", "out_of_range_rate", "unseen_rate", "type_mismatch_rate", "absent_rate"]);
// An alert's value and threshold, in its signal's format (4 significant digits for errors).
const signalFigure = (signal, value) =>
  DRIFT_SIGNALS.has(signal) ? stat(value) : value === null || value === undefined ? "–" : Number(value).toLocaleString("en", { maximumSignificantDigits: 4 });
const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour12: false });
function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
}
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let overTimeAxis = "time"; // "time" (joined_at) or "row" (a seed log has no times)
let lastSnapshot = null; // the snapshot drawn last, to redraw a part on a click
Chart.defaults.animation = false; // a snapshot a second: redraw at once, no tweening
Chart.defaults.font.size = 12;
Chart.defaults.color = MUTED;

// Vertical marker lines (mean and median on the histogram, the threshold on the drift chart);
// Chart.js has none built in. A marker's label goes above the plot area, where no bar is.
const markerLines = {
  id: "markerLines",
  afterDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    for (const marker of options.markers || []) {
      const x = scales.x.getPixelForValue(marker.x);
      if (!(x >= chartArea.left && x <= chartArea.right)) continue;
      ctx.save();
      ctx.strokeStyle = marker.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(marker.dash || []);
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      if (marker.label) {
        ctx.fillStyle = marker.color;
        ctx.font = "600 11px system-ui, sans-serif";
        const width = ctx.measureText(marker.label).width;
        const left = Math.min(Math.max(x - width / 2, 0), chart.width - width);
        ctx.fillText(marker.label, left, chartArea.top - 5);
      }
      ctx.restore();
    }
  },
};
Chart.register(markerLines);

const charts = {
  histogram: new Chart(document.getElementById("histogram"), {
    type: "bar",
    data: { datasets: [] },
    options: {
      maintainAspectRatio: false,
      scales: {
        x: { type: "linear", title: { display: true, text: "absolute error" } },
        y: { title: { display: true, text: "rows per bin" }, beginAtZero: true },
      },
      plugins: {
        markerLines: { markers: [] },
        // Each model's bars, mean and median as legend entries: Chart.js lays them out in rows,
        // so with several models no two labels overlap (labels drawn on the plot did).
        legend: {
          labels: {
            usePointStyle: true, pointStyleWidth: 18, boxHeight: 8,
            generateLabels: (chart) => [
              ...Chart.defaults.plugins.legend.labels.generateLabels(chart)
                .filter((item) => chart.data.datasets[item.datasetIndex].type === "bar")
                .map((item) => ({ ...item, pointStyle: "rect" })),
              ...chart.options.plugins.markerLines.markers.map((m) => ({
                text: m.legend, strokeStyle: m.color, fillStyle: m.color, lineWidth: 2, lineDash: m.dash || [],
                pointStyle: "line", fontColor: MUTED, marker: true,
              })),
            ],
          },
          onClick(event, item, legend) {
            if (!item.marker) Chart.defaults.plugins.legend.onClick.call(this, event, item, legend);
          },
        },
      },
    },
  }),
  overTime: new Chart(document.getElementById("over-time"), {
    type: "line",
    data: { datasets: [] },
    options: {
      maintainAspectRatio: false,
      spanGaps: false,
      scales: {
        x: { type: "linear", ticks: { callback: (v) => timeLabel(v) } },
        y: { beginAtZero: true, title: { display: true, text: "error" } },
      },
      layout: { padding: { top: 14 } }, // room for the change points' labels
      plugins: {
        legend: { labels: { boxWidth: 12 } },
        markerLines: { markers: [] },
        tooltip: { callbacks: { title: (items) => timeLabel(items[0].parsed.x) } },
      },
    },
  }),
  scatter: new Chart(document.getElementById("scatter"), {
    type: "scatter",
    data: { datasets: [] },
    options: {
      maintainAspectRatio: false,
      scales: {
        x: { title: { display: true, text: "y_true" } },
        y: { title: { display: true, text: "y_pred" } },
      },
      plugins: { legend: { labels: { boxWidth: 12 } } },
    },
  }),
  drift: new Chart(document.getElementById("drift"), {
    type: "bar",
    data: { labels: [], datasets: [] },
    options: {
      maintainAspectRatio: false,
      indexAxis: "y",
      layout: { padding: { top: 16 } }, // room for the threshold's label
      scales: { x: { min: 0, title: { display: true, text: "effect size (PSI, JS)" } } },
      plugins: {
        legend: { display: false },
        markerLines: { markers: [] },
        tooltip: { callbacks: { label: (item) => `effect ${stat(item.raw)}` } },
      },
    },
  }),
};

function timeLabel(value) {
  return axisLabel(overTimeAxis, value);
}
function axisLabel(axis, value) {
  if (axis !== "time") return `row ${integer(value)}`;
  return new Date(value * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

// Past a model's sample size (every row until then), the median, p90, bars and density are
// estimates from a uniform sample of its rows: say so, with the sizes.
const sampled = (models) => models.filter((m) => m.sample !== undefined && m.sample < m.rows);
const sampleSizes = (estimated, models) =>
  estimated.map((m) => `${integer(m.sample)} of ${integer(m.rows)} rows${models.length > 1 ? ` (${m.model})` : ""}`).join(", ");

// Before its first figures a chart shows `text` instead of empty 0-1 axes.
function waiting(canvasId, isWaiting, text) {
  const box = document.getElementById(canvasId).parentElement;
  box.classList.toggle("is-waiting", isWaiting);
  if (text) document.getElementById(`${canvasId}-waiting`).textContent = text;
}

function drawHistogram(histogram) {
  const edges = histogram.edges || [];
  const estimated = sampled(histogram.models || []);
  waiting("histogram", !(histogram.models || []).length);
  document.getElementById("histogram-note").textContent = !(histogram.models || []).length
    ? ""
    : estimated.length
      ? `bars, density and median from a uniform sample: ${sampleSizes(estimated, histogram.models)}; mean exact`
      : "histogram, density curve, mean (solid) and median (dashed)";
  const markers = [];
  const datasets = [];
  (histogram.models || []).forEach((model, i) => {
    const color = colorOf(i);
    const bars = model.counts.map((count, b) => ({ x: (edges[b] + edges[b + 1]) / 2, y: count }));
    datasets.push({
      type: "bar", label: model.model, data: bars, backgroundColor: color + "88", borderColor: color,
      borderWidth: 1, barPercentage: 1, categoryPercentage: 1, grouped: false, order: 2,
    });
    datasets.push({
      type: "line", label: `${model.model} density`, pointRadius: 0, borderColor: color, borderWidth: 2,
      data: model.density_x.map((x, k) => ({ x, y: model.density_y[k] })), order: 1,
    });
    const who = histogram.models.length > 1 ? `${model.model} ` : "";
    markers.push({ x: model.mean, color, legend: `${who}mean ${number(model.mean)}` });
    markers.push({ x: model.median, color, dash: [6, 4], legend: `${who}median ${number(model.median)}` });
  });
  charts.histogram.data.datasets = datasets;
  charts.histogram.options.plugins.markerLines.markers = markers;
  if (edges.length) {
    charts.histogram.options.scales.x.min = edges[0];
    charts.histogram.options.scales.x.max = edges[edges.length - 1];
  }
  charts.histogram.update("none");
}

// Dotted lines where the models' change points (not their segments') fall on an over-time
// chart; points closer than a hundredth of its span share a line and a label.
function changeMarkers(series, changes, color = colorOf) {
  const names = (series.models || []).map((m) => m.model);
  const starts = series.start || [];
  if (!starts.length) return [];
  const low = starts[0], high = starts[starts.length - 1] + series.width, near = (high - low) / 100;
  const marks = [];
  for (const c of [...(changes || [])].sort((a, b) => a.row - b.row)) {
    const x = series.axis === "time" ? c.joined_at : c.row;
    const i = names.indexOf(c.model);
    if (c.segment || i < 0 || x === null || x < low || x > high) continue;
    const same = marks.find((m) => m.model === c.model && x - m.x <= near);
    const name = c.detector.replace("_", "-");
    if (same) { if (!same.names.includes(name)) same.names.push(name); continue; }
    marks.push({ model: c.model, x, names: [name], index: i });
  }
  return marks.map((m) => ({ x: m.x, color: color(m.index), dash: [2, 3], label: "▼ " + m.names.join(" + ") }));
}

function drawChanges(changes) {
  const body = document.querySelector("#changes-table tbody");
  document.getElementById("changes-card").hidden = !changes.length;
  body.innerHTML = changes.map((c) => `<tr data-model="${escapeHtml(c.model)}" data-segment="${escapeHtml(c.segment)}" data-detector="${escapeHtml(c.detector)}">` +
    `<td>${escapeHtml(c.model)}</td><td>${c.segment ? escapeHtml(c.segment) : '<span class="muted">all rows</span>'}</td>` +
    `<td>${escapeHtml(c.detector.replace("_", "-"))}</td><td>${integer(c.row)}</td>` +
    `<td>${c.joined_at === null ? "" : clock(c.joined_at)}</td>` +
    `<td>${c.mean_before === null ? "" : stat(c.mean_before)} <span class="muted">over ${integer(c.rows_before)} rows</span></td></tr>`).join("");
}

function drawOverTime(overTime, changes) {
  overTimeAxis = overTime.axis;
  const width = overTime.width;
  const empty = !(overTime.start || []).length;
  waiting("over-time", empty);
  document.getElementById("over-time-note").textContent = empty
    ? ""
    : overTime.axis === "time" ? `MAE (solid) and RMSE (dashed) per ${width} s` : `MAE and RMSE per ${integer(width)} rows`;
  const datasets = [];
  (overTime.models || []).forEach((model, i) => {
    const color = colorOf(i);
    const points = (values) => overTime.start.map((x, k) => ({ x: x + width / 2, y: values[k] }));
    const radius = overTime.start.length <= 20 ? 2.5 : 0; // a lone bucket must still show
    datasets.push({ label: `${model.model} MAE`, data: points(model.mae), borderColor: color, backgroundColor: color, pointRadius: radius, borderWidth: 2 });
    datasets.push({ label: `${model.model} RMSE`, data: points(model.rmse), borderColor: color, backgroundColor: color, borderDash: [6, 4], pointRadius: radius, borderWidth: 1.5 });
  });
  charts.overTime.data.datasets = datasets;
  charts.overTime.options.plugins.markerLines.markers = changeMarkers(overTime, changes);
  charts.overTime.update("none");
}

function drawScatter(scatter) {
  let low = Infinity, high = -Infinity;
  const datasets = scatter.map((model, i) => {
    const data = model.y_true.map((x, k) => ({ x, y: model.y_pred[k] }));
    for (const p of data) { low = Math.min(low, p.x, p.y); high = Math.max(high, p.x, p.y); }
    return { label: model.model, data, backgroundColor: colorOf(i) + "99", pointRadius: 2.5 };
  });
  waiting("scatter", !Number.isFinite(low));
  if (Number.isFinite(low)) {
    datasets.push({ type: "line", label: "y_pred = y_true", data: [{ x: low, y: low }, { x: high, y: high }], borderColor: MUTED, borderDash: [4, 4], pointRadius: 0, borderWidth: 1 });
  }
  charts.scatter.data.datasets = datasets;
  charts.scatter.update("none");
}

function drawDrift(reports) {
  const body = document.querySelector("#drift-table tbody");
  if (!reports.length) {
    waiting("drift", true, "waiting for the first drift report…");
    document.getElementById("drift-note").textContent = "";
    charts.drift.data = { labels: [], datasets: [] };
    charts.drift.update("none");
    body.innerHTML = "";
    return;
  }
  // Features drift alike for every model; each model's prediction column is its own.
  const first = reports[0];
  const rows = [...first.columns];
  for (const report of reports.slice(1)) {
    for (const column of report.columns) {
      if (column.name === "prediction") rows.push({ ...column, name: `prediction (${report.model})` });
    }
  }
  if (reports.length > 1) {
    const own = rows.find((c) => c.name === "prediction");
    if (own) own.name = `prediction (${first.model})`;
  }
  const threshold = first.psi_threshold ?? 0.2;
  // The effect size of each column: PSI for numbers, Jensen-Shannon distance for categories.
  const effect = (c) => (c.kind === "categorical" ? c.js_distance : c.psi);
  const warming = first.warming_up ? `warming up: ${integer(first.rows)} of ${integer(first.min_rows)} rows in the window` : "";
  waiting("drift", rows.every((c) => effect(c) === null || effect(c) === undefined), warming || "waiting for the first drift report…");
  document.getElementById("drift-note").textContent =
    warming || `PSI (numbers) or JS distance (categories) over the latest ${integer(first.rows)} rows; red = flagged (test p-values, false discovery rate ${stat(first.fdr ?? 0.01)})`;
  // The axis always reaches past the threshold: on an unshifted stream (PSI ~0.001) the bars
  // stay short and calm instead of filling the chart as if every column drifted.
  charts.drift.options.scales.x.suggestedMax = threshold * 1.25;
  charts.drift.options.plugins.markerLines.markers = [
    { x: threshold, color: ALARM, dash: [5, 3], label: `PSI ${stat(threshold)}: a large shift` },
  ];
  charts.drift.data = {
    labels: rows.map((c) => c.name),
    datasets: [{ data: rows.map(effect), backgroundColor: rows.map((c) => (c.drifted ? ALARM : CALM)) }],
  };
  charts.drift.update("none");
  // A column is flagged by its test (KS, chi-square) under the false discovery control.
  const test = (c) => (c.kind === "categorical" ? `χ² p ${stat(c.chi2_pvalue)}` : `KS p ${stat(c.ks_pvalue)}`);
  const size = (c) => (c.kind === "categorical" ? `JS ${stat(c.js_distance)}` : `PSI ${stat(c.psi)}`);
  body.innerHTML = rows
    .map((c) => `<tr class="${c.drifted ? "drifted" : ""}" data-column="${escapeHtml(c.name)}"><td>${escapeHtml(c.name)}${c.drifted ? " · drifted" : ""}</td><td class="psi">${size(c)}</td><td class="ks">${test(c)}</td><td class="adjusted">adjusted p ${stat(c.adjusted_pvalue)}</td></tr>`)
    .join("");
}

function drawModels(models) {
  const body = document.querySelector("#models-table tbody");
  if (!models.length) return;
  const colorIndex = new Map(models.map((m, i) => [m.model, i]));
  const ranked = [...models].sort((a, b) => a.mae - b.mae);
  const about = (m) => (m.sample < m.rows ? "≈ " : ""); // estimated from the model's sample
  body.innerHTML = ranked
    .map((m, rank) => `<tr data-model="${escapeHtml(m.model)}" data-mae="${m.mae}">
      <td><span class="swatch" style="background:${colorOf(colorIndex.get(m.model))}"></span>${escapeHtml(m.model)}${rank === 0 && ranked.length > 1 ? '<span class="best">best</span>' : ""}</td>
      <td>${integer(m.rows)}</td><td class="mae">${number(m.mae)}</td><td>${number(m.rmse)}</td><td>${about(m)}${number(m.median)}</td>
      <td>${about(m)}${number(m.p90)}</td><td>${number(m.max)}</td><td>${number(m.bias)}</td></tr>`)
    .join("");
  const estimated = sampled(models);
  const note = document.getElementById("models-note");
  note.hidden = !estimated.length;
  note.textContent = estimated.length
    ? `≈ median and p90 from a uniform sample of each model's errors: ${sampleSizes(estimated, models)}. Rows, MAE, RMSE, max and bias are exact.`
    : "";
}

// An alert with its rule (signal, op, threshold, `for`), the value it fired at, its model and
// since when its condition holds (`now` is the snapshot's time, so clocks need not agree).
function alertItem(a, now) {
  const signal = a.signal ? `${a.signal}${a.selector ? `[${a.selector}]` : ""}` : "";
  const rule = signal ? `${signal} ${a.op} ${signalFigure(a.signal, a.threshold)}${a.for_seconds ? ` for ${duration(a.for_seconds)}` : ""}` : "";
  const since = a.active_since ? ` · since <span data-field="since">${clock(a.active_since)} (${duration(now - a.active_since)} ago)</span>` : "";
  return `<li data-alert="${escapeHtml(a.alert)}" data-series="${escapeHtml(a.series || "")}">` +
    `<span class="alert-name">${escapeHtml(a.alert)}</span>${a.series ? ` on <span data-field="series">${escapeHtml(a.series)}</span>` : ""}: ` +
    (rule ? `<code data-field="rule">${escapeHtml(rule)}</code> · ` : "") +
    `value <span data-field="value">${signalFigure(a.signal, a.value)}</span> when it fired${since}` +
    ` <span class="muted">(${escapeHtml(a.service)} service)</span></li>`;
}

function drawAlerts(alerts, now) {
  const box = document.getElementById("alerts");
  if (!alerts.length) {
    box.className = "alerts alerts-none";
    box.textContent = "No alert is firing.";
    return;
  }
  box.className = "alerts alerts-firing";
  box.innerHTML = `${alerts.length} alert${alerts.length > 1 ? "s" : ""} firing<ul>` +
    alerts.map((a) => alertItem(a, now)).join("") + "</ul>";
}

function drawHealth(health) {
  document.querySelector("#services-table tbody").innerHTML = health.services
    .map((s) => `<tr data-service="${s.service}"><td>${s.service}</td><td>${s.instances}</td><td>${s.ready}/${s.instances}</td><td>${s.records_per_second === null || s.records_per_second === undefined ? "" : integer(s.records_per_second)}</td></tr>`)
    .join("");
  const queues = Object.entries(health.queues).sort();
  document.querySelector("#queues-table tbody").innerHTML = queues.length
    ? queues.map(([name, depth]) => `<tr><td>${escapeHtml(name)}</td><td>${integer(depth)}</td></tr>`).join("")
    : '<tr><td colspan="2" class="muted">no broker queues (embedded bus)</td></tr>';
  const join = [
    ["pending true values", health.pending.y_true], ["pending predictions", health.pending.y_pred],
    ["dead-lettered", health.dead_lettered], ["duplicates ignored", health.duplicates], ["orphans", health.orphans],
  ];
  document.querySelector("#join-table tbody").innerHTML = join.map(([k, v]) => `<tr><td>${k}</td><td id="join-${k.replace(/ /g, "-")}">${integer(v)}</td></tr>`).join("");
}

function draw(snapshot) {
  document.getElementById("rows").textContent = integer(snapshot.rows);
  const metric = (snapshot.health.services || []).find((s) => s.service === "metric");
  document.getElementById("joined-rate").textContent = metric ? integer(metric.records_per_second) : "–";
  document.getElementById("updated").textContent = "updated " + clock(snapshot.updated_at);
  drawModels(snapshot.models || []);
  drawHistogram(snapshot.histogram || {});
  drawOverTime(snapshot.over_time || { models: [], start: [] }, snapshot.change_points);
  drawChanges(snapshot.change_points || []);
  drawScatter(snapshot.scatter || []);
  drawDrift(snapshot.drift || []);
  drawDataQuality(snapshot.data_quality || []); // features.js
  drawAlerts(snapshot.alerts || [], snapshot.updated_at);
  drawHealth(snapshot.health);
  drawClassification(snapshot); // classification.js
  drawByTime(snapshot.by_time || [], snapshot.estimation || null); // by_time.js
  drawSegments(snapshot); // segments.js
  lastSnapshot = snapshot;
  document.body.dataset.version = snapshot.version; // which snapshot is drawn, for tests
}

function connect() {
  const pill = document.getElementById("connection");
  const source = new EventSource("/api/events");
  source.addEventListener("snapshot", (event) => {
    pill.className = "pill pill-live";
    pill.textContent = "live";
    draw(JSON.parse(event.data));
  });
  source.onerror = () => { // EventSource reconnects by itself
    pill.className = "pill pill-wait";
    pill.textContent = "reconnecting…";
  };
}
// After every deferred script has run (classification.js comes after this one).
document.addEventListener("DOMContentLoaded", connect);
