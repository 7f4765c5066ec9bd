/* Rip City dashboard: draws the price chart (uPlot) from the JSON the page embeds.
   Everything else works without JavaScript; htmx only swaps tables in place. */
(function () {
  "use strict";
  function money(v) { return v == null ? "—" : "$" + v.toLocaleString(undefined, {maximumFractionDigits: 2}); }

  function drawChart() {
    var el = document.getElementById("chart");
    var raw = document.getElementById("chart-data");
    if (!el || !raw || typeof uPlot === "undefined") return;
    var data = JSON.parse(raw.textContent);
    if (!data.x.length) { el.dataset.drawn = "0"; return; }
    var cols = [data.x].concat(data.series.map(function (s) { return s.values; }));
    var series = [{}].concat(data.series.map(function (s) {
      return {label: s.label, stroke: s.color, width: 2, spanGaps: true,
              points: {show: data.x.length < 60, size: 5, fill: s.color},
              value: function (u, v) { return money(v); }};
    }));
    var width = function () { return Math.max(280, el.clientWidth); };
    var plot = new uPlot({
      width: width(), height: 300, series: series,
      scales: {x: {time: true}},
      axes: [{stroke: "#4b5563", grid: {stroke: "#eef0f3"}},
             {stroke: "#4b5563", grid: {stroke: "#eef0f3"}, size: 60,
              values: function (u, vals) { return vals.map(function (v) { return "$" + v; }); }}],
      legend: {live: true},
      cursor: {drag: {x: true, y: false}}
    }, cols, el);
    el.dataset.drawn = String(cols.slice(1).reduce(function (n, c) {
      return n + c.filter(function (v) { return v != null; }).length; }, 0));
    window.addEventListener("resize", function () { plot.setSize({width: width(), height: 300}); });
  }

  // <select data-autosubmit>: submit the form on change (no inline handlers under the CSP)
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.hasAttribute && t.hasAttribute("data-autosubmit") && t.form) t.form.submit();
  });

  if (document.readyState === "complete") drawChart();
  else window.addEventListener("load", drawChart);
})();
