package org.tfdiffusion.testing;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Random;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * A plain-Java NHWC feature map in double precision, row-major like a TensorFlow tensor: element
 * (b, y, x, c) sits at {@code ((b·H + y)·W + x)·C + c}. Mutable; the array is shared, not copied.
 *
 * <p>Maps made by {@link #gaussian} hold float32-representable values, so the graph (fed the same
 * floats) and a double-precision reference start from identical inputs.
 */
public record Nhwc(int batch, int height, int width, int channels, double[] data) {
  public Nhwc {
    checkArgument(
        data.length == (long) batch * height * width * channels,
        "[%s, %s, %s, %s] holds %s values, got %s",
        batch,
        height,
        width,
        channels,
        (long) batch * height * width * channels,
        data.length);
  }

  /** All zeros. */
  public static Nhwc zeros(int batch, int height, int width, int channels) {
    return new Nhwc(batch, height, width, channels, new double[batch * height * width * channels]);
  }

  /** Seeded N(mean, std²) values rounded to float32. */
  public static Nhwc gaussian(
      long seed, int batch, int height, int width, int channels, double mean, double std) {
    Random random = new Random(seed);
    double[] data = new double[batch * height * width * channels];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) (mean + std * random.nextGaussian());
    }
    return new Nhwc(batch, height, width, channels, data);
  }

  /** Seeded standard normal values rounded to float32. */
  public static Nhwc gaussian(long seed, int batch, int height, int width, int channels) {
    return gaussian(seed, batch, height, width, channels, 0, 1);
  }

  /** Wraps float32 values of the given shape (for example a graph's output). */
  public static Nhwc of(float[] values, int batch, int height, int width, int channels) {
    double[] data = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      data[i] = values[i];
    }
    return new Nhwc(batch, height, width, channels, data);
  }

  /** The flat index of (b, y, x, c). */
  public int index(int b, int y, int x, int c) {
    return ((b * height + y) * width + x) * channels + c;
  }

  public double get(int b, int y, int x, int c) {
    return data[index(b, y, x, c)];
  }

  public void set(int b, int y, int x, int c, double value) {
    data[index(b, y, x, c)] = value;
  }

  /** The static shape [B, H, W, C]. */
  public Shape shape() {
    return Shape.of(batch, height, width, channels);
  }

  /** The values as float32. */
  public float[] toFloats() {
    float[] out = new float[data.length];
    for (int i = 0; i < data.length; i++) {
      out[i] = (float) data[i];
    }
    return out;
  }

  /** A float32 graph constant holding this map, with its static shape. */
  public Operand<TFloat32> constant(Ops tf) {
    return tf.constant(shape(), DataBuffers.of(toFloats(), true, false));
  }
}
