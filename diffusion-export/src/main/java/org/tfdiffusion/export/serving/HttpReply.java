package org.tfdiffusion.export.serving;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One answer: its HTTP status, content type, body and any headers besides Content-Type and
 * Content-Length.
 */
record HttpReply(int status, String contentType, byte[] body, Map<String, String> headers) {
  static final String JSON = "application/json";

  /** A 200 JSON answer. */
  static HttpReply json(byte[] body) {
    return new HttpReply(ErrorCode.OK.httpStatus(), JSON, body, Map.of());
  }

  /** An error in TensorFlow Serving's shape, {@code {"error": "..."}}, with the code's status. */
  static HttpReply error(ErrorCode code, String message) {
    return new HttpReply(code.httpStatus(), JSON, RestServer.error(message), Map.of());
  }

  /** A file of the web page or of a run: revalidated on each use, never sniffed. */
  static HttpReply file(String contentType, byte[] body) {
    return new HttpReply(
        ErrorCode.OK.httpStatus(),
        contentType,
        body,
        Map.of("Cache-Control", "no-cache", "X-Content-Type-Options", "nosniff"));
  }

  /** This reply with one more header. */
  HttpReply with(String header, String value) {
    Map<String, String> more = new LinkedHashMap<>(headers);
    more.put(header, value);
    return new HttpReply(status, contentType, body, Map.copyOf(more));
  }
}
