package org.tfdiffusion.export.serving;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * A request that cannot be served, with the code that picks its HTTP status. The message goes to
 * the client as {@code {"error": message}}, so it names what was given and what is allowed, and
 * never carries a stack trace.
 */
public final class ServingException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode code;
  private final String allow;

  public ServingException(ErrorCode code, String message) {
    this(code, message, null);
  }

  private ServingException(ErrorCode code, String message, String allow) {
    super(requireNonNull(message, "message"));
    this.code = requireNonNull(code, "code");
    this.allow = allow;
  }

  /** 405 for a URL asked with the wrong method; {@code allow} is the method it takes. */
  public static ServingException methodNotAllowed(String message, String allow) {
    return new ServingException(ErrorCode.METHOD_NOT_ALLOWED, message, requireNonNull(allow));
  }

  /** The method the URL takes, for the {@code Allow} header of a 405. */
  public Optional<String> allow() {
    return Optional.ofNullable(allow);
  }

  /** {@code String.format(template, args)} with code {@link ErrorCode#INVALID_ARGUMENT} (400). */
  public static ServingException invalid(String template, Object... args) {
    return new ServingException(ErrorCode.INVALID_ARGUMENT, String.format(template, args));
  }

  /** {@code String.format(template, args)} with code {@link ErrorCode#NOT_FOUND} (404). */
  public static ServingException notFound(String template, Object... args) {
    return new ServingException(ErrorCode.NOT_FOUND, String.format(template, args));
  }

  public ErrorCode code() {
    return code;
  }
}
