package org.tfdiffusion.export.serving;

import java.time.Duration;

/**
 * What one client may take of the server's HTTP layer, so that stalled, slow or oversized requests
 * cannot starve the others (see {@code docs/serving-reliability.md}).
 *
 * @param maxConnections open connections at most; one more is answered 503 and closed
 * @param headerTimeout from a request's first byte to the end of its headers; then 408 and close
 * @param bodyTimeout from the end of a request's headers to the end of its body; then 408 and close
 * @param idleTimeout how long a connection may wait with no request in progress (between requests
 *     of a kept-alive connection, or before its first), and how long an answer may take to be
 *     written to a client that does not read it; then the connection is closed
 * @param maxHeaderBytes the request line, and all header lines together, at most; more: 414 (line)
 *     or 431 (headers)
 * @param maxBodyBytes one request body at most, checked from Content-Length before it is read and
 *     while a chunked body streams in; more: 413
 * @param maxBodyBytesInFlight all request bodies being received or served at once; a request that
 *     would go over it: 429
 */
public record HttpLimits(
    int maxConnections,
    Duration headerTimeout,
    Duration bodyTimeout,
    Duration idleTimeout,
    int maxHeaderBytes,
    long maxBodyBytes,
    long maxBodyBytesInFlight) {
  /** {@link #maxConnections()} by default. */
  public static final int MAX_CONNECTIONS = 512;

  /** {@link #headerTimeout()} by default, in seconds. */
  public static final int HEADER_TIMEOUT_SECONDS = 10;

  /** {@link #bodyTimeout()} by default, in seconds. */
  public static final int BODY_TIMEOUT_SECONDS = 60;

  /** {@link #idleTimeout()} by default, in seconds. */
  public static final int IDLE_TIMEOUT_SECONDS = 60;

  /** {@link #maxHeaderBytes()} by default. */
  public static final int MAX_HEADER_BYTES = 16 << 10;

  /**
   * {@link #maxBodyBytes()} by default: a request of 64 rows of 64x64x3 floats written in full
   * precision fits.
   */
  public static final long MAX_BODY_BYTES = 32L << 20;

  /** {@link #maxBodyBytesInFlight()} by default: two requests of the largest size at once. */
  public static final long MAX_BODY_BYTES_IN_FLIGHT = 2 * MAX_BODY_BYTES;

  /** Headers smaller than this could not carry the request line of a predict request. */
  private static final int MIN_HEADER_BYTES = 1024;

  /**
   * @throws IllegalArgumentException naming the serve option, for a limit that would refuse every
   *     request
   */
  public HttpLimits {
    check(maxConnections >= 1, "--max-connections must be at least 1, not %d", maxConnections);
    checkPositive(headerTimeout, "--header-timeout");
    checkPositive(bodyTimeout, "--body-timeout");
    checkPositive(idleTimeout, "--idle-timeout");
    check(
        maxHeaderBytes >= MIN_HEADER_BYTES,
        "--max-header-bytes must be at least %d, not %d",
        MIN_HEADER_BYTES,
        maxHeaderBytes);
    check(maxBodyBytes >= 1, "--max-body-bytes must be at least 1, not %d", maxBodyBytes);
    check(
        maxBodyBytes <= Integer.MAX_VALUE - 8,
        "--max-body-bytes must be at most %d (2 GiB), not %d",
        Integer.MAX_VALUE - 8,
        maxBodyBytes);
    check(
        maxBodyBytesInFlight >= maxBodyBytes,
        "--max-body-bytes-in-flight (%d) must be at least --max-body-bytes (%d)",
        maxBodyBytesInFlight,
        maxBodyBytes);
  }

  /** The defaults: the constants of this class. */
  public static HttpLimits defaults() {
    return new HttpLimits(
        MAX_CONNECTIONS,
        Duration.ofSeconds(HEADER_TIMEOUT_SECONDS),
        Duration.ofSeconds(BODY_TIMEOUT_SECONDS),
        Duration.ofSeconds(IDLE_TIMEOUT_SECONDS),
        MAX_HEADER_BYTES,
        MAX_BODY_BYTES,
        MAX_BODY_BYTES_IN_FLIGHT);
  }

  /** These limits with another connection limit. */
  public HttpLimits withMaxConnections(int n) {
    return new HttpLimits(
        n,
        headerTimeout,
        bodyTimeout,
        idleTimeout,
        maxHeaderBytes,
        maxBodyBytes,
        maxBodyBytesInFlight);
  }

  /** These limits with other header, body and idle timeouts. */
  public HttpLimits withTimeouts(Duration header, Duration body, Duration idle) {
    return new HttpLimits(
        maxConnections, header, body, idle, maxHeaderBytes, maxBodyBytes, maxBodyBytesInFlight);
  }

  /** These limits with another header limit. */
  public HttpLimits withMaxHeaderBytes(int n) {
    return new HttpLimits(
        maxConnections,
        headerTimeout,
        bodyTimeout,
        idleTimeout,
        n,
        maxBodyBytes,
        maxBodyBytesInFlight);
  }

  /** These limits with other body limits (per request, and all requests at once). */
  public HttpLimits withMaxBodyBytes(long perRequest, long inFlight) {
    return new HttpLimits(
        maxConnections,
        headerTimeout,
        bodyTimeout,
        idleTimeout,
        maxHeaderBytes,
        perRequest,
        inFlight);
  }

  private static void checkPositive(Duration d, String option) {
    check(
        d != null && !d.isNegative() && !d.isZero(),
        "%s must be more than 0 seconds, not %s",
        option,
        d == null ? "none" : d.toMillis() / 1000.0);
  }

  private static void check(boolean ok, String template, Object... args) {
    if (!ok) {
      throw new IllegalArgumentException(String.format(template, args));
    }
  }
}
