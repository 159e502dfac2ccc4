package org.tfdiffusion.export.serving;

import org.tensorflow.exceptions.TFFailedPreconditionException;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.exceptions.TFResourceExhaustedException;
import org.tensorflow.exceptions.TFUnimplementedException;

/**
 * The canonical error codes that TensorFlow Serving reports, with the HTTP status its REST server
 * answers for each (TensorFlow Serving's {@code http_server.cc}, {@code ToHTTPStatusCode}), and the
 * HTTP-only ones of this server's HTTP layer. The names appear as {@code error_code} in model
 * status JSON.
 */
public enum ErrorCode {
  OK(200),
  /** The client went away before the answer (nginx's 499, as TensorFlow Serving maps it). */
  CANCELLED(499),
  UNKNOWN(500),
  INVALID_ARGUMENT(400),
  NOT_FOUND(404),
  RESOURCE_EXHAUSTED(429),
  FAILED_PRECONDITION(400),
  OUT_OF_RANGE(400),
  UNIMPLEMENTED(501),
  INTERNAL(500),
  UNAVAILABLE(503),
  /** Unrecoverable data loss or corruption, such as a truncated file. */
  DATA_LOSS(500),
  /** Not one of TensorFlow's codes: a URL asked with the wrong HTTP method. */
  METHOD_NOT_ALLOWED(405),
  /** Not one of TensorFlow's codes: a request whose headers or body did not arrive in time. */
  REQUEST_TIMEOUT(408),
  /** Not one of TensorFlow's codes: a request body over the server's limit. */
  PAYLOAD_TOO_LARGE(413),
  /** Not one of TensorFlow's codes: a request line over the server's header limit. */
  URI_TOO_LONG(414),
  /** Not one of TensorFlow's codes: request headers over the server's limit. */
  HEADERS_TOO_LARGE(431);

  private final int httpStatus;

  ErrorCode(int httpStatus) {
    this.httpStatus = httpStatus;
  }

  /** The HTTP status of a response carrying this error. */
  public int httpStatus() {
    return httpStatus;
  }

  /** The code of an exception thrown by TensorFlow's C API (UNKNOWN for any other exception). */
  public static ErrorCode of(Throwable tensorFlowError) {
    if (tensorFlowError instanceof ServingException e) {
      return e.code();
    }
    if (tensorFlowError instanceof TFInvalidArgumentException) {
      return INVALID_ARGUMENT;
    }
    if (tensorFlowError instanceof TFFailedPreconditionException) {
      return FAILED_PRECONDITION;
    }
    if (tensorFlowError instanceof TFOutOfRangeException) {
      return OUT_OF_RANGE;
    }
    if (tensorFlowError instanceof TFResourceExhaustedException) {
      return RESOURCE_EXHAUSTED;
    }
    if (tensorFlowError instanceof TFUnimplementedException) {
      return UNIMPLEMENTED;
    }
    return UNKNOWN;
  }
}
