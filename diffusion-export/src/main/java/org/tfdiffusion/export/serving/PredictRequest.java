package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The body of a {@code :predict} request in either of TensorFlow Serving's formats:
 *
 * <ul>
 *   <li>row: {@code {"instances": [{"seed": 1, "class_label": 3}, ...]}}, one object per row (or
 *       one plain value per row when the signature has a single input); every input must have a
 *       batch dimension;
 *   <li>columnar: {@code {"inputs": {"seed": [1, 2], "num_steps": 10}}}, each input a whole tensor
 *       (or the tensor itself when the signature has a single input).
 * </ul>
 *
 * Both may name the signature with {@code "signature_name"} (default {@code serving_default}).
 */
public final class PredictRequest {
  /** Which of the two request formats a request used; the answer uses the same one. */
  public enum Format {
    /** {@code instances} in, {@code predictions} out. */
    ROW,
    /** {@code inputs} in, {@code outputs} out. */
    COLUMNAR
  }

  private static final Set<String> KEYS = Set.of("signature_name", "instances", "inputs");

  public static final ObjectMapper MAPPER =
      JsonMapper.builder()
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .build();

  private final Optional<String> signatureName;
  private final Format format;
  private final JsonNode data;

  private PredictRequest(Optional<String> signatureName, Format format, JsonNode data) {
    this.signatureName = signatureName;
    this.format = format;
    this.data = data;
  }

  /**
   * Parses a request body.
   *
   * @throws ServingException 400 for malformed JSON or a body that is neither format
   */
  public static PredictRequest parse(byte[] body) {
    JsonNode root = parseJson(body);
    if (!root.isObject()) {
      throw ServingException.invalid(
          "the request body must be a JSON object with \"instances\" or \"inputs\", not %s",
          JsonTensors.describe(root));
    }
    for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
      String key = names.next();
      if (!KEYS.contains(key)) {
        throw ServingException.invalid(
            "unknown key \"%s\" in the request; a predict request has \"signature_name\" and one"
                + " of \"instances\" (row format) or \"inputs\" (columnar format)",
            key);
      }
    }
    Optional<String> signature = Optional.empty();
    if (root.has("signature_name")) {
      JsonNode s = root.get("signature_name");
      if (!s.isTextual()) {
        throw ServingException.invalid(
            "\"signature_name\" must be a string, not %s", JsonTensors.describe(s));
      }
      signature = Optional.of(s.textValue());
    }
    boolean rows = root.has("instances");
    boolean columns = root.has("inputs");
    if (rows && columns) {
      throw ServingException.invalid(
          "the request has both \"instances\" and \"inputs\"; send one: \"instances\" (a list of"
              + " rows) or \"inputs\" (each input as a whole tensor)");
    }
    if (!rows && !columns) {
      throw ServingException.invalid(
          "missing \"instances\" or \"inputs\" key: send {\"instances\": [{...}, ...]} (row"
              + " format) or {\"inputs\": {...}} (columnar format)");
    }
    return new PredictRequest(
        signature,
        rows ? Format.ROW : Format.COLUMNAR,
        rows ? root.get("instances") : root.get("inputs"));
  }

  /** The signature the request names, if any. */
  public Optional<String> signatureName() {
    return signatureName;
  }

  public Format format() {
    return format;
  }

  /**
   * The request's tensors for {@code signature}, checked against it: every input present and no
   * other, each of the signature's type and shape, one batch size for all batched inputs, at most
   * {@code maxBatch} rows.
   *
   * @return the inputs by name, in the signature's order
   * @throws ServingException 400 naming the first problem
   */
  public Map<String, HostTensor> inputs(SignatureSpec signature, int maxBatch) {
    Map<String, HostTensor> inputs =
        format == Format.ROW ? rows(signature, maxBatch) : columns(signature);
    check(signature, inputs, maxBatch);
    return inputs;
  }

  /**
   * Checks a request's tensors against {@code signature} (whatever API they came by): each of the
   * signature's shape, one batch size for all batched inputs, at most {@code maxBatch} rows.
   *
   * @param inputs a value for every input of the signature, by name
   * @throws ServingException 400 naming the first problem
   */
  static void check(SignatureSpec signature, Map<String, HostTensor> inputs, int maxBatch) {
    for (Map.Entry<String, HostTensor> e : inputs.entrySet()) {
      checkShape(signature, signature.inputs().get(e.getKey()), e.getValue());
    }
    checkBatch(signature, inputs, maxBatch);
  }

  private Map<String, HostTensor> rows(SignatureSpec signature, int maxBatch) {
    List<String> scalars =
        signature.inputs().values().stream()
            .filter(s -> !s.isBatched() && !s.unknownRank())
            .map(s -> s.alias() + " " + s.shapeString())
            .toList();
    if (!scalars.isEmpty()) {
      throw ServingException.invalid(
          "signature '%s' has inputs without a batch dimension (%s), which the row format"
              + " (\"instances\") cannot carry: every input of a row-format request must have a"
              + " batch dimension. Send the request in the columnar format instead:"
              + " {\"signature_name\": \"%s\", \"inputs\": {%s}}",
          signature.key(),
          String.join(", ", scalars),
          signature.key(),
          String.join(
              ", ", signature.inputs().keySet().stream().map(n -> "\"" + n + "\": ...").toList()));
    }
    if (!data.isArray()) {
      throw ServingException.invalid(
          "\"instances\" must be a list of rows, not %s", JsonTensors.describe(data));
    }
    if (data.isEmpty()) {
      throw ServingException.invalid("\"instances\" is empty; send at least one row");
    }
    if (data.size() > maxBatch) {
      throw batchTooLarge(data.size(), maxBatch);
    }
    boolean single = signature.inputs().size() == 1;
    String only = single ? signature.inputs().firstKey() : null;
    Map<String, List<HostTensor>> columns = new LinkedHashMap<>();
    signature.inputs().keySet().forEach(name -> columns.put(name, new ArrayList<>()));
    for (int i = 0; i < data.size(); i++) {
      JsonNode row = data.get(i);
      if (single && !isNamedRow(row)) {
        columns
            .get(only)
            .add(
                JsonTensors.parse(
                    "instances[" + i + "]", row, signature.inputs().get(only).dtype()));
        continue;
      }
      if (!row.isObject()) {
        throw ServingException.invalid(
            "instances[%d] is %s; with signature '%s' each instance must be an object of its"
                + " inputs %s",
            i, JsonTensors.describe(row), signature.key(), names(signature));
      }
      checkNames("instances[" + i + "]", row, signature);
      for (Map.Entry<String, TensorSpec> input : signature.inputs().entrySet()) {
        String where = "instances[" + i + "]." + input.getKey();
        JsonNode value = row.get(input.getKey());
        columns
            .get(input.getKey())
            .add(
                ImageInputs.takesFiles(input.getValue()) && ImageInputs.isFile(value)
                    ? ImageInputs.row(where, value, input.getValue())
                    : JsonTensors.parse(where, value, input.getValue().dtype()));
      }
    }
    Map<String, HostTensor> out = new LinkedHashMap<>();
    columns.forEach((name, list) -> out.put(name, JsonTensors.stack(name, list)));
    return out;
  }

  /** Whether a row of a single-input signature is {@code {"name": value}} rather than the value. */
  private static boolean isNamedRow(JsonNode row) {
    return row.isObject() && !(row.size() == 1 && row.has("b64"));
  }

  private Map<String, HostTensor> columns(SignatureSpec signature) {
    Map<String, HostTensor> out = new LinkedHashMap<>();
    if (!isNamedRow(data)) {
      if (signature.inputs().size() != 1) {
        throw ServingException.invalid(
            "\"inputs\" is %s, but signature '%s' has %d inputs: send an object of name ->"
                + " value for %s",
            JsonTensors.describe(data),
            signature.key(),
            signature.inputs().size(),
            names(signature));
      }
      TensorSpec spec = signature.inputs().values().iterator().next();
      out.put(spec.alias(), JsonTensors.parse("input '" + spec.alias() + "'", data, spec.dtype()));
      return out;
    }
    checkNames("\"inputs\"", data, signature);
    for (Map.Entry<String, TensorSpec> input : signature.inputs().entrySet()) {
      String where = "input '" + input.getKey() + "'";
      JsonNode value = data.get(input.getKey());
      TensorSpec spec = input.getValue();
      if (ImageInputs.takesFiles(spec) && ImageInputs.isFile(value)) {
        throw ServingException.invalid(
            "%s is one {\"b64\": ...} value, but the columnar format takes a list of images, one"
                + " per row: [{\"b64\": \"...\"}, ...]",
            where);
      }
      out.put(
          input.getKey(),
          ImageInputs.takesFiles(spec) && ImageInputs.isFileList(value)
              ? ImageInputs.batch(where, value, spec)
              : JsonTensors.parse(where, value, spec.dtype()));
    }
    return out;
  }

  private static void checkNames(String where, JsonNode object, SignatureSpec signature) {
    List<String> given = new ArrayList<>();
    object.fieldNames().forEachRemaining(given::add);
    checkNames(where, given, signature);
  }

  /**
   * Checks that {@code given}, the input names of a request, are exactly the signature's inputs.
   *
   * @param where how the error names the request's inputs, e.g. {@code "inputs"}
   * @throws ServingException 400 naming the first unknown or missing input
   */
  static void checkNames(
      String where, java.util.Collection<String> given, SignatureSpec signature) {
    for (String name : given) {
      if (!signature.inputs().containsKey(name)) {
        throw ServingException.invalid(
            "%s has input '%s', which signature '%s' does not take (its inputs: %s)",
            where, name, signature.key(), names(signature));
      }
    }
    for (String name : signature.inputs().keySet()) {
      if (!given.contains(name)) {
        throw ServingException.invalid(
            "%s is missing input '%s' of signature '%s' (its inputs: %s)",
            where, name, signature.key(), names(signature));
      }
    }
  }

  private static String names(SignatureSpec signature) {
    return String.join(", ", signature.inputs().keySet());
  }

  private static void checkShape(SignatureSpec signature, TensorSpec spec, HostTensor value) {
    if (spec.unknownRank()) {
      return;
    }
    long[] shape = value.shape();
    boolean ok = shape.length == spec.dims().size();
    for (int d = 0; ok && d < shape.length; d++) {
      long want = spec.dims().get(d);
      ok = want == TensorSpec.ANY_SIZE || want == shape[d];
    }
    if (!ok) {
      String hint =
          spec.isScalar()
              ? " (a scalar: a single value, not a list)"
              : imageHint(spec, shape).orElse(spec.isBatched() ? " (-1: any size, the batch)" : "");
      throw ServingException.invalid(
          "input '%s' has shape %s, but signature '%s' needs %s%s",
          spec.alias(), JsonTensors.dimsString(shape), signature.key(), spec.shapeString(), hint);
    }
  }

  /**
   * The fix for a batch of images [B, H, W, C] of another size or other channels than an image
   * input's [-1, S, S, C'], e.g. {@code : resize the images to 28×28}.
   */
  private static Optional<String> imageHint(TensorSpec spec, long[] shape) {
    if (!ImageInputs.takesFiles(spec) || shape.length != 4) {
      return Optional.empty();
    }
    long size = spec.dims().get(1);
    long channels = spec.dims().get(3);
    if (shape[1] != size || shape[2] != size) {
      return Optional.of(
          String.format(
              ": resize the %s to %d×%d (the model's size)",
              ImageInputs.MASK.equals(spec.alias()) ? "masks" : "images", size, size));
    }
    if (shape[3] != channels) {
      return Optional.of(
          ImageInputs.MASK.equals(spec.alias())
              ? ": a mask has 1 channel (1 = regenerate, 0 = keep)"
              : channels == 1
                  ? ": convert the images to grayscale (1 channel)"
                  : String.format(": convert the images to RGB (%d channels)", channels));
    }
    return Optional.empty();
  }

  private static void checkBatch(
      SignatureSpec signature, Map<String, HostTensor> inputs, int maxBatch) {
    String first = null;
    long batch = -1;
    for (Map.Entry<String, HostTensor> e : inputs.entrySet()) {
      if (!signature.inputs().get(e.getKey()).isBatched()) {
        continue;
      }
      long b = e.getValue().batch();
      if (first == null) {
        first = e.getKey();
        batch = b;
      } else if (b != batch) {
        throw ServingException.invalid(
            "inputs have different batch sizes: '%s' has %d rows, '%s' has %d; every input with a"
                + " batch dimension needs the same number of rows",
            first, batch, e.getKey(), b);
      }
    }
    if (first != null && batch == 0) {
      throw ServingException.invalid("input '%s' is empty; send at least one row", first);
    }
    if (batch > maxBatch) {
      throw batchTooLarge(batch, maxBatch);
    }
  }

  private static ServingException batchTooLarge(long batch, int maxBatch) {
    return ServingException.invalid(
        "batch size %d is over this server's limit of %d rows per request (serve --max-batch);"
            + " split the request",
        batch, maxBatch);
  }

  static JsonNode parseJson(byte[] body) {
    if (body.length == 0) {
      throw ServingException.invalid("JSON parse error: the request body is empty");
    }
    try {
      JsonNode root = MAPPER.readTree(body);
      if (root == null || root.isMissingNode()) {
        throw ServingException.invalid("JSON parse error: the request body is empty");
      }
      return root;
    } catch (JsonProcessingException e) {
      JsonLocation at = e.getLocation();
      throw ServingException.invalid(
          "JSON parse error: %s%s",
          e.getOriginalMessage().lines().findFirst().orElse(""),
          at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")");
    } catch (IOException e) {
      throw ServingException.invalid("JSON parse error: %s", e.getMessage());
    }
  }
}
