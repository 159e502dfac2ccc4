package org.tfdiffusion.export.serving;

import static java.util.Objects.requireNonNull;

import java.util.Arrays;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffer;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;

/**
 * A tensor's values on the Java heap, row-major: what a request's JSON becomes before it is fed to
 * TensorFlow, and what a fetched tensor becomes before it is written as JSON. Holding the values
 * here keeps every native tensor's life inside one {@code try} block of {@link ServableModel}.
 *
 * @param dtype the element type
 * @param shape the dimensions (empty for a scalar)
 * @param values a {@code float[]} (DT_FLOAT), {@code double[]} (DT_DOUBLE), {@code int[]}
 *     (DT_INT32, DT_UINT8), {@code long[]} (DT_INT64), {@code boolean[]} (DT_BOOL) or {@code
 *     byte[][]} (DT_STRING) of {@code product(shape)} elements
 */
public record HostTensor(DataType dtype, long[] shape, Object values) {
  public HostTensor {
    requireNonNull(dtype, "dtype");
    requireNonNull(shape, "shape");
    requireNonNull(values, "values");
    long size = size(shape);
    if (java.lang.reflect.Array.getLength(values) != size) {
      throw new IllegalArgumentException(
          "values hold "
              + java.lang.reflect.Array.getLength(values)
              + " elements, shape "
              + Arrays.toString(shape)
              + " needs "
              + size);
    }
  }

  /** The number of elements of a tensor of this shape. */
  public static long size(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** The number of elements. */
  public long size() {
    return size(shape);
  }

  /** The size of the first dimension (the batch); -1 for a scalar. */
  public long batch() {
    return shape.length == 0 ? -1 : shape[0];
  }

  /** The elements as a float array (DT_FLOAT only). */
  public float[] floats() {
    return (float[]) values;
  }

  /** The elements as byte strings (DT_STRING only). */
  public byte[][] strings() {
    return (byte[][]) values;
  }

  /** A new native tensor with these values; the caller closes it. */
  public Tensor toTensor() {
    Shape s = Shape.of(shape);
    return switch (dtype) {
      case DT_FLOAT -> TFloat32.tensorOf(s, DataBuffers.of((float[]) values, true, false));
      case DT_DOUBLE -> TFloat64.tensorOf(s, DataBuffers.of((double[]) values, true, false));
      case DT_INT32 -> TInt32.tensorOf(s, DataBuffers.of((int[]) values, true, false));
      case DT_INT64 -> TInt64.tensorOf(s, DataBuffers.of((long[]) values, true, false));
      case DT_BOOL -> TBool.tensorOf(s, DataBuffers.of((boolean[]) values, true, false));
      case DT_UINT8 -> {
        int[] ints = (int[]) values;
        byte[] bytes = new byte[ints.length];
        for (int i = 0; i < ints.length; i++) {
          bytes[i] = (byte) ints[i];
        }
        yield TUint8.tensorOf(s, DataBuffers.of(bytes, true, false));
      }
      case DT_STRING -> TString.tensorOfBytes(s, DataBuffers.ofObjects((byte[][]) values));
      default -> throw new IllegalArgumentException("unsupported dtype " + dtype);
    };
  }

  /** Copies a native tensor's values to the heap (the tensor stays open; the caller closes it). */
  public static HostTensor of(Tensor tensor) {
    long[] shape = tensor.shape().asArray();
    int n = Math.toIntExact(tensor.shape().size());
    DataType dtype = tensor.dataType();
    Object values =
        switch (dtype) {
          case DT_FLOAT -> {
            float[] v = new float[n];
            ((TFloat32) tensor).copyTo(DataBuffers.of(v, false, false));
            yield v;
          }
          case DT_DOUBLE -> {
            double[] v = new double[n];
            ((TFloat64) tensor).copyTo(DataBuffers.of(v, false, false));
            yield v;
          }
          case DT_INT32 -> {
            int[] v = new int[n];
            ((TInt32) tensor).copyTo(DataBuffers.of(v, false, false));
            yield v;
          }
          case DT_INT64 -> {
            long[] v = new long[n];
            ((TInt64) tensor).copyTo(DataBuffers.of(v, false, false));
            yield v;
          }
          case DT_BOOL -> {
            boolean[] v = new boolean[n];
            ((TBool) tensor).copyTo(DataBuffers.of(v, false, false));
            yield v;
          }
          case DT_UINT8 -> {
            byte[] b = new byte[n];
            ((TUint8) tensor).copyTo(DataBuffers.of(b, false, false));
            int[] v = new int[n];
            for (int i = 0; i < n; i++) {
              v[i] = b[i] & 0xff;
            }
            yield v;
          }
          case DT_STRING -> {
            DataBuffer<byte[]> buffer = DataBuffers.ofObjects(byte[].class, n);
            ((TString) tensor).asBytes().copyTo(buffer);
            byte[][] v = new byte[n][];
            for (int i = 0; i < n; i++) {
              v[i] = buffer.getObject(i);
            }
            yield v;
          }
          default ->
              throw new ServingException(
                  ErrorCode.UNIMPLEMENTED, "output dtype " + dtype + " cannot be written as JSON");
        };
    return new HostTensor(dtype, shape, values);
  }

  @Override
  public String toString() {
    return dtype + TensorSpec.formatDims(Arrays.stream(shape).boxed().toList());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof HostTensor h
        && dtype == h.dtype
        && Arrays.equals(shape, h.shape)
        && Arrays.deepEquals(new Object[] {values}, new Object[] {h.values});
  }

  @Override
  public int hashCode() {
    return 31 * (31 * dtype.hashCode() + Arrays.hashCode(shape))
        + Arrays.deepHashCode(new Object[] {values});
  }
}
