/*! viewcount beacon: counts one view per page view.
 * <script async src="https://COUNTER/v1/beacon.js" data-article="ARTICLE-ID"></script>
 * Optional: data-visitor="first-party id" (no cookies are set), data-api="https://COUNTER/v1/".
 * Each view carries the page's canonical URL: the service may read that page itself.
 * Single-page apps: leave out data-article and call viewcount.view("ARTICLE-ID") per page. */
(function (w, d, n) {
  "use strict";
  var script = d.currentScript || d.querySelector('script[src*="beacon.js"]');
  if (!script) return;
  var api = script.getAttribute("data-api");
  var endpoint;
  try {
    // data-api names the API root ("https://COUNTER/v1/"); by default it is where this file is.
    if (api && api.slice(-1) !== "/") api += "/";
    endpoint = new URL("views", new URL(api || script.src, d.baseURI)).href;
  } catch (e) {
    return;
  }

  function pageUrl() {
    // .href is absolute; the service refuses a url over 2048 characters.
    var link = d.querySelector('link[rel~="canonical"][href]');
    var url = String((link && link.href) || w.location.href).split("#")[0];
    return url.length <= 2048 ? url : "";
  }

  function view(article, visitor) {
    // Never throw into the page: a counter that is down must not cost the reader anything.
    try {
      if (!article) return false;
      var body = { article: String(article) };
      if (visitor) body.visitor = String(visitor);
      var url = pageUrl();
      if (url) body.url = url;
      var data = JSON.stringify(body);
      // A string body goes as text/plain: a "simple" request, so no CORS preflight.
      if (n.sendBeacon && n.sendBeacon(endpoint, data)) return true;
      if (w.fetch) {
        w.fetch(endpoint, { method: "POST", body: data, keepalive: true, credentials: "omit" })
          .catch(function () {});
        return true;
      }
    } catch (e) {}
    return false;
  }

  var vc = (w.viewcount = w.viewcount || {});
  vc.view = view;

  var article = script.getAttribute("data-article");
  if (!article) return;
  var send = function () {
    view(article, script.getAttribute("data-visitor"));
  };
  // A prerendered page is not a page view until the reader actually opens it.
  if (d.prerendering) d.addEventListener("prerenderingchange", send, { once: true });
  else send();
})(window, document, navigator);
