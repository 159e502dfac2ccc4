package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import com.google.protobuf.Int64Value;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.proto.TensorShapeProto;
import org.tensorflow.proto.error.Code;
import org.tfdiffusion.export.TinyRun;
import tensorflow.serving.GetModelMetadata.GetModelMetadataRequest;
import tensorflow.serving.GetModelMetadata.GetModelMetadataResponse;
import tensorflow.serving.GetModelMetadata.SignatureDefMap;
import tensorflow.serving.GetModelStatus.GetModelStatusRequest;
import tensorflow.serving.GetModelStatus.GetModelStatusResponse;
import tensorflow.serving.GetModelStatus.ModelVersionStatus;
import tensorflow.serving.Model.ModelSpec;
import tensorflow.serving.ModelServiceGrpc;
import tensorflow.serving.Predict.PredictRequest;
import tensorflow.serving.Predict.PredictResponse;
import tensorflow.serving.PredictionServiceGrpc;

/**
 * The gRPC API through grpc-java's own client and TensorFlow Serving's messages, beside the REST
 * API of the same server, on a real export of a tiny model (DPM-Solver++ with 4 steps).
 */
class GrpcServerTest {
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path dir;
  static RestServer server;
  static ManagedChannel channel;
  static PredictionServiceGrpc.PredictionServiceBlockingStub predictions;
  static ModelServiceGrpc.ModelServiceBlockingStub models;
  static HttpClient http;

  @BeforeAll
  static void start() {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    server =
        RestServer.start(
            base,
            RestServer.Options.defaults()
                .withPort(0)
                .withGrpcPort(0)
                .withMaxBatch(8)
                .withMaxConcurrent(2)
                .withPoll(Duration.ofMillis(200)),
            ServerLog.quiet());
    channel =
        NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort().orElseThrow())
            .usePlaintext()
            .build();
    predictions = PredictionServiceGrpc.newBlockingStub(channel);
    models = ModelServiceGrpc.newBlockingStub(channel);
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void stop() throws InterruptedException {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.close();
    }
  }

  static PredictionServiceGrpc.PredictionServiceBlockingStub predictions() {
    return predictions.withDeadlineAfter(120, TimeUnit.SECONDS);
  }

  static TensorProto int64s(long... v) {
    TensorProto.Builder b =
        TensorProto.newBuilder().setDtype(DataType.DT_INT64).setTensorShape(vector(v.length));
    for (long x : v) {
      b.addInt64Val(x);
    }
    return b.build();
  }

  static TensorProto int32s(int... v) {
    TensorProto.Builder b =
        TensorProto.newBuilder().setDtype(DataType.DT_INT32).setTensorShape(vector(v.length));
    for (int x : v) {
      b.addIntVal(x);
    }
    return b.build();
  }

  /** Floats packed in tensor_content, as tf.make_tensor_proto writes them. */
  static TensorProto floatContent(float... v) {
    ByteBuffer bytes = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) {
      bytes.putFloat(x);
    }
    return TensorProto.newBuilder()
        .setDtype(DataType.DT_FLOAT)
        .setTensorShape(vector(v.length))
        .setTensorContent(ByteString.copyFrom(bytes.array()))
        .build();
  }

  static TensorShapeProto vector(int n) {
    return TensorShapeProto.newBuilder()
        .addDim(TensorShapeProto.Dim.newBuilder().setSize(n))
        .build();
  }

  static JsonNode rest(String method, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + path));
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    return JSON.readTree(r.body());
  }

  static float[] floats(JsonNode node) {
    java.util.List<Float> out = new java.util.ArrayList<>();
    flatten(node, out);
    float[] f = new float[out.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = out.get(i);
    }
    return f;
  }

  private static void flatten(JsonNode node, java.util.List<Float> out) {
    if (node.isArray()) {
      node.forEach(n -> flatten(n, out));
    } else {
      out.add(node.floatValue());
    }
  }

  static float[] floats(TensorProto t) {
    float[] f = new float[t.getFloatValCount()];
    for (int i = 0; i < f.length; i++) {
      f[i] = t.getFloatVal(i);
    }
    return f;
  }

  @Test
  void predictGivesTheRestApisImagesForTheSameSeeds() throws Exception {
    PredictResponse r =
        predictions()
            .predict(
                PredictRequest.newBuilder()
                    .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
                    .putInputs("seed", int64s(3, 11))
                    .putInputs("class_label", int32s(1, 8))
                    .putInputs("guidance_scale", floatContent(3f, 1f))
                    .build());
    assertThat(r.getModelSpec().getName()).isEqualTo("fashion");
    assertThat(r.getModelSpec().getVersion().getValue()).isEqualTo(1);
    assertThat(r.getModelSpec().getSignatureName()).isEqualTo("serving_default");
    TensorProto images = r.getOutputsOrThrow("images");
    assertThat(images.getDtype()).isEqualTo(DataType.DT_FLOAT);
    assertThat(images.getTensorShape().getDimList())
        .extracting(TensorShapeProto.Dim::getSize)
        .containsExactly(2L, 28L, 28L, 1L);
    TensorProto png = r.getOutputsOrThrow("images_png_bytes");
    assertThat(png.getDtype()).isEqualTo(DataType.DT_STRING);
    assertThat(png.getStringValCount()).isEqualTo(2);

    JsonNode viaRest =
        rest(
            "POST",
            "/v1/models/fashion:predict",
            "{\"inputs\": {\"seed\": [3, 11], \"class_label\": [1, 8], \"guidance_scale\": [3.0,"
                + " 1.0]}}");
    assertThat(floats(images)).containsExactly(floats(viaRest.path("outputs").path("images")));
    for (int i = 0; i < 2; i++) {
      assertThat(Base64.getEncoder().encodeToString(png.getStringVal(i).toByteArray()))
          .isEqualTo(viaRest.path("outputs").path("images_png_bytes").get(i).path("b64").asText());
    }
  }

  @Test
  void theSampleSignatureAndOutputFilterAndIntegerTypesThatFit() throws Exception {
    // seed as DT_INT32 (what tf.make_tensor_proto makes of Python ints) feeds the DT_INT64 input
    TensorProto.Builder steps =
        TensorProto.newBuilder()
            .setDtype(DataType.DT_INT32)
            .setTensorShape(TensorShapeProto.getDefaultInstance())
            .addIntVal(7);
    PredictResponse r =
        predictions()
            .predict(
                PredictRequest.newBuilder()
                    .setModelSpec(
                        ModelSpec.newBuilder()
                            .setName("fashion")
                            .setVersion(Int64Value.of(1))
                            .setSignatureName("sample"))
                    .putInputs("seed", int32s(5, 6))
                    .putInputs("class_label", int32s(2, 2))
                    .putInputs("guidance_scale", floatContent(2f, 2f))
                    .putInputs("num_steps", steps.build())
                    .addOutputFilter("images")
                    .build());
    assertThat(r.getOutputsMap()).containsOnlyKeys("images");
    assertThat(r.getModelSpec().getSignatureName()).isEqualTo("sample");
    JsonNode viaRest =
        rest(
            "POST",
            "/v1/models/fashion:predict",
            "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [5, 6], \"class_label\": [2,"
                + " 2], \"guidance_scale\": [2.0, 2.0], \"num_steps\": 7}}");
    assertThat(floats(r.getOutputsOrThrow("images")))
        .containsExactly(floats(viaRest.path("outputs").path("images")));
  }

  @Test
  void getModelStatusReportsTheVersionAvailable() {
    GetModelStatusResponse r =
        models.getModelStatus(
            GetModelStatusRequest.newBuilder()
                .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
                .build());
    assertThat(r.getModelVersionStatusList()).hasSize(1);
    ModelVersionStatus v = r.getModelVersionStatus(0);
    assertThat(v.getVersion()).isEqualTo(1);
    assertThat(v.getState()).isEqualTo(ModelVersionStatus.State.AVAILABLE);
    assertThat(v.getStatus().getErrorCode()).isEqualTo(Code.OK);
  }

  @Test
  void getModelMetadataGivesTheSignaturesOfTheRestApi() throws Exception {
    GetModelMetadataResponse r =
        predictions()
            .getModelMetadata(
                GetModelMetadataRequest.newBuilder()
                    .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
                    .addMetadataField("signature_def")
                    .build());
    assertThat(r.getModelSpec().getVersion().getValue()).isEqualTo(1);
    SignatureDefMap map = r.getMetadataOrThrow("signature_def").unpack(SignatureDefMap.class);
    JsonNode viaRest =
        rest("GET", "/v1/models/fashion/metadata", null)
            .path("metadata")
            .path("signature_def")
            .path("signature_def");
    assertThat(map.getSignatureDefMap().keySet())
        .containsExactlyInAnyOrderElementsOf(() -> viaRest.fieldNames())
        .contains("serving_default", "sample");
    SignatureDef serving = map.getSignatureDefOrThrow("serving_default");
    assertThat(serving.getMethodName()).isEqualTo("tensorflow/serving/predict");
    TensorInfo seed = serving.getInputsOrThrow("seed");
    assertThat(seed.getDtype()).isEqualTo(DataType.DT_INT64);
    assertThat(seed.getTensorShape().getDim(0).getSize()).isEqualTo(-1);
    assertThat(seed.getName())
        .isEqualTo(
            viaRest.path("serving_default").path("inputs").path("seed").path("name").asText());

    StatusRuntimeException noField =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                predictions()
                    .getModelMetadata(
                        GetModelMetadataRequest.newBuilder()
                            .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
                            .build()));
    assertThat(noField.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
  }

  /** The error of a Predict call that must fail. */
  private StatusRuntimeException predictError(PredictRequest request) {
    return catchThrowableOfType(StatusRuntimeException.class, () -> predictions().predict(request));
  }

  @Test
  void anUnknownModelIsNotFoundWithTheRestApisMessage() throws Exception {
    StatusRuntimeException e =
        predictError(
            PredictRequest.newBuilder()
                .setModelSpec(ModelSpec.newBuilder().setName("nope"))
                .putInputs("seed", int64s(1))
                .build());
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    String restError =
        rest("POST", "/v1/models/nope:predict", "{\"inputs\": {\"seed\": [1]}}")
            .path("error")
            .asText();
    assertThat(e.getStatus().getDescription()).isEqualTo(restError).contains("nope");

    StatusRuntimeException status =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                models.getModelStatus(
                    GetModelStatusRequest.newBuilder()
                        .setModelSpec(
                            ModelSpec.newBuilder().setName("fashion").setVersion(Int64Value.of(9)))
                        .build()));
    assertThat(status.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(status.getStatus().getDescription())
        .isEqualTo(rest("GET", "/v1/models/fashion/versions/9", null).path("error").asText());
  }

  @Test
  void badInputsAreInvalidArgumentWithTheRestApisMessage() throws Exception {
    StatusRuntimeException missing =
        predictError(
            PredictRequest.newBuilder()
                .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
                .putInputs("seed", int64s(1))
                .putInputs("guidance_scale", floatContent(1f))
                .build());
    assertThat(missing.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(missing.getStatus().getDescription())
        .isEqualTo(
            rest(
                    "POST",
                    "/v1/models/fashion:predict",
                    "{\"inputs\": {\"seed\": [1], \"guidance_scale\": [1.0]}}")
                .path("error")
                .asText())
        .contains("missing input 'class_label'");

    StatusRuntimeException range =
        predictError(
            PredictRequest.newBuilder()
                .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
                .putInputs("seed", int64s(1))
                .putInputs("class_label", int32s(1))
                .putInputs("guidance_scale", floatContent(1e6f))
                .build());
    assertThat(range.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(range.getStatus().getDescription())
        .isEqualTo(
            rest(
                    "POST",
                    "/v1/models/fashion:predict",
                    "{\"inputs\": {\"seed\": [1], \"class_label\": [1], \"guidance_scale\":"
                        + " [1000000.0]}}")
                .path("error")
                .asText());

    StatusRuntimeException floatSeed =
        predictError(
            PredictRequest.newBuilder()
                .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
                .putInputs("seed", floatContent(1f))
                .putInputs("class_label", int32s(1))
                .putInputs("guidance_scale", floatContent(1f))
                .build());
    assertThat(floatSeed.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(floatSeed.getStatus().getDescription())
        .contains("input 'seed' has dtype DT_FLOAT", "DT_INT64");
  }

  @Test
  void grpcCallsAreCountedWithTheirProtocolAndApi() throws Exception {
    models.getModelStatus(
        GetModelStatusRequest.newBuilder()
            .setModelSpec(ModelSpec.newBuilder().setName("fashion"))
            .build());
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(server.url() + ServingMetrics.PATH)).build(),
            HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    assertThat(r.body())
        .containsPattern(
            "tfdiffusion_serving_requests_total\\{[^}]*api=\"status\",[^}]*protocol=\"grpc\"[^}]*"
                + "status=\"OK\"[^}]*\\} [1-9]");
  }
}
