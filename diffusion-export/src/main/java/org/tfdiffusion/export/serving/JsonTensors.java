package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.tensorflow.proto.DataType;

/**
 * JSON values ↔ tensors, the way TensorFlow Serving's REST API writes them: a tensor is a scalar or
 * nested lists (its shape read from the nesting, which must be rectangular), numbers for numeric
 * types, {@code true}/{@code false} for DT_BOOL, and for DT_STRING a JSON string (UTF-8) or {@code
 * {"b64": "..."}} (base64 bytes). Outputs whose name ends in {@code _bytes} are written as {@code
 * {"b64": "..."}}.
 */
final class JsonTensors {
  /** The suffix of output names whose string values are written base64-encoded. */
  public static final String BYTES_SUFFIX = "_bytes";

  private static final String B64 = "b64";

  private JsonTensors() {}

  /** The element types a request may carry. */
  public static boolean supported(DataType dtype) {
    return switch (dtype) {
      case DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_BOOL, DT_UINT8, DT_STRING -> true;
      default -> false;
    };
  }

  /**
   * Reads one JSON value as a tensor.
   *
   * @param where how error messages name the value, e.g. {@code input 'seed'} or {@code
   *     instances[2].seed}
   * @throws ServingException (400) naming {@code where} when the value is not a rectangular tensor
   *     of {@code dtype}
   */
  public static HostTensor parse(String where, JsonNode node, DataType dtype) {
    if (!supported(dtype)) {
      throw new ServingException(
          ErrorCode.UNIMPLEMENTED,
          where + " has dtype " + dtype + ", which JSON cannot carry here");
    }
    List<Long> dims = new ArrayList<>();
    JsonNode probe = node;
    while (probe.isArray()) {
      dims.add((long) probe.size());
      if (probe.isEmpty()) {
        break;
      }
      probe = probe.get(0);
    }
    long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
    long size = HostTensor.size(shape);
    if (size > Integer.MAX_VALUE - 8) {
      throw ServingException.invalid("%s is too large (%d elements)", where, size);
    }
    List<JsonNode> leaves = new ArrayList<>((int) size);
    collect(where, node, shape, 0, new StringBuilder(), leaves);
    Object values =
        switch (dtype) {
          case DT_FLOAT -> {
            float[] v = new float[leaves.size()];
            for (int i = 0; i < v.length; i++) {
              v[i] = (float) number(where, leaves.get(i), i, shape, dtype, Float.MAX_VALUE);
            }
            yield v;
          }
          case DT_DOUBLE -> {
            double[] v = new double[leaves.size()];
            for (int i = 0; i < v.length; i++) {
              v[i] = number(where, leaves.get(i), i, shape, dtype, Double.MAX_VALUE);
            }
            yield v;
          }
          case DT_INT32, DT_UINT8 -> {
            long min = dtype == DataType.DT_UINT8 ? 0 : Integer.MIN_VALUE;
            long max = dtype == DataType.DT_UINT8 ? 255 : Integer.MAX_VALUE;
            int[] v = new int[leaves.size()];
            for (int i = 0; i < v.length; i++) {
              v[i] = (int) integer(where, leaves.get(i), i, shape, dtype, min, max);
            }
            yield v;
          }
          case DT_INT64 -> {
            long[] v = new long[leaves.size()];
            for (int i = 0; i < v.length; i++) {
              v[i] = integer(where, leaves.get(i), i, shape, dtype, Long.MIN_VALUE, Long.MAX_VALUE);
            }
            yield v;
          }
          case DT_BOOL -> {
            boolean[] v = new boolean[leaves.size()];
            for (int i = 0; i < v.length; i++) {
              JsonNode leaf = leaves.get(i);
              if (!leaf.isBoolean()) {
                throw wrongType(where, leaf, i, shape, dtype, "true or false");
              }
              v[i] = leaf.booleanValue();
            }
            yield v;
          }
          case DT_STRING -> {
            byte[][] v = new byte[leaves.size()][];
            for (int i = 0; i < v.length; i++) {
              v[i] = bytes(where, leaves.get(i), i, shape);
            }
            yield v;
          }
          default -> throw new IllegalStateException("unreachable: " + dtype);
        };
    return new HostTensor(dtype, shape, values);
  }

  /** Stacks per-row tensors of equal shape into one tensor with a leading batch dimension. */
  public static HostTensor stack(String name, List<HostTensor> rows) {
    HostTensor first = rows.get(0);
    for (int i = 1; i < rows.size(); i++) {
      if (!Arrays.equals(rows.get(i).shape(), first.shape())) {
        throw ServingException.invalid(
            "input '%s' has shape %s in instances[0] but %s in instances[%d]; every instance"
                + " must have the same shape",
            name, dimsString(first.shape()), dimsString(rows.get(i).shape()), i);
      }
    }
    long[] shape = new long[first.shape().length + 1];
    shape[0] = rows.size();
    System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
    int per = Math.toIntExact(first.size());
    Object values =
        java.lang.reflect.Array.newInstance(
            first.values().getClass().componentType(), per * rows.size());
    for (int i = 0; i < rows.size(); i++) {
      System.arraycopy(rows.get(i).values(), 0, values, i * per, per);
    }
    return new HostTensor(first.dtype(), shape, values);
  }

  /**
   * Writes a tensor, or one row of it, as JSON.
   *
   * @param row the index along the first dimension to write, or -1 for the whole tensor
   * @param b64 write strings as {@code {"b64": ...}} (outputs named {@code *_bytes})
   */
  public static void write(JsonGenerator g, HostTensor t, int row, boolean b64) throws IOException {
    long[] shape = t.shape();
    if (row < 0) {
      writeLevel(g, t, shape, 0, 0, b64);
    } else {
      long[] rest = Arrays.copyOfRange(shape, 1, shape.length);
      writeLevel(g, t, rest, 0, Math.toIntExact(row * HostTensor.size(rest)), b64);
    }
  }

  private static void writeLevel(
      JsonGenerator g, HostTensor t, long[] shape, int level, int offset, boolean b64)
      throws IOException {
    if (level == shape.length) {
      writeElement(g, t, offset, b64);
      return;
    }
    int stride =
        Math.toIntExact(HostTensor.size(Arrays.copyOfRange(shape, level + 1, shape.length)));
    g.writeStartArray();
    for (int i = 0; i < shape[level]; i++) {
      writeLevel(g, t, shape, level + 1, offset + i * stride, b64);
    }
    g.writeEndArray();
  }

  private static void writeElement(JsonGenerator g, HostTensor t, int i, boolean b64)
      throws IOException {
    switch (t.dtype()) {
      case DT_FLOAT -> g.writeNumber(((float[]) t.values())[i]);
      case DT_DOUBLE -> g.writeNumber(((double[]) t.values())[i]);
      case DT_INT32, DT_UINT8 -> g.writeNumber(((int[]) t.values())[i]);
      case DT_INT64 -> g.writeNumber(((long[]) t.values())[i]);
      case DT_BOOL -> g.writeBoolean(((boolean[]) t.values())[i]);
      case DT_STRING -> {
        byte[] b = ((byte[][]) t.values())[i];
        if (b64) {
          g.writeStartObject();
          g.writeStringField(B64, Base64.getEncoder().encodeToString(b));
          g.writeEndObject();
        } else {
          g.writeString(new String(b, StandardCharsets.UTF_8));
        }
      }
      default -> throw new IllegalStateException("unsupported dtype " + t.dtype());
    }
  }

  /** Dimensions as TensorFlow prints them, e.g. {@code [2,28,28,1]}; {@code []} for a scalar. */
  public static String dimsString(long[] dims) {
    return TensorSpec.formatDims(Arrays.stream(dims).boxed().toList());
  }

  private static void collect(
      String where,
      JsonNode node,
      long[] shape,
      int level,
      StringBuilder path,
      List<JsonNode> out) {
    if (level == shape.length) {
      if (node.isArray()) {
        throw ServingException.invalid(
            "%s is not rectangular: %s is a list, but the first element at that depth is not"
                + " (a shape of %s)",
            where, path.length() == 0 ? "the value" : "element " + path, dimsString(shape));
      }
      out.add(node);
      return;
    }
    if (!node.isArray() || node.size() != shape[level]) {
      throw ServingException.invalid(
          "%s is not rectangular: element %s has %s where the first element's shape says %d"
              + " (a tensor is a scalar or nested lists of equal lengths)",
          where, path, node.isArray() ? node.size() + " entries" : "a single value", shape[level]);
    }
    int mark = path.length();
    for (int i = 0; i < node.size(); i++) {
      path.append('[').append(i).append(']');
      collect(where, node.get(i), shape, level + 1, path, out);
      path.setLength(mark);
    }
  }

  /**
   * A number of a floating-point tensor: finite, and within {@code max} in magnitude (a float32
   * beyond about 3.4e38 would become infinity, and the model's answer NaN).
   */
  private static double number(
      String where, JsonNode leaf, int i, long[] shape, DataType dtype, double max) {
    if (!leaf.isNumber()) {
      throw wrongType(where, leaf, i, shape, dtype, "a number");
    }
    double v = leaf.doubleValue();
    if (!(Math.abs(v) <= max)) {
      throw ServingException.invalid(
          "%s%s is %s, out of range for %s (a finite number of magnitude at most %s)",
          where,
          index(i, shape),
          Double.isFinite(v) ? String.valueOf(v) : "a number too large for a double",
          dtype,
          dtype == DataType.DT_FLOAT ? String.valueOf(Float.MAX_VALUE) : String.valueOf(max));
    }
    return v;
  }

  private static long integer(
      String where, JsonNode leaf, int i, long[] shape, DataType dtype, long min, long max) {
    if (!leaf.isIntegralNumber() || !leaf.canConvertToLong()) {
      throw wrongType(where, leaf, i, shape, dtype, "an integer");
    }
    long v = leaf.longValue();
    if (v < min || v > max) {
      throw ServingException.invalid(
          "%s%s is %d, out of range for %s [%d, %d]", where, index(i, shape), v, dtype, min, max);
    }
    return v;
  }

  private static byte[] bytes(String where, JsonNode leaf, int i, long[] shape) {
    if (leaf.isTextual()) {
      return leaf.textValue().getBytes(StandardCharsets.UTF_8);
    }
    if (leaf.isObject() && leaf.size() == 1 && leaf.has(B64) && leaf.get(B64).isTextual()) {
      try {
        return Base64.getDecoder().decode(leaf.get(B64).textValue());
      } catch (IllegalArgumentException e) {
        throw ServingException.invalid(
            "%s%s: the \"b64\" value is not valid base64 (%s)",
            where, index(i, shape), e.getMessage());
      }
    }
    throw wrongType(where, leaf, i, shape, DataType.DT_STRING, "a string or {\"b64\": \"...\"}");
  }

  private static ServingException wrongType(
      String where, JsonNode leaf, int i, long[] shape, DataType dtype, String expected) {
    return ServingException.invalid(
        "%s%s is %s; %s needs %s", where, index(i, shape), describe(leaf), dtype, expected);
  }

  /** The multi-index of flat element i, e.g. {@code [1][0]}; empty for a scalar. */
  private static String index(int i, long[] shape) {
    if (shape.length == 0) {
      return "";
    }
    long[] idx = new long[shape.length];
    long rest = i;
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = shape[d] == 0 ? 0 : rest % shape[d];
      rest = shape[d] == 0 ? 0 : rest / shape[d];
    }
    StringBuilder s = new StringBuilder();
    for (long k : idx) {
      s.append('[').append(k).append(']');
    }
    return s.toString();
  }

  /** A short description of a JSON value for error messages. */
  static String describe(JsonNode node) {
    String text = node.toString();
    if (text.length() > 40) {
      text = text.substring(0, 37) + "...";
    }
    String kind =
        node.isTextual()
            ? "a string"
            : node.isObject()
                ? "an object"
                : node.isArray()
                    ? "a list"
                    : node.isNull()
                        ? "null"
                        : node.isBoolean()
                            ? "a boolean"
                            : node.isIntegralNumber() ? "an integer" : "a number";
    return node.isNull() ? kind : kind + " (" + text + ")";
  }
}
