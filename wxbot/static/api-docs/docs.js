// Swagger UI over the OpenAPI documents listed on the element (data-urls: [{url, name}], relative to the
// page; no inline script, so the page's CSP allows scripts from 'self' only). One document is shown as it
// is; several get Swagger UI's switcher (its top bar, StandaloneLayout).
window.addEventListener("load", function () {
  var element = document.getElementById("docs");
  var urls = JSON.parse(element.dataset.urls);
  var options = { domNode: element, deepLinking: true, validatorUrl: null };  // no badge from swagger.io
  if (urls.length > 1) {
    options.urls = urls;
    options.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
    options.layout = "StandaloneLayout";
  } else {
    options.url = urls[0].url;
  }
  window.ui = SwaggerUIBundle(options);
});
