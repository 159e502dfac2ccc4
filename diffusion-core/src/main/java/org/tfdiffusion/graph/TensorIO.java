package org.tfdiffusion.graph;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/** Copies between Java arrays and tensors (row-major, the layout of both). */
public final class TensorIO {
  private TensorIO() {}

  /** A float32 tensor of the given shape holding {@code values} (copied). */
  public static TFloat32 floats(Shape shape, float[] values) {
    checkArgument(
        shape.size() == values.length,
        "shape %s holds %s values, got %s",
        shape,
        shape.size(),
        values.length);
    return TFloat32.tensorOf(shape, DataBuffers.of(values, true, false));
  }

  /** An int32 vector. */
  public static TInt32 ints(int... values) {
    return TInt32.vectorOf(values);
  }

  /** An int64 vector. */
  public static TInt64 longs(long... values) {
    return TInt64.vectorOf(values);
  }

  /** All values of a float32 tensor, row-major. */
  public static float[] toFloats(Tensor tensor) {
    TFloat32 t = (TFloat32) tensor;
    float[] out = new float[Math.toIntExact(t.size())];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }

  /** All values of an int32 tensor, row-major. */
  public static int[] toInts(Tensor tensor) {
    TInt32 t = (TInt32) tensor;
    int[] out = new int[Math.toIntExact(t.size())];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }
}
