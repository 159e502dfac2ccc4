package org.tfdiffusion.export.serving;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The web page at {@code /}: static files bundled in this jar under {@code
 * org/tfdiffusion/export/web/}, read once. It needs no network beyond this server: no CDN, no
 * fonts, no libraries, and it talks only to the public REST endpoints (TensorFlow Serving's, and
 * the read-only {@code /v1/models} and {@code /v1/runs} extensions).
 */
final class WebPage {
  /** A file of the page. */
  record Resource(String contentType, byte[] body) {
    /** Whether this is the HTML page itself (which gets the content security policy). */
    boolean isPage() {
      return contentType.startsWith("text/html");
    }
  }

  /** What a page may load: only this server, images also as data: URLs, no inline scripts. */
  static final String CONTENT_SECURITY_POLICY =
      "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self';"
          + " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

  private static final String FOLDER = "/org/tfdiffusion/export/web/";

  private final Map<String, Resource> byPath = new LinkedHashMap<>();

  private WebPage() {
    Resource index = load("index.html", "text/html; charset=utf-8");
    byPath.put("/", index);
    byPath.put("/index.html", index);
    byPath.put("/web/app.js", load("app.js", "text/javascript; charset=utf-8"));
    byPath.put("/web/style.css", load("style.css", "text/css; charset=utf-8"));
    byPath.put("/web/favicon.svg", load("favicon.svg", "image/svg+xml"));
  }

  /**
   * Reads the page's files from the class path.
   *
   * @throws IllegalStateException when a file is missing from the jar (a broken build)
   */
  static WebPage load() {
    return new WebPage();
  }

  /** The file served at a URL path, if it is one of the page's. */
  Optional<Resource> find(String path) {
    return Optional.ofNullable(byPath.get(path));
  }

  private static Resource load(String name, String contentType) {
    try (InputStream in = WebPage.class.getResourceAsStream(FOLDER + name)) {
      if (in == null) {
        throw new IllegalStateException(
            FOLDER + name + " is missing from the class path; rebuild diffusion-export");
      }
      return new Resource(contentType, in.readAllBytes());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + FOLDER + name, e);
    }
  }
}
