/* /docs: starts Swagger UI with the settings the page carries (no inline script, so the
 * page's CSP can allow only its own files). */
(function () {
  "use strict";
  var holder = document.getElementById("swagger-ui");
  var settings = JSON.parse(holder.getAttribute("data-settings"));
  settings.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  window.ui = SwaggerUIBundle(settings);
})();
