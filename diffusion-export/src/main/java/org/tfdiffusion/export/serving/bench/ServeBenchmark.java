package org.tfdiffusion.export.serving.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.Consumer;
import org.tensorflow.proto.DataType;
import org.tfdiffusion.export.serving.HostTensor;
import org.tfdiffusion.export.serving.PredictRequest;
import org.tfdiffusion.export.serving.RestServer;
import org.tfdiffusion.export.serving.ServableModel;
import org.tfdiffusion.export.serving.ServerLog;
import org.tfdiffusion.export.serving.SignatureSpec;
import org.tfdiffusion.export.serving.TensorSpec;
import org.tfdiffusion.graph.BigStack;

/**
 * Latency and throughput of {@code serving_default} through {@link RestServer} (a real HTTP client
 * on loopback, JSON both ways) next to calling the same loaded SavedModel in-process, in one run,
 * alternating the two paths so that a noisy machine affects both alike.
 */
public final class ServeBenchmark {
  /** How to run. */
  public record Settings(
      Path base,
      String model,
      OptionalLong version,
      List<Integer> batches,
      int iterations,
      int warmup,
      PredictRequest.Format format,
      float guidance) {}

  /** One path at one batch size. */
  public record Row(
      int batch,
      String path,
      double medianMs,
      double p90Ms,
      double imagesPerSecond,
      long responseBytes,
      List<Double> latenciesMs) {}

  /** Everything measured. */
  public record Report(
      String model,
      long version,
      String sampler,
      String format,
      int iterations,
      int cores,
      List<Row> rows,
      double maxAbsDiff) {

    /** A markdown table with the HTTP overhead per batch size. */
    public String markdown() {
      StringBuilder s = new StringBuilder();
      s.append(
          String.format(
              Locale.ROOT,
              "serving_default of %s version %d (%s), %d timed calls per row, %d cores%n%n",
              model,
              version,
              sampler,
              iterations,
              cores));
      s.append("| batch | path | median ms | p90 ms | images/s | response |\n");
      s.append("|---:|---|---:|---:|---:|---:|\n");
      for (Row r : rows) {
        s.append(
            String.format(
                Locale.ROOT,
                "| %d | %s | %.1f | %.1f | %.2f | %s |%n",
                r.batch(),
                r.path(),
                r.medianMs(),
                r.p90Ms(),
                r.imagesPerSecond(),
                r.responseBytes() > 0
                    ? String.format(Locale.ROOT, "%.0f KB", r.responseBytes() / 1024.0)
                    : "-"));
      }
      s.append('\n');
      for (int i = 0; i + 1 < rows.size(); i += 2) {
        Row in = rows.get(i);
        Row http = rows.get(i + 1);
        s.append(
            String.format(
                Locale.ROOT,
                "batch %d: HTTP + JSON adds %.1f ms to the median (%+.1f%%)%n",
                in.batch(),
                http.medianMs() - in.medianMs(),
                100 * (http.medianMs() / in.medianMs() - 1)));
      }
      s.append(
          String.format(
              Locale.ROOT,
              "images through HTTP vs in-process, same seeds: max abs difference %.2g%n",
              maxAbsDiff));
      return s.toString();
    }
  }

  private ServeBenchmark() {}

  /** Runs the benchmark; {@code progress} gets a line per step. */
  public static Report run(Settings settings, Consumer<String> progress) {
    int maxBatch = settings.batches().stream().mapToInt(Integer::intValue).max().orElse(1);
    RestServer.Options options =
        RestServer.Options.defaults()
            .withPort(0)
            .withMaxBatch(maxBatch)
            .withMaxConcurrent(1)
            .withPoll(Duration.ZERO);
    try (RestServer server = RestServer.start(settings.base(), options, ServerLog.quiet())) {
      // the whole run on one big-stack thread: the in-process path calls the sampling loop
      return BigStack.call(() -> measure(server, settings, progress));
    }
  }

  private static Report measure(RestServer server, Settings settings, Consumer<String> progress) {
    long start = System.nanoTime();
    ServableModel model = server.registry().acquire(settings.model(), settings.version());
    try {
      progress.accept(
          String.format(
              Locale.ROOT,
              "loaded %s version %d in %.1f s",
              model.name(),
              model.version(),
              (System.nanoTime() - start) / 1e9));
      SignatureSpec signature = model.predictSignature(java.util.Optional.empty());
      int classes = model.metadata().map(m -> m.config().model().numClasses()).orElse(0);
      String sampler = model.metadata().map(m -> m.sampler()).orElse("?");
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      URI predict =
          URI.create(
              server.url()
                  + "/v1/models/"
                  + model.name()
                  + "/versions/"
                  + model.version()
                  + ":predict");
      List<Row> rows = new ArrayList<>();
      double maxDiff = 0;
      for (int batch : settings.batches()) {
        List<Double> local = new ArrayList<>();
        List<Double> remote = new ArrayList<>();
        long bytes = 0;
        for (int i = -settings.warmup(); i < settings.iterations(); i++) {
          long firstSeed = 1000L * (i + settings.warmup()) + 17;
          Map<String, HostTensor> inputs =
              inputs(signature, batch, firstSeed, classes, settings.guidance());
          String body = body(settings.format(), inputs);
          // alternate which path goes first
          boolean localFirst = (i & 1) == 0;
          double[] t = new double[2];
          float[][] images = new float[2][];
          for (int k = 0; k < 2; k++) {
            boolean isLocal = (k == 0) == localFirst;
            long t0 = System.nanoTime();
            if (isLocal) {
              Map<String, HostTensor> out = server.run(model, signature, inputs);
              t[0] = (System.nanoTime() - t0) / 1e6;
              images[0] = out.get("images").floats();
            } else {
              HttpResponse<byte[]> r = send(client, predict, body);
              JsonNode json = PredictRequest.MAPPER.readTree(r.body());
              t[1] = (System.nanoTime() - t0) / 1e6;
              if (r.statusCode() != 200) {
                throw new IllegalStateException(
                    "the server answered " + r.statusCode() + ": " + json.path("error").asText());
              }
              bytes = r.body().length;
              images[1] = images(settings.format(), json);
            }
          }
          for (int j = 0; j < images[0].length; j++) {
            maxDiff = Math.max(maxDiff, Math.abs(images[0][j] - images[1][j]));
          }
          if (i >= 0) {
            local.add(t[0]);
            remote.add(t[1]);
          }
          progress.accept(
              String.format(
                  Locale.ROOT,
                  "batch %d %s %d: in-process %.1f ms, HTTP %.1f ms",
                  batch,
                  i < 0 ? "warm-up" : "call",
                  i < 0 ? i + settings.warmup() + 1 : i + 1,
                  t[0],
                  t[1]));
        }
        rows.add(row(batch, "in-process (SavedModel)", local, 0));
        rows.add(
            row(
                batch,
                "HTTP :predict ("
                    + (settings.format() == PredictRequest.Format.ROW ? "instances" : "inputs")
                    + ")",
                remote,
                bytes));
      }
      return new Report(
          model.name(),
          model.version(),
          sampler,
          settings.format() == PredictRequest.Format.ROW ? "instances" : "inputs",
          settings.iterations(),
          Runtime.getRuntime().availableProcessors(),
          rows,
          maxDiff);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } finally {
      model.release();
    }
  }

  private static HttpResponse<byte[]> send(HttpClient client, URI uri, String body)
      throws IOException, InterruptedException {
    return client.send(
        HttpRequest.newBuilder(uri)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  /** Seeds first, first+1, ...; labels cycling through the classes; one guidance scale. */
  static Map<String, HostTensor> inputs(
      SignatureSpec signature, int batch, long firstSeed, int classes, float guidance) {
    Map<String, HostTensor> in = new LinkedHashMap<>();
    for (TensorSpec spec : signature.inputs().values()) {
      long[] shape = {batch};
      switch (spec.alias()) {
        case "seed" -> {
          long[] v = new long[batch];
          Arrays.setAll(v, j -> firstSeed + j);
          in.put("seed", new HostTensor(DataType.DT_INT64, shape, v));
        }
        case "class_label" -> {
          int[] v = new int[batch];
          Arrays.setAll(v, j -> classes > 0 ? j % classes : 0);
          in.put("class_label", new HostTensor(DataType.DT_INT32, shape, v));
        }
        case "guidance_scale" -> {
          float[] v = new float[batch];
          Arrays.fill(v, guidance);
          in.put("guidance_scale", new HostTensor(DataType.DT_FLOAT, shape, v));
        }
        default ->
            throw new IllegalArgumentException(
                "serving_default has an input '"
                    + spec.alias()
                    + "' that bench-serve cannot fill (it knows seed, class_label, guidance_scale)");
      }
    }
    return in;
  }

  /** The request body for these inputs. */
  static String body(PredictRequest.Format format, Map<String, HostTensor> inputs) {
    StringBuilder s = new StringBuilder();
    if (format == PredictRequest.Format.COLUMNAR) {
      s.append("{\"inputs\": {");
      int k = 0;
      for (Map.Entry<String, HostTensor> e : inputs.entrySet()) {
        s.append(k++ == 0 ? "" : ", ").append('"').append(e.getKey()).append("\": [");
        for (int j = 0; j < e.getValue().size(); j++) {
          s.append(j == 0 ? "" : ", ").append(element(e.getValue(), j));
        }
        s.append(']');
      }
      return s.append("}}").toString();
    }
    s.append("{\"instances\": [");
    long rows = inputs.values().iterator().next().batch();
    for (int j = 0; j < rows; j++) {
      s.append(j == 0 ? "{" : ", {");
      int k = 0;
      for (Map.Entry<String, HostTensor> e : inputs.entrySet()) {
        s.append(k++ == 0 ? "" : ", ")
            .append('"')
            .append(e.getKey())
            .append("\": ")
            .append(element(e.getValue(), j));
      }
      s.append('}');
    }
    return s.append("]}").toString();
  }

  private static String element(HostTensor t, int j) {
    return switch (t.dtype()) {
      case DT_INT64 -> String.valueOf(((long[]) t.values())[j]);
      case DT_INT32 -> String.valueOf(((int[]) t.values())[j]);
      case DT_FLOAT -> String.valueOf(((float[]) t.values())[j]);
      default -> throw new IllegalArgumentException("unexpected dtype " + t.dtype());
    };
  }

  private static float[] images(PredictRequest.Format format, JsonNode json) {
    List<Float> out = new ArrayList<>();
    if (format == PredictRequest.Format.COLUMNAR) {
      flatten(json.path("outputs").path("images"), out);
    } else {
      json.path("predictions").forEach(p -> flatten(p.path("images"), out));
    }
    float[] f = new float[out.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = out.get(i);
    }
    return f;
  }

  private static void flatten(JsonNode node, List<Float> out) {
    if (node.isArray()) {
      node.forEach(n -> flatten(n, out));
    } else {
      out.add(node.floatValue());
    }
  }

  private static Row row(int batch, String path, List<Double> latencies, long bytes) {
    double[] sorted = latencies.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    double median =
        sorted.length % 2 == 1
            ? sorted[sorted.length / 2]
            : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    double p90 = sorted[Math.max(0, (int) Math.ceil(0.9 * sorted.length) - 1)];
    double total = Arrays.stream(sorted).sum();
    return new Row(
        batch,
        path,
        median,
        p90,
        batch * sorted.length / (total / 1000),
        bytes,
        List.copyOf(latencies));
  }
}
