package org.tfdiffusion.export.serving;

/**
 * What one model request turned out to be, filled in as it is served and read once it is answered,
 * for the metrics and the access log: which API it called, on which model, version and signature,
 * with how many rows, and in how large a graph run those rows went (with batching, the merged
 * batch).
 */
final class RequestFacts {
  /** The API a request called, as the metrics label it. */
  enum Api {
    PREDICT("predict"),
    METADATA("metadata"),
    STATUS("status"),
    INTERPOLATE("interpolate");

    private final String label;

    Api(String label) {
      this.label = label;
    }

    String label() {
      return label;
    }
  }

  /** Where a request came in, as the metrics label it. */
  enum Protocol {
    REST("rest"),
    GRPC("grpc");

    private final String label;

    Protocol(String label) {
      this.label = label;
    }

    String label() {
      return label;
    }
  }

  private final Protocol protocol;
  private volatile Api api;
  private volatile String model = "";
  private volatile long version = -1;
  private volatile String signature = "";
  private volatile int rows;
  private volatile int runRows;
  private volatile ErrorCode code = ErrorCode.OK;
  private volatile String error;

  RequestFacts(Protocol protocol) {
    this.protocol = protocol;
  }

  Protocol protocol() {
    return protocol;
  }

  /** The API called, or null for a request that is not a model API call (files, lists). */
  Api api() {
    return api;
  }

  void api(Api a) {
    api = a;
  }

  /** The model named by the request, as sent (check that it exists before using it as a label). */
  String model() {
    return model;
  }

  void model(String name) {
    model = name;
  }

  /** The version that served it, or -1 when none did. */
  long version() {
    return version;
  }

  void version(long v) {
    version = v;
  }

  /** The signature run, once it is known to exist; empty before. */
  String signature() {
    return signature;
  }

  void signature(String key) {
    signature = key;
  }

  /** The rows of the request (its batch size), 0 when unknown. */
  int rows() {
    return rows;
  }

  void rows(int n) {
    rows = n;
  }

  /** The rows of the graph run that served it (more than {@link #rows} when batched). */
  int runRows() {
    return runRows;
  }

  void runRows(int n) {
    runRows = n;
  }

  /** The status the request ended with. */
  ErrorCode code() {
    return code;
  }

  void code(ErrorCode c) {
    code = c;
  }

  /** The one-line error message the request was answered with, or null. */
  String error() {
    return error;
  }

  void error(String message) {
    error = message;
  }
}
