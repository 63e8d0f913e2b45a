/* The demo page's dashboard: window and theme switches, views per minute, the views counted
   apart (bots, automated clients), the hourly and daily charts, the movers list. */
(function (d) {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var STATS_EVERY_MS = 5000;
  var CHART_EVERY_MS = 60000;
  var lang = d.body.getAttribute("data-lang") || "en";
  var article = d.body.getAttribute("data-article");
  var numbers = new Intl.NumberFormat(lang);
  // The page's own words in its language (service/demo_words.py), as the server wrote them.
  var SAY = JSON.parse(d.body.getAttribute("data-words") || "{}");

  function getJSON(path) {
    return fetch(path, { credentials: "omit" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function press(group, button) {
    group.querySelectorAll("button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b === button));
    });
  }

  // Buttons that set one attribute of the widget their group controls.
  function switches(group, attribute) {
    group.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      var widget = d.getElementById(group.getAttribute("data-controls"));
      if (!button || !widget) return;
      widget.setAttribute(attribute, button.getAttribute("data-" + attribute));
      press(group, button);
    });
  }

  function themeChips(holder) {
    var current = holder.getAttribute("data-theme");
    getJSON("/v1/themes").then(function (data) {
      data.themes.forEach(function (entry) {
        var button = d.createElement("button");
        button.type = "button";
        button.textContent = entry.theme;
        button.setAttribute("data-theme", entry.theme);
        button.setAttribute("aria-pressed", String(entry.theme === current));
        holder.appendChild(button);
      });
    }).catch(function () {});
    switches(holder, "theme");
  }

  function stats() {
    var out = d.getElementById("vpm");
    var asOf = d.getElementById("vpm-as-of");
    if (!out) return;
    var time = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    var poll = function () {
      if (d.hidden) return;
      getJSON("/v1/stats").then(function (data) {
        out.textContent = numbers.format(data.views_per_minute);
        asOf.textContent = (SAY.as_of || "{time}").replace("{time}", time.format(new Date(data.as_of)));
      }).catch(function () {});
    };
    poll();
    setInterval(poll, STATS_EVERY_MS);
  }

  // Bot and automated views of this article: what the filters kept out of its count.
  function apart() {
    var bots = d.getElementById("bot-views");
    var automated = d.getElementById("automated-views");
    if (!bots || !automated || !article) return;
    var poll = function () {
      if (d.hidden) return;
      getJSON("/v1/articles/" + encodeURIComponent(article) + "/views").then(function (data) {
        bots.textContent = numbers.format(data.bot_views);
        automated.textContent = numbers.format(data.automated_views);
      }).catch(function () {});
    };
    poll();
    setInterval(poll, STATS_EVERY_MS);
  }

  function node(name, attrs, text) {
    var el = d.createElementNS(SVG, name);
    for (var key in attrs) el.setAttribute(key, attrs[key]);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // A round axis maximum whose four gridlines fall on whole numbers.
  function niceMax(value) {
    var step = Math.max(1, Math.ceil(value / 4));
    var magnitude = Math.pow(10, Math.floor(Math.log10(step)));
    var factors = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < factors.length; i++) {
      var candidate = factors[i] * magnitude;
      if (candidate >= step && Number.isInteger(candidate)) return candidate * 4;
    }
    return 10 * magnitude * 4;
  }

  var HOURS = { labels: new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" }), every: 4 };
  // A day point's date is its local day (VIEWCOUNT_TIMEZONE): name it in that day, not the reader's.
  var DAYS = {
    labels: new Intl.DateTimeFormat(lang, { weekday: "short", day: "numeric", timeZone: "UTC" }),
    every: 1,
  };

  function pointDate(point) {
    return point.date ? new Date(point.date + "T12:00:00Z") : new Date(point.at);
  }

  function drawChart(holder, points, scale) {
    var width = 720, height = 220, left = 40, bottom = 24, top = 10;
    var plotW = width - left - 8, plotH = height - top - bottom;
    var max = niceMax(Math.max.apply(null, points.map(function (p) { return p.views; })));
    var svg = node("svg", { viewBox: "0 0 " + width + " " + height, preserveAspectRatio: "xMidYMid meet" });
    for (var g = 0; g <= 4; g++) {
      var y = top + plotH - (plotH * g) / 4;
      svg.appendChild(node("line", { class: "grid", x1: left, x2: width - 8, y1: y, y2: y }));
      svg.appendChild(node("text", { class: "axis", x: left - 6, y: y + 4, "text-anchor": "end" }, numbers.format((max * g) / 4)));
    }
    var slot = plotW / points.length;
    points.forEach(function (point, i) {
      var h = (plotH * point.views) / max;
      var x = left + i * slot + slot * 0.15;
      var bar = node("rect", { class: i === points.length - 1 ? "bar now" : "bar", x: x.toFixed(1), y: (top + plotH - h).toFixed(1), width: (slot * 0.7).toFixed(1), height: Math.max(h, 0).toFixed(1), rx: 2 });
      var label = scale.labels.format(pointDate(point));
      bar.appendChild(node("title", {}, label + " · " + numbers.format(point.views)));
      svg.appendChild(bar);
      if (i % scale.every === 0) svg.appendChild(node("text", { class: "axis", x: (x + slot * 0.35).toFixed(1), y: height - 6, "text-anchor": "middle" }, label));
    });
    holder.replaceChildren(svg);
    holder.setAttribute("data-points", String(points.length));
  }

  function chart(id, path, scale) {
    var holder = d.getElementById(id);
    if (!holder) return;
    var load = function () {
      if (d.hidden) return;
      getJSON(path)
        .then(function (data) { drawChart(holder, data.points, scale); })
        .catch(function () {});
    };
    load();
    setInterval(load, CHART_EVERY_MS);
  }

  // The 24h list's biggest climbers since the list of an hour before, new entries after them.
  var WORDS = JSON.parse(d.body.getAttribute("data-movement") || "{}");
  var MOVERS = 5;
  function movers() {
    var out = d.getElementById("movers");
    if (!out) return;
    var load = function () {
      if (d.hidden) return;
      getJSON("/v1/popular?window=24h&limit=100").then(function (data) {
        if (!data.previous_as_of) return; // nothing old enough to compare with yet
        var moved = data.items.map(function (item) {
          var places = item.previous_rank === null ? null : item.previous_rank - item.rank;
          return { item: item, places: places };
        }).filter(function (m) { return m.places !== 0; });
        moved.sort(function (a, b) {
          if (a.places === null || b.places === null) return (a.places === null) - (b.places === null);
          return Math.abs(b.places) - Math.abs(a.places) || a.item.rank - b.item.rank;
        });
        out.replaceChildren.apply(out, moved.slice(0, MOVERS).map(function (m) {
          var li = d.createElement("li");
          var mark = d.createElement("span");
          if (m.places === null) {
            mark.className = "new";
            mark.textContent = WORDS["new"] || "new";
          } else {
            var up = m.places > 0;
            mark.className = up ? "up" : "down";
            mark.textContent = (up ? "\u25B2 " : "\u25BC ") + numbers.format(Math.abs(m.places));
            mark.title = (WORDS[up ? "up" : "down"] || "").replace("{n}", numbers.format(Math.abs(m.places)));
          }
          var link = d.createElement("a");
          link.href = "/news/" + encodeURIComponent(m.item.article) + "?lang=" + encodeURIComponent(lang);
          link.textContent = m.item.title;
          li.append(mark, link);
          return li;
        }));
      }).catch(function () {});
    };
    load();
    setInterval(load, CHART_EVERY_MS);
  }

  d.querySelectorAll(".seg[data-controls]").forEach(function (group) { switches(group, "window"); });
  var chips = d.getElementById("theme-chips");
  if (chips) themeChips(chips);
  stats();
  apart();
  if (article) chart("chart", "/v1/articles/" + encodeURIComponent(article) + "/timeseries?window=24h", HOURS);
  chart("chart-7d", "/v1/timeseries?window=7d", DAYS);
  movers();
})(document);
