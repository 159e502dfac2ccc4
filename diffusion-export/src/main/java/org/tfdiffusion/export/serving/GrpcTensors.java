package org.tfdiffusion.export.serving;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.proto.TensorShapeProto;

/**
 * {@code TensorProto} ↔ tensors, as TensorFlow reads and writes them: the values either packed
 * little-endian in {@code tensor_content} or in the repeated field of the dtype ({@code float_val},
 * {@code int64_val}, ...), where fewer values than the shape holds repeat the last one (a single
 * value fills the tensor) and none means zeros.
 *
 * <p>A request's tensor is converted to the signature's dtype the way the REST API reads JSON
 * numbers: any integer type feeds an integer or floating-point input when its values fit, a
 * floating-point type feeds only floating-point inputs, DT_BOOL only DT_BOOL and DT_STRING only
 * DT_STRING.
 */
final class GrpcTensors {
  private GrpcTensors() {}

  /**
   * Reads one request tensor as a value of {@code dtype}.
   *
   * @param where how errors name it, e.g. {@code input 'seed'}
   * @throws ServingException 400 naming {@code where} for a malformed tensor or one of another type
   */
  static HostTensor read(String where, TensorProto proto, DataType dtype) {
    if (!JsonTensors.supported(dtype)) {
      throw new ServingException(
          ErrorCode.UNIMPLEMENTED, where + " has dtype " + dtype + ", which is not served here");
    }
    long[] shape = shape(where, proto.getTensorShape());
    long size;
    try {
      size = HostTensor.size(shape);
    } catch (ArithmeticException e) {
      size = Long.MAX_VALUE;
    }
    if (size > Integer.MAX_VALUE - 8) {
      throw ServingException.invalid("%s is too large (%d elements)", where, size);
    }
    int n = (int) size;
    DataType given = proto.getDtype();
    Object values =
        switch (dtype) {
          case DT_BOOL -> {
            requireType(where, given, dtype, given == DataType.DT_BOOL);
            yield bools(where, proto, n);
          }
          case DT_STRING -> {
            requireType(where, given, dtype, given == DataType.DT_STRING);
            yield strings(where, proto, n);
          }
          case DT_FLOAT, DT_DOUBLE -> {
            requireType(where, given, dtype, isInteger(given) || isFloating(given));
            double[] d =
                isFloating(given) ? doubles(where, proto, n) : toDoubles(longs(where, proto, n));
            if (dtype == DataType.DT_DOUBLE) {
              yield d;
            }
            float[] f = new float[n];
            for (int i = 0; i < n; i++) {
              if (Double.isFinite(d[i]) && Math.abs(d[i]) > Float.MAX_VALUE) {
                throw ServingException.invalid(
                    "%s[%d] is %s, out of range for DT_FLOAT (a finite number of magnitude at"
                        + " most %s)",
                    where, i, d[i], Float.MAX_VALUE);
              }
              f[i] = (float) d[i];
            }
            yield f;
          }
          case DT_INT32, DT_UINT8, DT_INT64 -> {
            requireType(where, given, dtype, isInteger(given));
            long[] l = longs(where, proto, n);
            if (dtype == DataType.DT_INT64) {
              yield l;
            }
            long min = dtype == DataType.DT_UINT8 ? 0 : Integer.MIN_VALUE;
            long max = dtype == DataType.DT_UINT8 ? 255 : Integer.MAX_VALUE;
            int[] v = new int[n];
            for (int i = 0; i < n; i++) {
              if (l[i] < min || l[i] > max) {
                throw ServingException.invalid(
                    "%s[%d] is %d, out of range for %s [%d, %d]", where, i, l[i], dtype, min, max);
              }
              v[i] = (int) l[i];
            }
            yield v;
          }
          default -> throw new IllegalStateException("unreachable: " + dtype);
        };
    return new HostTensor(dtype, shape, values);
  }

  /** A tensor as a {@code TensorProto}, its values in the repeated field of its dtype. */
  static TensorProto write(HostTensor t) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (long d : t.shape()) {
      shape.addDim(TensorShapeProto.Dim.newBuilder().setSize(d));
    }
    TensorProto.Builder b = TensorProto.newBuilder().setDtype(t.dtype()).setTensorShape(shape);
    switch (t.dtype()) {
      case DT_FLOAT -> {
        for (float v : (float[]) t.values()) {
          b.addFloatVal(v);
        }
      }
      case DT_DOUBLE -> {
        for (double v : (double[]) t.values()) {
          b.addDoubleVal(v);
        }
      }
      case DT_INT32, DT_UINT8 -> {
        for (int v : (int[]) t.values()) {
          b.addIntVal(v);
        }
      }
      case DT_INT64 -> {
        for (long v : (long[]) t.values()) {
          b.addInt64Val(v);
        }
      }
      case DT_BOOL -> {
        for (boolean v : (boolean[]) t.values()) {
          b.addBoolVal(v);
        }
      }
      case DT_STRING -> {
        for (byte[] v : (byte[][]) t.values()) {
          b.addStringVal(ByteString.copyFrom(v));
        }
      }
      default -> throw new IllegalStateException("unsupported dtype " + t.dtype());
    }
    return b.build();
  }

  private static long[] shape(String where, TensorShapeProto shape) {
    if (shape.getUnknownRank()) {
      throw ServingException.invalid("%s has an unknown rank; send its shape", where);
    }
    long[] dims = new long[shape.getDimCount()];
    for (int i = 0; i < dims.length; i++) {
      dims[i] = shape.getDim(i).getSize();
      if (dims[i] < 0) {
        throw ServingException.invalid(
            "%s has dimension %d of size %d; a tensor's sizes are 0 or more", where, i, dims[i]);
      }
    }
    return dims;
  }

  private static void requireType(String where, DataType given, DataType wanted, boolean ok) {
    if (given == DataType.DT_INVALID) {
      throw ServingException.invalid("%s has no dtype; the signature needs %s", where, wanted);
    }
    if (!ok) {
      throw ServingException.invalid(
          "%s has dtype %s, but the signature needs %s%s",
          where, given, wanted, isInteger(wanted) ? " (an integer type)" : "");
    }
  }

  private static boolean isInteger(DataType t) {
    return switch (t) {
      case DT_INT8, DT_INT16, DT_INT32, DT_INT64, DT_UINT8, DT_UINT16, DT_UINT32, DT_UINT64 -> true;
      default -> false;
    };
  }

  private static boolean isFloating(DataType t) {
    return t == DataType.DT_FLOAT || t == DataType.DT_DOUBLE;
  }

  /** Bytes per element in tensor_content. */
  private static int width(DataType t) {
    return switch (t) {
      case DT_INT8, DT_UINT8, DT_BOOL -> 1;
      case DT_INT16, DT_UINT16 -> 2;
      case DT_INT32, DT_UINT32, DT_FLOAT -> 4;
      case DT_INT64, DT_UINT64, DT_DOUBLE -> 8;
      default -> throw new IllegalStateException("no fixed width: " + t);
    };
  }

  /** The tensor_content as a little-endian buffer of n elements, or null when it is empty. */
  private static ByteBuffer content(String where, TensorProto proto, int n) {
    ByteString c = proto.getTensorContent();
    if (c.isEmpty()) {
      return null;
    }
    int width = width(proto.getDtype());
    if ((long) n * width != c.size()) {
      throw ServingException.invalid(
          "%s has %d bytes of tensor_content, but %d elements of %s take %d",
          where, c.size(), n, proto.getDtype(), (long) n * width);
    }
    return c.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  /** How many values a repeated field of {@code count} values gives: checked against n. */
  private static void checkCount(String where, int count, int n) {
    if (count > n) {
      throw ServingException.invalid("%s has %d values, but its shape holds %d", where, count, n);
    }
  }

  private static long[] longs(String where, TensorProto proto, int n) {
    DataType t = proto.getDtype();
    long[] out = new long[n];
    ByteBuffer c = content(where, proto, n);
    if (c != null) {
      for (int i = 0; i < n; i++) {
        out[i] =
            switch (t) {
              case DT_INT8 -> c.get();
              case DT_UINT8 -> c.get() & 0xffL;
              case DT_INT16 -> c.getShort();
              case DT_UINT16 -> c.getShort() & 0xffffL;
              case DT_INT32 -> c.getInt();
              case DT_UINT32 -> c.getInt() & 0xffffffffL;
              case DT_INT64 -> c.getLong();
              case DT_UINT64 -> unsigned(where, i, c.getLong());
              default -> throw new IllegalStateException("not an integer type: " + t);
            };
      }
      return out;
    }
    int count =
        switch (t) {
          case DT_INT64 -> proto.getInt64ValCount();
          case DT_UINT32 -> proto.getUint32ValCount();
          case DT_UINT64 -> proto.getUint64ValCount();
          default -> proto.getIntValCount();
        };
    checkCount(where, count, n);
    for (int i = 0; i < n && count > 0; i++) {
      int k = Math.min(i, count - 1);
      out[i] =
          switch (t) {
            case DT_INT64 -> proto.getInt64Val(k);
            case DT_UINT32 -> proto.getUint32Val(k) & 0xffffffffL;
            case DT_UINT64 -> unsigned(where, k, proto.getUint64Val(k));
            default -> proto.getIntVal(k);
          };
    }
    return out;
  }

  private static long unsigned(String where, int i, long v) {
    if (v < 0) {
      throw ServingException.invalid(
          "%s[%d] is %s, out of range for DT_INT64", where, i, Long.toUnsignedString(v));
    }
    return v;
  }

  private static double[] toDoubles(long[] l) {
    return Arrays.stream(l).asDoubleStream().toArray();
  }

  private static double[] doubles(String where, TensorProto proto, int n) {
    boolean single = proto.getDtype() == DataType.DT_FLOAT;
    double[] out = new double[n];
    ByteBuffer c = content(where, proto, n);
    if (c != null) {
      for (int i = 0; i < n; i++) {
        out[i] = single ? c.getFloat() : c.getDouble();
      }
    } else {
      int count = single ? proto.getFloatValCount() : proto.getDoubleValCount();
      checkCount(where, count, n);
      for (int i = 0; i < n && count > 0; i++) {
        int k = Math.min(i, count - 1);
        out[i] = single ? proto.getFloatVal(k) : proto.getDoubleVal(k);
      }
    }
    for (int i = 0; i < n; i++) {
      if (!Double.isFinite(out[i])) {
        throw ServingException.invalid("%s[%d] is %s; a finite number is needed", where, i, out[i]);
      }
    }
    return out;
  }

  private static boolean[] bools(String where, TensorProto proto, int n) {
    boolean[] out = new boolean[n];
    ByteBuffer c = content(where, proto, n);
    if (c != null) {
      for (int i = 0; i < n; i++) {
        out[i] = c.get() != 0;
      }
      return out;
    }
    int count = proto.getBoolValCount();
    checkCount(where, count, n);
    for (int i = 0; i < n && count > 0; i++) {
      out[i] = proto.getBoolVal(Math.min(i, count - 1));
    }
    return out;
  }

  private static byte[][] strings(String where, TensorProto proto, int n) {
    int count = proto.getStringValCount();
    checkCount(where, count, n);
    byte[][] out = new byte[n][];
    for (int i = 0; i < n; i++) {
      out[i] = count == 0 ? new byte[0] : proto.getStringVal(Math.min(i, count - 1)).toByteArray();
    }
    return out;
  }
}
