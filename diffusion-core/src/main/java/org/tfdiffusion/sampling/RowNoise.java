package org.tfdiffusion.sampling;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.Loops;

/**
 * Standard normal noise with one seed per image: row b of the result depends only on (seeds[b],
 * counter), so an image is the same in any batch position and batch size.
 *
 * <p>TensorFlow's stateless RNG ops take one seed each, so the rows are drawn by a loop over the
 * batch ({@code StatelessWhile}) that writes each row with {@code TensorScatterNdUpdate}.
 */
public final class RowNoise {
  /**
   * The counter of the start noise: x_T of plain sampling, and the ε that image-to-image noises its
   * image with (so that strength 1 is plain sampling). Step k of a loop draws its z from counter k
   * + 1.
   */
  public static final long START_COUNTER = 0;

  /** Inpainting's known-region noise at step k comes from counter {@code KNOWN_REGION + k}. */
  public static final long KNOWN_REGION_COUNTERS = 1L << 32;

  /** RePaint's noise for a jump back after step k comes from counter {@code RESAMPLING + k}. */
  public static final long RESAMPLING_COUNTERS = 2L << 32;

  private RowNoise() {}

  /**
   * @param seeds int64 [B], one seed per image
   * @param counter int64 scalar, e.g. 0 for the initial x_T and i + 1 for step i
   * @param imageShape [H, W, C]
   * @return float32 [B, H, W, C]
   */
  public static Operand<TFloat32> normal(
      Ops tf, Operand<TInt64> seeds, Operand<TInt64> counter, Shape imageShape) {
    Operand<TInt32> batch = tf.shape.size(seeds, tf.constant(0));
    Operand<TInt32> fullShape =
        tf.concat(
            List.of(
                tf.reshape(batch, tf.constant(new int[] {1})),
                tf.constant(
                    new int[] {
                      (int) imageShape.size(0), (int) imageShape.size(1), (int) imageShape.size(2)
                    })),
            tf.constant(0));
    Operand<TFloat32> zeros =
        tf.ensureShape(
            tf.fill(fullShape, tf.constant(0f)),
            Shape.of(-1, imageShape.size(0), imageShape.size(1), imageShape.size(2)));
    Operand<TInt32> rowShape =
        tf.constant(
            new int[] {
              1, (int) imageShape.size(0), (int) imageShape.size(1), (int) imageShape.size(2)
            });
    List<org.tensorflow.Output<?>> out =
        Loops.whileLoop(
            tf,
            "row_noise",
            List.of(tf.constant(0), zeros, seeds, counter),
            (f, v) -> f.math.less(int32(v.get(0)), Loops.dim(f, v.get(2), 0)),
            (f, v) -> {
              Operand<TInt32> row = int32(v.get(0));
              Operand<TInt64> seed =
                  f.stack(List.of(f.gather(int64(v.get(2)), row, f.constant(0)), int64(v.get(3))));
              Operand<TFloat32> sample =
                  f.random.statelessRandomNormal(
                      f.constant(rowShapeArray(imageShape)), seed, TFloat32.class);
              Operand<TFloat32> updated =
                  f.tensorScatterNdUpdate(
                      float32(v.get(1)), f.reshape(row, f.constant(new int[] {1, 1})), sample);
              return List.of(f.math.add(row, f.constant(1)), updated, v.get(2), v.get(3));
            });
    return tf.ensureShape(
        float32(out.get(1)),
        Shape.of(-1, imageShape.size(0), imageShape.size(1), imageShape.size(2)));
  }

  private static int[] rowShapeArray(Shape imageShape) {
    return new int[] {
      1, (int) imageShape.size(0), (int) imageShape.size(1), (int) imageShape.size(2)
    };
  }

  @SuppressWarnings("unchecked")
  static Operand<TInt32> int32(Operand<?> o) {
    return (Operand<TInt32>) o;
  }

  @SuppressWarnings("unchecked")
  static Operand<TInt64> int64(Operand<?> o) {
    return (Operand<TInt64>) o;
  }

  @SuppressWarnings("unchecked")
  static Operand<TFloat32> float32(Operand<?> o) {
    return (Operand<TFloat32>) o;
  }
}
