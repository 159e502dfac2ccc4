package org.tfdiffusion.export.serving;

import com.google.protobuf.Any;
import com.google.protobuf.Int64Value;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorShapeProto;
import tensorflow.serving.GetModelMetadata.GetModelMetadataRequest;
import tensorflow.serving.GetModelMetadata.GetModelMetadataResponse;
import tensorflow.serving.GetModelMetadata.SignatureDefMap;
import tensorflow.serving.GetModelStatus.GetModelStatusRequest;
import tensorflow.serving.GetModelStatus.GetModelStatusResponse;
import tensorflow.serving.GetModelStatus.ModelVersionStatus;
import tensorflow.serving.Model.ModelSpec;
import tensorflow.serving.ModelServiceGrpc;
import tensorflow.serving.Predict;
import tensorflow.serving.PredictionServiceGrpc;

/**
 * TensorFlow Serving's gRPC API beside the REST API, on the same models, prediction slots, batching
 * and metrics: {@code tensorflow.serving.PredictionService} ({@code Predict}, {@code
 * GetModelMetadata}) and {@code tensorflow.serving.ModelService} ({@code GetModelStatus}), with
 * TensorFlow Serving's messages (src/main/proto/tensorflow_serving/apis), so its clients ({@code
 * tensorflow-serving-api}'s stubs) call it unchanged.
 *
 * <p>A request is checked as its REST twin is and fails with the same message, its code TensorFlow
 * Serving's ({@code INVALID_ARGUMENT}, {@code NOT_FOUND}, {@code UNAVAILABLE}, {@code
 * RESOURCE_EXHAUSTED}, ...). A client that cancels its call (or whose deadline passes) leaves the
 * prediction queue, as one that hangs up on the REST API does. Each call is counted in the metrics
 * with {@code protocol="grpc"}.
 */
final class GrpcServer {
  static final String PREDICT = "/tensorflow.serving.PredictionService/Predict";
  static final String METADATA = "/tensorflow.serving.PredictionService/GetModelMetadata";
  static final String STATUS = "/tensorflow.serving.ModelService/GetModelStatus";

  /**
   * grpc-java's own logger, kept at WARNING (a strong reference keeps the level): its INFO lines
   * (transport details at start-up) are not the server's log.
   */
  private static final Logger GRPC_LOG = Logger.getLogger("io.grpc");

  static {
    GRPC_LOG.setLevel(Level.WARNING);
  }

  /** The one metadata field of GetModelMetadata. */
  static final String SIGNATURE_DEF = "signature_def";

  private final Server server;

  private GrpcServer(Server server) {
    this.server = server;
  }

  /**
   * Starts the gRPC API of {@code rest} on {@code host:port} (0: a free port).
   *
   * @param maxMessageBytes the largest request message (the REST API's body limit)
   * @param executor the threads that run calls (the REST API's request threads)
   * @throws UncheckedIOException when the address cannot be bound
   */
  static GrpcServer start(
      RestServer rest, String host, int port, int maxMessageBytes, Executor executor) {
    Holder holder = new Holder();
    Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
            .executor(executor)
            .maxInboundMessageSize(maxMessageBytes)
            .addService(holder.prediction(rest))
            .addService(holder.models(rest))
            .build();
    try {
      server.start();
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot listen for gRPC on " + host + ":" + port + " (--port): " + e.getMessage(), e);
    }
    return new GrpcServer(server);
  }

  /** The port the gRPC API listens on. */
  int port() {
    return server.getPort();
  }

  /** Stops taking new calls; running ones go on. */
  void stopAccepting() {
    server.shutdown();
  }

  /** Ends every call still open and waits (up to {@code grace}) for the server to stop. */
  void close(Duration grace) {
    server.shutdown();
    try {
      if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        server.shutdownNow();
        server.awaitTermination(1, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /** The services, built on the REST server's models and queues. */
  private static final class Holder {
    PredictionServiceGrpc.PredictionServiceImplBase prediction(RestServer rest) {
      return new PredictionServiceGrpc.PredictionServiceImplBase() {
        @Override
        public void predict(
            Predict.PredictRequest request, StreamObserver<Predict.PredictResponse> observer) {
          Calls.serve(
              rest,
              PREDICT,
              RequestFacts.Api.PREDICT,
              request.getModelSpec(),
              observer,
              (facts, client) -> predictCall(rest, request, facts, client));
        }

        @Override
        public void getModelMetadata(
            GetModelMetadataRequest request, StreamObserver<GetModelMetadataResponse> observer) {
          Calls.serve(
              rest,
              METADATA,
              RequestFacts.Api.METADATA,
              request.getModelSpec(),
              observer,
              (facts, client) ->
                  CompletableFuture.completedFuture(metadataCall(rest, request, facts)));
        }
      };
    }

    ModelServiceGrpc.ModelServiceImplBase models(RestServer rest) {
      return new ModelServiceGrpc.ModelServiceImplBase() {
        @Override
        public void getModelStatus(
            GetModelStatusRequest request, StreamObserver<GetModelStatusResponse> observer) {
          Calls.serve(
              rest,
              STATUS,
              RequestFacts.Api.STATUS,
              request.getModelSpec(),
              observer,
              (facts, client) -> CompletableFuture.completedFuture(statusCall(rest, request)));
        }
      };
    }
  }

  /** One call's work, given its facts and its client. */
  private interface Work<T> {
    CompletableFuture<T> start(RequestFacts facts, ClientConnection client);
  }

  /** What every call does around its work: facts, cancellation, errors, metrics and logs. */
  private static final class Calls {
    static <T> void serve(
        RestServer rest,
        String method,
        RequestFacts.Api api,
        ModelSpec spec,
        StreamObserver<T> observer,
        Work<T> work) {
      long start = System.nanoTime();
      RequestFacts facts = new RequestFacts(RequestFacts.Protocol.GRPC);
      facts.api(api);
      facts.model(spec.getName());
      ClientConnection client = new ClientConnection();
      if (observer instanceof ServerCallStreamObserver<T> call) {
        call.setOnCancelHandler(client::markGone);
      }
      rest.begin();
      CompletableFuture<T> answer;
      try {
        if (rest.isClosing()) {
          throw new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down");
        }
        answer = work.start(facts, client);
      } catch (RuntimeException | Error e) {
        answer = CompletableFuture.failedFuture(e);
      }
      answer.whenComplete(
          (value, failure) -> {
            try {
              ErrorCode code = ErrorCode.OK;
              if (failure == null) {
                observer.onNext(value);
                observer.onCompleted();
              } else {
                StatusRuntimeException s = error(rest, method, facts, failure);
                code = facts.code();
                if (!client.isGone()) {
                  observer.onError(s);
                }
              }
              finish(rest, method, facts, code, start);
            } catch (RuntimeException e) {
              // the call was cancelled meanwhile: there is no one to answer
              finish(rest, method, facts, facts.code(), start);
            } finally {
              rest.end();
            }
          });
    }

    private static void finish(
        RestServer rest, String method, RequestFacts facts, ErrorCode code, long start) {
      double seconds = (System.nanoTime() - start) / 1e9;
      rest.metrics().record(facts, seconds);
      RestServer.Options options = rest.options();
      if (options.accessLog().isPresent()) {
        try {
          options.accessLog().get().write(facts, "POST", method, code.httpStatus(), seconds);
        } catch (RuntimeException e) {
          rest.log().error("access log", e);
        }
      }
      if (options.logRequests()) {
        rest.log().info(String.format("gRPC %s %s %.0f ms", method, code, seconds * 1e3));
      }
    }

    /** The gRPC status of a failure, with the REST API's message; details of INTERNAL logged. */
    private static StatusRuntimeException error(
        RestServer rest, String method, RequestFacts facts, Throwable failure) {
      Throwable e = failure;
      while (e instanceof CompletionException && e.getCause() != null) {
        e = e.getCause();
      }
      if (e instanceof ServingException s) {
        facts.code(s.code());
        facts.error(s.getMessage());
        if (s.code().httpStatus() >= 500) {
          rest.log().error("gRPC " + method + ": " + s.getMessage(), null);
        }
        return status(s.code()).withDescription(s.getMessage()).asRuntimeException();
      }
      facts.code(ErrorCode.INTERNAL);
      rest.log().error("gRPC " + method + " failed", e);
      String message =
          "internal error ("
              + e.getClass().getSimpleName()
              + "); the details are in the server's log";
      facts.error(message);
      return Status.INTERNAL.withDescription(message).asRuntimeException();
    }
  }

  /** The gRPC status of an error code (TensorFlow's codes are gRPC's). */
  static Status status(ErrorCode code) {
    return switch (code) {
      case OK -> Status.OK;
      case CANCELLED -> Status.CANCELLED;
      case UNKNOWN -> Status.UNKNOWN;
      case INVALID_ARGUMENT -> Status.INVALID_ARGUMENT;
      case NOT_FOUND -> Status.NOT_FOUND;
      case RESOURCE_EXHAUSTED, PAYLOAD_TOO_LARGE, URI_TOO_LONG, HEADERS_TOO_LARGE ->
          Status.RESOURCE_EXHAUSTED;
      case FAILED_PRECONDITION -> Status.FAILED_PRECONDITION;
      case OUT_OF_RANGE -> Status.OUT_OF_RANGE;
      case UNIMPLEMENTED, METHOD_NOT_ALLOWED -> Status.UNIMPLEMENTED;
      case INTERNAL -> Status.INTERNAL;
      case UNAVAILABLE -> Status.UNAVAILABLE;
      case DATA_LOSS -> Status.DATA_LOSS;
      case REQUEST_TIMEOUT -> Status.DEADLINE_EXCEEDED;
    };
  }

  /** The version a ModelSpec names, or empty for the default. */
  static OptionalLong version(ModelSpec spec) {
    if (spec.hasVersionLabel()) {
      throw ServingException.notFound(
          "version labels are not supported by this server; set model_spec.version to a version"
              + " number (label '%s' of model %s)",
          spec.getVersionLabel(), spec.getName());
    }
    return spec.hasVersion() ? OptionalLong.of(spec.getVersion().getValue()) : OptionalLong.empty();
  }

  private static CompletableFuture<Predict.PredictResponse> predictCall(
      RestServer rest,
      Predict.PredictRequest request,
      RequestFacts facts,
      ClientConnection client) {
    ModelSpec spec = request.getModelSpec();
    Optional<String> signatureName =
        spec.getSignatureName().isEmpty() ? Optional.empty() : Optional.of(spec.getSignatureName());
    return rest.predictions()
        .prediction(
            client,
            spec.getName(),
            version(spec),
            signatureName,
            signature -> {
              for (String wanted : request.getOutputFilterList()) {
                if (!signature.outputs().containsKey(wanted)) {
                  throw ServingException.invalid(
                      "output_filter names '%s', which signature '%s' does not output (its"
                          + " outputs: %s)",
                      wanted, signature.key(), String.join(", ", signature.outputs().keySet()));
                }
              }
              PredictRequest.checkNames(
                  "\"inputs\"", List.copyOf(request.getInputsMap().keySet()), signature);
              Map<String, HostTensor> inputs = new LinkedHashMap<>();
              for (String name : signature.inputs().keySet()) {
                inputs.put(
                    name,
                    GrpcTensors.read(
                        "input '" + name + "'",
                        request.getInputsMap().get(name),
                        signature.inputs().get(name).dtype()));
              }
              PredictRequest.check(signature, inputs, rest.options().maxBatch());
              return inputs;
            },
            facts)
        .thenApply(
            outputs -> {
              Predict.PredictResponse.Builder b =
                  Predict.PredictResponse.newBuilder()
                      .setModelSpec(
                          ModelSpec.newBuilder()
                              .setName(spec.getName())
                              .setVersion(Int64Value.of(facts.version()))
                              .setSignatureName(facts.signature()));
              for (Map.Entry<String, HostTensor> e : outputs.entrySet()) {
                if (request.getOutputFilterCount() == 0
                    || request.getOutputFilterList().contains(e.getKey())) {
                  b.putOutputs(e.getKey(), GrpcTensors.write(e.getValue()));
                }
              }
              return b.build();
            });
  }

  private static GetModelMetadataResponse metadataCall(
      RestServer rest, GetModelMetadataRequest request, RequestFacts facts) {
    ModelSpec spec = request.getModelSpec();
    if (request.getMetadataFieldCount() == 0) {
      throw ServingException.invalid(
          "GetModelMetadataRequest must specify at least one metadata_field (this server has"
              + " \"%s\")",
          SIGNATURE_DEF);
    }
    for (String field : request.getMetadataFieldList()) {
      if (!field.equals(SIGNATURE_DEF)) {
        throw ServingException.invalid(
            "Metadata field %s is not supported (this server has \"%s\")", field, SIGNATURE_DEF);
      }
    }
    ServableModel model = rest.registry().acquire(spec.getName(), version(spec));
    try {
      facts.version(model.version());
      SignatureDefMap.Builder map = SignatureDefMap.newBuilder();
      for (SignatureSpec s : model.signatures().values()) {
        SignatureDef.Builder def = SignatureDef.newBuilder().setMethodName(s.methodName());
        s.inputs().forEach((alias, t) -> def.putInputs(alias, tensorInfo(t)));
        s.outputs().forEach((alias, t) -> def.putOutputs(alias, tensorInfo(t)));
        map.putSignatureDef(s.key(), def.build());
      }
      return GetModelMetadataResponse.newBuilder()
          .setModelSpec(
              ModelSpec.newBuilder()
                  .setName(model.name())
                  .setVersion(Int64Value.of(model.version())))
          .putMetadata(SIGNATURE_DEF, Any.pack(map.build()))
          .build();
    } finally {
      model.release();
    }
  }

  private static TensorInfo tensorInfo(TensorSpec t) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    if (t.unknownRank()) {
      shape.setUnknownRank(true);
    } else {
      for (long d : t.dims()) {
        shape.addDim(TensorShapeProto.Dim.newBuilder().setSize(d));
      }
    }
    return TensorInfo.newBuilder()
        .setName(t.tensorName())
        .setDtype(t.dtype())
        .setTensorShape(shape)
        .build();
  }

  private static GetModelStatusResponse statusCall(RestServer rest, GetModelStatusRequest request) {
    ModelSpec spec = request.getModelSpec();
    GetModelStatusResponse.Builder b = GetModelStatusResponse.newBuilder();
    for (ModelRegistry.VersionStatus s : rest.registry().status(spec.getName(), version(spec))) {
      org.tensorflow.proto.error.Code code;
      try {
        code = org.tensorflow.proto.error.Code.valueOf(s.code().name());
      } catch (IllegalArgumentException notTensorFlows) {
        code = org.tensorflow.proto.error.Code.UNKNOWN;
      }
      b.addModelVersionStatus(
          ModelVersionStatus.newBuilder()
              .setVersion(s.version())
              .setState(ModelVersionStatus.State.valueOf(s.state().name()))
              .setStatus(
                  tensorflow.serving.Status.StatusProto.newBuilder()
                      .setErrorCode(code)
                      .setErrorMessage(s.message())));
    }
    return b.build();
  }
}
