/* Draws every <canvas data-chart-source="ID"> from the {labels, values} JSON in
   <script id="ID" type="application/json"> (Django's json_script). No inline script, so a
   strict Content-Security-Policy can be turned on. */
(function () {
  "use strict";

  var ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
  var dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });

  function label(value) {
    return ISO_DAY.test(value) ? dayFormat.format(new Date(value + "T00:00:00Z")) : value;
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chartSource);
    if (!source || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var style = getComputedStyle(document.documentElement);
    var accent = style.getPropertyValue("--accent").trim() || "#1f5fbf";
    var muted = style.getPropertyValue("--text-muted").trim() || "#5b6778";
    // {labels, values} is one series in the accent colour; {labels, datasets: [{label, values,
    // colour}]} is several, with a legend.
    var series = data.datasets || [{ label: canvas.dataset.chartLabel || "", values: data.values }];
    new Chart(canvas, {
      type: canvas.dataset.chartType || "bar",
      data: {
        labels: data.labels.map(label),
        datasets: series.map(function (one) {
          var colour = one.colour || accent;
          return {
            label: one.label,
            data: one.values,
            backgroundColor: colour,
            borderColor: colour,
            borderRadius: 3,
            maxBarThickness: 28,
            pointRadius: 0,
            stepped: canvas.dataset.chartType === "line" ? "after" : false,
          };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: Boolean(data.datasets), position: "bottom" } },
        scales: {
          x: { grid: { display: false }, ticks: { color: muted, maxRotation: 0, autoSkipPadding: 12 } },
          y: { beginAtZero: true, ticks: { color: muted, precision: 0 } },
        },
      },
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart-source]").forEach(draw);
  });
})();
