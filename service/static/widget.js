/*! viewcount widgets: <viewcount-popular> and <viewcount-views>. No framework, no build step.
 * <script async src="https://COUNTER/v1/widget.js"></script>
 * <viewcount-popular window="24h" theme="war" limit="5" lang="uk"></viewcount-popular>
 * <viewcount-popular kind="trending" exclude-current movement></viewcount-popular>
 * <viewcount-views article="ARTICLE-ID" lang="uk"></viewcount-views>
 * Attributes: lang (default: the nearest lang attribute), label-one/-few/-many/-other (labels),
 * refresh (seconds), and for the list: link ("/news/{article}"; default the article's url),
 * count ("views": all-time total, the default; "window": views in the window), kind
 * ("popular", the default, or "trending"), theme or author (that theme's or author's list),
 * published-within (24h, 7d, 30d), exclude (ids), exclude-current (leave out the article
 * being read: the widget's own article attribute, else the page beacon's data-article), and
 * movement (arrows: ▲ 3, ▼ 1, "new", against the list of an hour before).
 * Style: CSS custom properties --viewcount-* and ::part(list|item|link|move|count|number|label). */
(function (w, d) {
  "use strict";
  // Old browsers keep whatever fallback content the page put inside the elements.
  if (!w.customElements || !w.fetch || !w.Intl || !Intl.PluralRules) return;

  var script = d.currentScript || d.querySelector('script[src*="widget.js"]');
  var API = apiRoot(script);
  // Filled in by the service as it serves this file (service/api/assets.py): the article-id
  // pattern (service/validate.py), the most ids per request, the languages with their labels
  // per CLDR plural category (service/locale.py), and the defaults of a ranking request.
  var FACTS = /*@facts*/ null;
  var ARTICLE_ID = new RegExp("^(?:" + FACTS.article_id + ")$");
  var MAX_IDS = FACTS.max_ids;
  var LABELS = FACTS.labels;
  var MOVEMENT = FACTS.movement;
  var DEFAULT_LANG = FACTS.default_lang;
  var MIN_REFRESH_S = 5;
  var LABEL_ATTRS = ["label-one", "label-few", "label-many", "label-other"];

  var BASE_CSS =
    ":host{--_muted:var(--viewcount-count-color,#6b7280)}:host([hidden]){display:none}" +
    ".count{color:var(--_muted);font-size:var(--viewcount-count-size,inherit);" +
    "font-variant-numeric:tabular-nums}" +
    ".move{font-size:.8em;font-weight:600;margin-inline-end:.4em;font-variant-numeric:tabular-nums}" +
    ".move.up{color:var(--viewcount-up-color,#15803d)}" +
    ".move.down{color:var(--viewcount-down-color,#b91c1c)}" +
    ".move.new{color:var(--viewcount-new-color,#1d4ed8);text-transform:uppercase;" +
    "letter-spacing:.04em}" +
    ".count::before{content:var(--viewcount-prefix,none)}";
  var POPULAR_CSS =
    BASE_CSS +
    ":host{display:block}ol{list-style:none;margin:0;padding:0;display:grid;" +
    "gap:var(--viewcount-gap,.9em)}li{display:grid;gap:.2em}" +
    ".link{color:var(--viewcount-link-color,inherit);font-weight:var(--viewcount-title-weight,600);" +
    "line-height:1.3;text-decoration:none}" +
    "a.link:hover,a.link:focus-visible{color:var(--viewcount-accent,#c8102e);" +
    "text-decoration:underline}.count{font-size:var(--viewcount-count-size,.85em)}";
  var VIEWS_CSS = BASE_CSS + ":host{display:inline}";

  function apiRoot(tag) {
    var given = tag && tag.getAttribute("data-api");
    if (given && given.slice(-1) !== "/") given += "/";
    try {
      return new URL(given || (tag && tag.src) || "/v1/", d.baseURI);
    } catch (e) {
      return new URL("/v1/", d.baseURI);
    }
  }

  function getJSON(path) {
    return w.fetch(new URL(path, API).href, { credentials: "omit" }).then(function (r) {
      if (!r.ok) throw new Error("viewcount: HTTP " + r.status);
      return r.json();
    });
  }

  function language(el) {
    var holder = el.closest("[lang]");
    var tag = (holder && holder.getAttribute("lang")) || w.navigator.language || DEFAULT_LANG;
    var base = tag.toLowerCase().replace("_", "-").split("-")[0];
    return LABELS[base] ? base : DEFAULT_LANG;
  }

  /** The count in words: the number as the language groups it, then its plural label, as
   * service/locale.py writes it. */
  function countPart(el, count) {
    var lang = language(el);
    var category = new Intl.PluralRules(lang).select(count);
    var label = el.getAttribute("label-" + category) || LABELS[lang][category] || LABELS[lang].other;
    var node = part("span", "count");
    node.append(part("span", "number", new Intl.NumberFormat(lang).format(count)), " ",
                part("span", "label", label));
    return node;
  }

  function safeHref(href) {
    try {
      var url = new URL(href, d.baseURI);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function part(tag, name, text) {
    var node = d.createElement(tag);
    node.setAttribute("part", name);
    node.className = name;
    if (text !== undefined) node.textContent = text; // text, never HTML
    return node;
  }

  var sheets = {};
  function adoptStyle(root, css) {
    // A constructed sheet is not an inline <style>, so a strict style-src CSP allows it.
    try {
      if (!sheets[css]) {
        sheets[css] = new CSSStyleSheet();
        sheets[css].replaceSync(css);
      }
      root.adoptedStyleSheets = [sheets[css]];
    } catch (e) {
      root.appendChild(d.createElement("style")).textContent = css;
    }
  }

  class Widget extends HTMLElement {
    constructor(css, tag) {
      super();
      this.root = this.attachShadow({ mode: "open" });
      adoptStyle(this.root, css);
      // Until data arrives (or if it never does) the page's own fallback content shows.
      this.out = this.root.appendChild(d.createElement(tag));
      this.out.appendChild(d.createElement("slot"));
      this.seq = 0;
      this.timer = 0;
      this.queued = false;
      this.live = false;
      this.rendered = null;
    }
    connectedCallback() {
      this.live = true;
      if (!this.hasAttribute("state")) this.setAttribute("state", "loading");
      this.schedule();
      this.queue();
    }
    disconnectedCallback() {
      this.live = false;
      clearInterval(this.timer);
    }
    attributeChangedCallback(name, old, value) {
      if (!this.live || old === value) return;
      if (name === "refresh") this.schedule();
      this.queue();
    }
    queue() {
      // Several attribute changes in one task make one request.
      if (this.queued) return;
      this.queued = true;
      Promise.resolve().then(() => {
        this.queued = false;
        if (this.live) this.fetchAndRender();
      });
    }
    schedule() {
      clearInterval(this.timer);
      var seconds = parseFloat(this.getAttribute("refresh"));
      if (!(seconds > 0)) return;
      this.timer = setInterval(() => {
        if (!d.hidden) this.queue();
      }, Math.max(seconds, MIN_REFRESH_S) * 1000);
    }
    fetchAndRender() {
      var seq = ++this.seq;
      var done = (data) => {
        if (seq === this.seq) this.show(data);
      };
      var failed = () => {
        if (seq === this.seq) this.setAttribute("state", "error"); // keep what is shown
      };
      try {
        this.load().then(done).catch(failed); // a failure never reaches the page as an error
      } catch (e) {
        failed();
      }
    }
    show(data) {
      var key = JSON.stringify([data, language(this)].concat(LABEL_ATTRS.map(this.getAttribute, this)));
      if (key !== this.rendered) {
        this.rendered = key;
        this.out.replaceChildren.apply(this.out, this.build(data));
      }
      this.setAttribute("state", "ready");
    }
  }

  /** The article this page shows: the element's own article attribute, else the page
   * beacon's data-article (a single-page app sets the attribute as it changes pages). */
  function currentArticle(el) {
    var own = el.getAttribute("article");
    if (own) return own;
    var beacon = d.querySelector('script[src*="beacon.js"][data-article]');
    return (beacon && beacon.getAttribute("data-article")) || "";
  }

  /** An item's arrow against the list as it was (previous_rank), or null when unchanged. */
  function movePart(el, item) {
    var words = MOVEMENT[language(el)];
    if (item.previous_rank === null || item.previous_rank === undefined) {
      return part("span", "move new", words["new"]);
    }
    var places = item.previous_rank - item.rank;
    if (places === 0) return null;
    var up = places > 0;
    var count = new Intl.NumberFormat(language(el)).format(Math.abs(places));
    var node = part("span", "move " + (up ? "up" : "down"), (up ? "\u25B2 " : "\u25BC ") + count);
    node.setAttribute("aria-label", words[up ? "up" : "down"].replace("{n}", count));
    node.title = node.getAttribute("aria-label");
    return node;
  }

  class Popular extends Widget {
    static get observedAttributes() {
      return [
        "kind", "window", "theme", "author", "limit", "lang", "link", "count", "refresh",
        "published-within", "exclude", "exclude-current", "article", "movement",
      ].concat(LABEL_ATTRS);
    }
    constructor() {
      super(POPULAR_CSS, "div");
    }
    load() {
      var theme = this.getAttribute("theme");
      var author = this.getAttribute("author");
      var trending = this.getAttribute("kind") === "trending";
      var query = new URLSearchParams({ limit: this.getAttribute("limit") || FACTS.default_limit });
      if (!trending) query.set("window", this.getAttribute("window") || FACTS.default_window);
      var within = this.getAttribute("published-within");
      if (within) query.set("published_within", within);
      var left = (this.getAttribute("exclude") || "").split(",").filter(Boolean);
      var current = this.hasAttribute("exclude-current") ? currentArticle(this) : "";
      if (current && ARTICLE_ID.test(current) && left.indexOf(current) < 0) left.push(current);
      if (left.length) query.set("exclude", left.join(","));
      var scope = author ? "authors/" + encodeURIComponent(author) + "/"
        : theme ? "themes/" + encodeURIComponent(theme) + "/" : "";
      return getJSON(scope + (trending ? "trending?" : "popular?") + query).then(function (data) {
        // Arrows need a list old enough to compare with: none before its first hour.
        return { items: data.items || [], compared: Boolean(data.previous_as_of) };
      });
    }
    build(data) {
      var list = part("ol", "list");
      var link = this.getAttribute("link");
      var inWindow = this.getAttribute("count") === "window";
      var arrows = this.hasAttribute("movement") && data.compared;
      for (var item of data.items) {
        var href = safeHref(link ? link.split("{article}").join(encodeURIComponent(item.article)) : item.url);
        var title = part(href ? "a" : "span", "link", item.title);
        if (href) title.href = href;
        var li = part("li", "item");
        var line = d.createElement("span"); // one row: the arrow, then the count
        var move = arrows ? movePart(this, item) : null;
        if (move) line.append(move);
        line.append(countPart(this, inWindow ? item.window_views : item.views));
        li.append(title, " ", line);
        list.appendChild(li);
      }
      this.toggleAttribute("empty", data.items.length === 0);
      return [list];
    }
  }

  // Every <viewcount-views> on a page shares one request per task (up to MAX_IDS ids each).
  var pending = null;
  function lookup(article) {
    if (!ARTICLE_ID.test(article)) return Promise.reject(new Error("viewcount: bad article id"));
    if (!pending) {
      pending = new Map();
      setTimeout(flush, 0);
    }
    if (!pending.has(article)) pending.set(article, []);
    var waiters = pending.get(article);
    return new Promise(function (resolve, reject) {
      waiters.push([resolve, reject]);
    });
  }
  function flush() {
    var batch = pending;
    pending = null;
    var ids = Array.from(batch.keys());
    for (var i = 0; i < ids.length; i += MAX_IDS) {
      answer(batch, ids.slice(i, i + MAX_IDS));
    }
  }
  function answer(batch, ids) {
    var settle = function (which, value) {
      ids.forEach(function (id) {
        batch.get(id).forEach(function (waiter) {
          waiter[which](typeof value === "function" ? value(id) : value);
        });
      });
    };
    getJSON("views?articles=" + ids.map(encodeURIComponent).join(",")).then(
      function (data) {
        settle(0, function (id) {
          return (data.views || {})[id];
        });
      },
      function (error) {
        settle(1, error);
      }
    );
  }

  class Views extends Widget {
    static get observedAttributes() {
      return ["article", "lang", "refresh"].concat(LABEL_ATTRS);
    }
    constructor() {
      super(VIEWS_CSS, "span");
    }
    load() {
      return lookup(this.getAttribute("article") || "").then(function (views) {
        if (typeof views !== "number") throw new Error("viewcount: unknown article");
        return views;
      });
    }
    build(views) {
      this.views = views;
      return [countPart(this, views)];
    }
  }

  if (!customElements.get("viewcount-popular")) customElements.define("viewcount-popular", Popular);
  if (!customElements.get("viewcount-views")) customElements.define("viewcount-views", Views);
})(window, document);
