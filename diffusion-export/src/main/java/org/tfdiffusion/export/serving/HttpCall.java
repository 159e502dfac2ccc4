package org.tfdiffusion.export.serving;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * One complete request as the HTTP layer hands it over: method, raw path, the whole body (within
 * {@link HttpLimits#maxBodyBytes()}), the client's connection, and where the one answer goes.
 */
final class HttpCall {
  private final String method;
  private final String rawPath;
  private final byte[] body;
  private final ClientConnection client;
  private final Consumer<HttpReply> answer;
  private final AtomicBoolean answered = new AtomicBoolean();
  private final long startNanos = System.nanoTime();
  private final RequestFacts facts = new RequestFacts(RequestFacts.Protocol.REST);

  HttpCall(
      String method,
      String rawPath,
      byte[] body,
      ClientConnection client,
      Consumer<HttpReply> answer) {
    this.method = method;
    this.rawPath = rawPath;
    this.body = body;
    this.client = client;
    this.answer = answer;
  }

  /** The HTTP method, e.g. {@code GET}. */
  String method() {
    return method;
  }

  /** The path as sent, still percent-encoded, without the query. */
  String rawPath() {
    return rawPath;
  }

  byte[] body() {
    return body;
  }

  ClientConnection client() {
    return client;
  }

  /** When the request was complete, as {@link System#nanoTime()}. */
  long startNanos() {
    return startNanos;
  }

  /** What the request turned out to be (model, signature, rows), for metrics and the access log. */
  RequestFacts facts() {
    return facts;
  }

  /** Sends the answer; later calls are ignored. */
  void answer(HttpReply reply) {
    if (answered.compareAndSet(false, true)) {
      answer.accept(reply);
    }
  }
}
