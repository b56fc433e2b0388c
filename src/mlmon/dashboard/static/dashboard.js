// The live page: subscribes to /api/events and redraws charts in place from each snapshot.
"use strict";

const COLORS = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3"];
const MEAN = "#c44e52", MEDIAN = "#2f8f5b", MUTED = "#6b7785";
const colorOf = (index) => COLORS[index % COLORS.length];
const number = (value, digits = 2) =>
  value === null || value === undefined ? "–" : Number(value).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: Math.min(digits, 2) });
const integer = (value) => (value === null || value === undefined ? "–" : Math.round(value).toLocaleString("en"));
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let overTimeAxis = "time"; // "time" (joined_at) or "row" (a seed log has no times)
Chart.defaults.animation = false; // a snapshot a second: redraw at once, no tweening
Chart.defaults.font.size = 12;
Chart.defaults.color = MUTED;

// Vertical marker lines (mean, median) on the histogram; Chart.js has none built in.
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
      ctx.fillStyle = marker.color;
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillText(marker.label, x + 4, chartArea.top + 12 + (marker.row || 0) * 13);
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
      plugins: { markerLines: { markers: [] }, legend: { labels: { boxWidth: 12 } } },
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
      plugins: { legend: { labels: { boxWidth: 12 } }, tooltip: { callbacks: { title: (items) => timeLabel(items[0].parsed.x) } } },
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
      scales: { x: { beginAtZero: true, title: { display: true, text: "PSI" } } },
      plugins: { legend: { display: false } },
    },
  }),
};

function timeLabel(value) {
  if (overTimeAxis !== "time") return `row ${integer(value)}`;
  return new Date(value * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

// Past a model's sample size (every row until then), the median, p90, bars and density are
// estimates from a uniform sample of its rows: say so, with the sizes.
const sampled = (models) => models.filter((m) => m.sample !== undefined && m.sample < m.rows);
const sampleSizes = (estimated, models) =>
  estimated.map((m) => `${integer(m.sample)} of ${integer(m.rows)} rows${models.length > 1 ? ` (${m.model})` : ""}`).join(", ");

function drawHistogram(histogram) {
  const edges = histogram.edges || [];
  const estimated = sampled(histogram.models || []);
  document.getElementById("histogram-note").textContent = estimated.length
    ? `bars, density and median from a uniform sample: ${sampleSizes(estimated, histogram.models)}; mean exact`
    : "histogram, density, mean and median";
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
    markers.push({ x: model.mean, color: MEAN, label: `${who}mean ${number(model.mean)}`, row: 2 * i });
    markers.push({ x: model.median, color: MEDIAN, dash: [6, 4], label: `${who}median ${number(model.median)}`, row: 2 * i + 1 });
  });
  charts.histogram.data.datasets = datasets;
  charts.histogram.options.plugins.markerLines.markers = markers;
  if (edges.length) {
    charts.histogram.options.scales.x.min = edges[0];
    charts.histogram.options.scales.x.max = edges[edges.length - 1];
  }
  charts.histogram.update("none");
}

function drawOverTime(overTime) {
  overTimeAxis = overTime.axis;
  const width = overTime.width;
  document.getElementById("over-time-note").textContent =
    overTime.axis === "time" ? `MAE (solid) and RMSE (dashed) per ${width} s` : `MAE and RMSE per ${integer(width)} rows`;
  const datasets = [];
  (overTime.models || []).forEach((model, i) => {
    const color = colorOf(i);
    const points = (values) => overTime.start.map((x, k) => ({ x: x + width / 2, y: values[k] }));
    const radius = overTime.start.length <= 20 ? 2.5 : 0; // a lone bucket must still show
    datasets.push({ label: `${model.model} MAE`, data: points(model.mae), borderColor: color, backgroundColor: color, pointRadius: radius, borderWidth: 2 });
    datasets.push({ label: `${model.model} RMSE`, data: points(model.rmse), borderColor: color, backgroundColor: color, borderDash: [6, 4], pointRadius: radius, borderWidth: 1.5 });
  });
  charts.overTime.data.datasets = datasets;
  charts.overTime.update("none");
}

function drawScatter(scatter) {
  let low = Infinity, high = -Infinity;
  const datasets = scatter.map((model, i) => {
    const data = model.y_true.map((x, k) => ({ x, y: model.y_pred[k] }));
    for (const p of data) { low = Math.min(low, p.x, p.y); high = Math.max(high, p.x, p.y); }
    return { label: model.model, data, backgroundColor: colorOf(i) + "99", pointRadius: 2.5 };
  });
  if (Number.isFinite(low)) {
    datasets.push({ type: "line", label: "y_pred = y_true", data: [{ x: low, y: low }, { x: high, y: high }], borderColor: MUTED, borderDash: [4, 4], pointRadius: 0, borderWidth: 1 });
  }
  charts.scatter.data.datasets = datasets;
  charts.scatter.update("none");
}

function drawDrift(reports) {
  const body = document.querySelector("#drift-table tbody");
  if (!reports.length) {
    document.getElementById("drift-note").textContent = "no drift report yet";
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
  document.getElementById("drift-note").textContent = first.warming_up
    ? `warming up: ${integer(first.rows)} rows in the window`
    : `PSI per column over the latest ${integer(first.rows)} rows; threshold ${first.psi_threshold}`;
  charts.drift.data = {
    labels: rows.map((c) => c.name),
    datasets: [{ data: rows.map((c) => c.psi), backgroundColor: rows.map((c) => (c.drifted ? MEAN : "#4c72b0aa")) }],
  };
  charts.drift.update("none");
  body.innerHTML = rows
    .map((c) => `<tr class="${c.drifted ? "drifted" : ""}" data-column="${escapeHtml(c.name)}"><td>${escapeHtml(c.name)}${c.drifted ? " · drifted" : ""}</td><td>PSI ${number(c.psi, 3)}</td><td>KS p ${c.ks_pvalue === null ? "–" : Number(c.ks_pvalue).toPrecision(2)}</td></tr>`)
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

function drawAlerts(alerts) {
  const box = document.getElementById("alerts");
  if (!alerts.length) {
    box.className = "alerts alerts-none";
    box.textContent = "No alert is firing.";
    return;
  }
  box.className = "alerts alerts-firing";
  box.innerHTML = `${alerts.length} alert${alerts.length > 1 ? "s" : ""} firing<ul>` +
    alerts.map((a) => `<li data-alert="${escapeHtml(a.alert)}">${escapeHtml(a.alert)}${a.series ? ` [${escapeHtml(a.series)}]` : ""}: value ${number(a.value, 3)} (${escapeHtml(a.service)})</li>`).join("") + "</ul>";
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
  document.getElementById("updated").textContent = "updated " + new Date(snapshot.updated_at * 1000).toLocaleTimeString("en-GB", { hour12: false });
  drawModels(snapshot.models || []);
  drawHistogram(snapshot.histogram || {});
  drawOverTime(snapshot.over_time || { models: [], start: [] });
  drawScatter(snapshot.scatter || []);
  drawDrift(snapshot.drift || []);
  drawAlerts(snapshot.alerts || []);
  drawHealth(snapshot.health);
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
connect();
