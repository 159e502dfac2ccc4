package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.TinyRun;

/**
 * Random and mutated requests, from a fixed seed (so a failure replays): methods, paths, headers,
 * JSON bodies with values swapped for others of any type and size, bytes flipped or cut. A client
 * mistake never gets a 5xx, every error is TensorFlow Serving's {@code {"error": "..."}}, and the
 * server keeps answering.
 */
class RestServerFuzzTest {
  static final long SEED = 0x5EED_2026L;
  static final int REQUESTS = 300;
  static final Duration READ = Duration.ofSeconds(30);
  static final ObjectMapper JSON = new ObjectMapper();
  static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  static final List<String> PATHS =
      List.of(
          "/v1/models/fashion",
          "/v1/models/fashion/metadata",
          "/v1/models/fashion/versions/1",
          "/v1/models/fashion:predict",
          "/v1/models/fashion/versions/1:predict",
          "/v1/models",
          "/v1/runs",
          "/v1/runs/run/metrics.csv",
          "/",
          "/web/app.js");

  static final List<String> PREDICT_PATHS =
      List.of("/v1/models/fashion:predict", "/v1/models/fashion/versions/1:predict");

  static final List<String> METHODS =
      List.of("GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "get", "BREW");

  static final List<String> BODIES =
      List.of(
          "{\"instances\": [{\"seed\": 1, \"class_label\": 2, \"guidance_scale\": 3.0}]}",
          "{\"inputs\": {\"seed\": [1, 2], \"class_label\": [3, 4], \"guidance_scale\": [1.0, 2.0]}}",
          "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [5], \"class_label\": [1],"
              + " \"guidance_scale\": [2.0], \"num_steps\": 3}}",
          "{\"signature_name\": \"denoise\", \"inputs\": {\"x_t\": "
              + zeros()
              + ", \"t\": [10], \"class_label\": [1]}}");

  @TempDir Path dir;

  private static String zeros() {
    StringBuilder s = new StringBuilder("[[");
    for (int y = 0; y < 28; y++) {
      s.append(y == 0 ? "" : ",").append("[").append("[0.5],".repeat(27)).append("[0.5]]");
    }
    return s.append("]]").toString();
  }

  /** A random JSON value of any type, sometimes large or deeply nested. */
  static JsonNode randomValue(Random r, int depth) {
    switch (r.nextInt(depth > 3 ? 9 : 12)) {
      case 0:
        return NODES.numberNode(r.nextInt(21) - 10);
      case 1:
        return NODES.numberNode(
            new double[] {1e39, -1e39, 1e308, 3.4e38, 1e-45, 0.5, -0.0, 1e30, 101, -1}
                [r.nextInt(10)]);
      case 2:
        return NODES.numberNode(r.nextLong());
      case 3:
        return NODES.textNode(randomText(r, r.nextInt(12)));
      case 4:
        return NODES.nullNode();
      case 5:
        return NODES.booleanNode(r.nextBoolean());
      case 6:
        return NODES.objectNode().put("b64", r.nextBoolean() ? "aGVsbG8=" : "!!not base64");
      case 7:
        return NODES.numberNode(new java.math.BigInteger(80, r));
      case 8:
        return NODES.objectNode();
      case 9:
        {
          ArrayNode a = NODES.arrayNode();
          int n = r.nextInt(4);
          for (int i = 0; i < n; i++) {
            a.add(randomValue(r, depth + 1));
          }
          return a;
        }
      case 10:
        {
          ArrayNode a = NODES.arrayNode();
          for (int i = 0; i < 100 + r.nextInt(2000); i++) {
            a.add(r.nextInt(10));
          }
          return a;
        }
      default:
        {
          JsonNode nested = NODES.numberNode(1);
          for (int i = 0; i < 50 + r.nextInt(900); i++) {
            nested = NODES.arrayNode().add(nested);
          }
          return nested;
        }
    }
  }

  static String randomText(Random r, int n) {
    String alphabet = "abcXYZ019 _-./%:?#\\\"'<>{}[]éλ\u0000\u007f";
    StringBuilder s = new StringBuilder();
    for (int i = 0; i < n; i++) {
      s.append(alphabet.charAt(r.nextInt(alphabet.length())));
    }
    return s.toString();
  }

  /** The body with one value (or key) somewhere in it replaced. */
  static String mutateJson(Random r, String body) throws IOException {
    JsonNode root = JSON.readTree(body);
    List<JsonNode> containers = new ArrayList<>();
    collect(root, containers);
    JsonNode target = containers.get(r.nextInt(containers.size()));
    if (target instanceof ObjectNode o && o.size() > 0) {
      List<String> keys = new ArrayList<>();
      o.fieldNames().forEachRemaining(keys::add);
      String key = keys.get(r.nextInt(keys.size()));
      switch (r.nextInt(4)) {
        case 0 -> o.remove(key);
        case 1 -> o.set(randomText(r, 1 + r.nextInt(8)), randomValue(r, 0));
        default -> o.set(key, randomValue(r, 0));
      }
    } else if (target instanceof ArrayNode a && a.size() > 0) {
      int i = r.nextInt(a.size());
      switch (r.nextInt(3)) {
        case 0 -> a.remove(i);
        case 1 -> a.add(randomValue(r, 0));
        default -> a.set(i, randomValue(r, 0));
      }
    }
    return JSON.writeValueAsString(root);
  }

  private static void collect(JsonNode n, List<JsonNode> out) {
    if (n.isContainerNode()) {
      out.add(n);
      for (Iterator<JsonNode> it = n.elements(); it.hasNext(); ) {
        JsonNode child = it.next();
        if (out.size() < 64) {
          collect(child, out);
        }
      }
    }
  }

  /** Bytes flipped, cut or repeated. */
  static byte[] mutateBytes(Random r, byte[] body) {
    byte[] b = body.clone();
    switch (r.nextInt(5)) {
      case 0 -> {
        for (int i = 0; i < 1 + r.nextInt(4) && b.length > 0; i++) {
          b[r.nextInt(b.length)] = (byte) r.nextInt(256);
        }
        return b;
      }
      case 1 -> {
        return java.util.Arrays.copyOf(b, r.nextInt(b.length + 1));
      }
      case 2 -> {
        byte[] twice = java.util.Arrays.copyOf(b, 2 * b.length);
        System.arraycopy(b, 0, twice, b.length, b.length);
        return twice;
      }
      case 3 -> {
        int depth = 1000 + r.nextInt(5000);
        return ("[".repeat(depth) + new String(b, StandardCharsets.UTF_8) + "]".repeat(depth))
            .getBytes(StandardCharsets.UTF_8);
      }
      default -> {
        byte[] noise = new byte[r.nextInt(200)];
        r.nextBytes(noise);
        return noise;
      }
    }
  }

  static String mutatePath(Random r, String path) {
    return switch (r.nextInt(8)) {
      case 0 -> path + "/" + randomText(r, 3).replace(" ", "%20");
      case 1 -> path.replace("fashion", r.nextBoolean() ? "%66ashion" : "fa%2Fshion");
      case 2 -> path.replace("/1", "/" + r.nextLong());
      case 3 -> path + "/../../v1/runs";
      case 4 -> path.replace(":predict", ":" + randomText(r, 4).replaceAll("[^a-z]", "x"));
      case 5 -> path + "?q=" + randomText(r, 5).replaceAll("[^a-z0-9]", "");
      case 6 -> "/v1/models/" + "a".repeat(r.nextInt(3000));
      default -> path;
    };
  }

  /** One request: its method and bytes. */
  record Request(String method, byte[] bytes) {}

  /**
   * One request's bytes: mostly predictions with mutated bodies, then reads of the other URLs, then
   * anything (method, path, body), with some headers and sometimes a chunked body.
   */
  static Request randomRequest(Random r) throws IOException {
    int kind = r.nextInt(20);
    String method;
    String path;
    if (kind < 11) {
      method = "POST";
      path =
          r.nextInt(4) == 0
              ? mutatePath(r, PREDICT_PATHS.get(r.nextInt(2)))
              : PREDICT_PATHS.get(r.nextInt(2));
    } else if (kind < 16) {
      method = "GET";
      path = mutatePath(r, PATHS.get(r.nextInt(PATHS.size())));
    } else {
      method = METHODS.get(r.nextInt(METHODS.size()));
      path = mutatePath(r, PATHS.get(r.nextInt(PATHS.size())));
    }
    byte[] body = new byte[0];
    if (method.equals("POST") ? r.nextInt(12) > 0 : r.nextInt(4) == 0) {
      String json = BODIES.get(r.nextInt(BODIES.size()));
      for (int i = r.nextInt(3); i > 0; i--) {
        json = mutateJson(r, json);
      }
      body = json.getBytes(StandardCharsets.UTF_8);
      if (r.nextInt(4) == 0) {
        body = mutateBytes(r, body);
      }
    }
    StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: fuzz\r\n");
    Map<String, String> extra = new TreeMap<>();
    if (r.nextInt(6) == 0) {
      extra.put("Content-Type", randomText(r, 6).replaceAll("[^a-z/]", "x"));
    }
    if (r.nextInt(8) == 0) {
      extra.put("X-" + randomText(r, 4).replaceAll("[^a-z]", "y"), randomText(r, 20).trim());
    }
    if (r.nextInt(10) == 0) {
      extra.put("Expect", "100-continue");
    }
    boolean chunked = body.length > 0 && r.nextInt(6) == 0;
    extra.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
    head.append("Connection: close\r\n");
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    if (chunked) {
      head.append("Transfer-Encoding: chunked\r\n\r\n");
      out.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
      int at = 0;
      while (at < body.length) {
        int n = Math.min(body.length - at, 1 + r.nextInt(512));
        out.writeBytes((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(body, at, n);
        out.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
        at += n;
      }
      out.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    } else {
      if (body.length > 0 || r.nextBoolean()) {
        head.append("Content-Length: ").append(body.length).append("\r\n");
      }
      head.append("\r\n");
      out.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
      out.writeBytes(body);
    }
    return new Request(method, out.toByteArray());
  }

  @Test
  void randomAndMutatedRequestsNeverGetA5xxAndTheServerKeepsAnswering() throws Exception {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    Random random = new Random(SEED);
    Map<Integer, Integer> statuses = new TreeMap<>();
    try (RestServer server =
        RestServer.start(
            base,
            RestServer.Options.defaults().withPort(0).withMaxBatch(4).withPoll(Duration.ZERO),
            ServerLog.quiet())) {
      for (int i = 0; i < REQUESTS; i++) {
        Request request = randomRequest(random);
        byte[] bytes = request.bytes();
        String shown = new String(bytes, 0, Math.min(bytes.length, 300), StandardCharsets.UTF_8);
        boolean head = request.method().equals("HEAD");
        RawHttp.Response r;
        try (RawHttp c = RawHttp.open(server, READ)) {
          c.send(bytes);
          r = c.read(head);
          if (r.status() == 100) {
            r = c.read(head);
          }
        }
        statuses.merge(r.status(), 1, Integer::sum);
        assertThat(r.status()).as("request %d: %s", i, shown).isBetween(200, 499);
        if (head) {
          continue; // no body to look at
        }
        if (r.status() != 200) {
          assertThat(r.header("Content-Type")).as(shown).isEqualTo("application/json");
          JsonNode error = r.json();
          assertThat(error.fieldNames()).toIterable().as(shown).containsExactly("error");
          assertThat(error.path("error").asText())
              .as(shown)
              .isNotBlank()
              .doesNotContain("\tat ", "Exception", "[[{{node");
        } else if ("application/json".equals(r.header("Content-Type"))) {
          JSON.readTree(r.body()); // a well-formed document
        }
      }
      try (RawHttp c = RawHttp.open(server, READ)) {
        RawHttp.Response ok =
            c.send(RawHttp.request("POST", "/v1/models/fashion:predict", BODIES.get(0))).read();
        assertThat(ok.status()).isEqualTo(200);
      }
      assertThat(server.running()).isZero();
      assertThat(server.bodyBytesInFlight()).isZero();
    }
    // the mix exercised answers and refusals alike
    assertThat(statuses.getOrDefault(200, 0)).as("%s", statuses).isGreaterThan(5);
    assertThat(statuses.getOrDefault(400, 0)).as("%s", statuses).isGreaterThan(REQUESTS / 4);
    assertThat(statuses.keySet()).as("%s", statuses).contains(404, 405);
  }
}
