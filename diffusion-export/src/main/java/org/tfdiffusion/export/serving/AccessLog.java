package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * The access log: one JSON object per answered request, on one line, e.g.
 *
 * <pre>{@code
 * {"time":"2026-12-04T18:56:43.123Z","protocol":"rest","method":"POST",
 *  "path":"/v1/models/demo:predict","api":"predict","model":"demo","version":1,
 *  "signature":"serving_default","batch":1,"run_batch":8,"latency_ms":412.7,"status":200,
 *  "code":"OK"}
 * }</pre>
 *
 * {@code batch} is the request's rows and {@code run_batch} the rows of the graph run that served
 * it (larger with batching); {@code api}, {@code model}, {@code version}, {@code signature}, {@code
 * batch} and {@code run_batch} are null where they do not apply or were never known (a request for
 * a file, one refused before its model was found); a failed request adds {@code "error"}, its
 * one-line message.
 */
public final class AccessLog implements AutoCloseable {
  private final OutputStream out;
  private final boolean owned;

  private AccessLog(OutputStream out, boolean owned) {
    this.out = out;
    this.owned = owned;
  }

  /**
   * Appends to {@code file} (created if need be); closed with this log.
   *
   * @throws UncheckedIOException when the file cannot be opened
   */
  public static AccessLog toFile(Path file) {
    try {
      return new AccessLog(
          Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND), true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open the access log " + file + ": " + e, e);
    }
  }

  /** Writes to {@code out} (such as standard output), which this log never closes. */
  public static AccessLog to(OutputStream out) {
    return new AccessLog(out, false);
  }

  /**
   * Writes one request's line.
   *
   * @param method the HTTP method
   * @param path the raw URL path
   * @param status the HTTP status of the answer
   */
  void write(RequestFacts facts, String method, String path, int status, double seconds) {
    ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    try (JsonGenerator g = PredictRequest.MAPPER.getFactory().createGenerator(line)) {
      g.writeStartObject();
      g.writeStringField("time", Instant.now().toString());
      g.writeStringField("protocol", facts.protocol().label());
      g.writeStringField("method", method);
      g.writeStringField("path", path);
      RequestFacts.Api api = facts.api();
      g.writeStringField("api", api == null ? null : api.label());
      g.writeStringField("model", api == null || facts.model().isEmpty() ? null : facts.model());
      if (facts.version() >= 0) {
        g.writeNumberField("version", facts.version());
      } else {
        g.writeNullField("version");
      }
      g.writeStringField("signature", facts.signature().isEmpty() ? null : facts.signature());
      writeCount(g, "batch", facts.rows());
      writeCount(g, "run_batch", facts.runRows());
      g.writeNumberField("latency_ms", Math.round(seconds * 1e4) / 10.0);
      g.writeNumberField("status", status);
      g.writeStringField("code", facts.code().name());
      if (facts.error() != null) {
        g.writeStringField("error", facts.error());
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    line.write('\n');
    synchronized (this) {
      try {
        line.writeTo(out);
        out.flush();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write the access log: " + e, e);
      }
    }
  }

  private static void writeCount(JsonGenerator g, String field, int n) throws IOException {
    if (n > 0) {
      g.writeNumberField(field, n);
    } else {
      g.writeNullField(field);
    }
  }

  @Override
  public synchronized void close() {
    try {
      out.flush();
      if (owned) {
        out.close();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
