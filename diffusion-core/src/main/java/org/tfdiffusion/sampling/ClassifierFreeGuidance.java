package org.tfdiffusion.sampling;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.nn.Parameters;

/**
 * Classifier-free guidance (Ho &amp; Salimans 2022): one network trained both with labels and with
 * a null label is evaluated on both and extrapolated away from the unconditional prediction,
 *
 * <pre>
 *   ε̂ = ε_θ(x, t, ∅) + w · (ε_θ(x, t, y) - ε_θ(x, t, ∅))
 * </pre>
 *
 * so w = 0 is unconditional and w = 1 plain conditional. The predictions come from one batched
 * forward pass over the rows with labels y and ∅, inside the compiled loop, for every sampler (the
 * combination applies to the model output, whatever it predicts).
 */
public final class ClassifierFreeGuidance {
  private ClassifierFreeGuidance() {}

  /** A class-conditional network as the loop sees it. */
  @FunctionalInterface
  public interface ConditionalNetwork {
    /**
     * @param labels int32 [B] in [0, classes], where the value classes is the null label
     */
    Operand<TFloat32> apply(
        Ops tf, Parameters weights, Operand<TFloat32> x, Operand<TInt32> t, Operand<TInt32> labels);
  }

  /**
   * {@code uncond + w · (cond - uncond)} with one guidance scale per row.
   *
   * @param scale float32 [B]
   */
  public static Operand<TFloat32> combine(
      Ops tf, Operand<TFloat32> uncond, Operand<TFloat32> cond, Operand<TFloat32> scale) {
    Operand<TFloat32> w = tf.reshape(scale, tf.constant(new int[] {-1, 1, 1, 1}));
    return tf.math.add(uncond, tf.math.mul(w, tf.math.sub(cond, uncond)));
  }

  /**
   * A loop model with guidance. Its conditioning inputs are, in order, the labels (int32 [B]) and
   * the guidance scales (float32 [B]).
   *
   * <p>One forward pass evaluates only the predictions each row needs: the conditional one for rows
   * with w ≠ 0 and the unconditional one for rows with w ≠ 1, batched together. A row at w = 1 (a
   * distilled student, plain conditional sampling) or w = 0 (unconditional sampling) costs one
   * network evaluation instead of two, and its output is exactly that one prediction; rows of other
   * scales get both, combined as above.
   *
   * @param nullLabel the label index meaning "no class" (the number of classes)
   */
  public static SamplingLoop.Model guided(ConditionalNetwork network, int nullLabel) {
    return (tf, weights, x, t, conditioning) -> {
      @SuppressWarnings("unchecked")
      Operand<TInt32> labels = (Operand<TInt32>) conditioning.get(0);
      @SuppressWarnings("unchecked")
      Operand<TFloat32> scale = (Operand<TFloat32>) conditioning.get(1);
      Operand<TInt32> zero = tf.constant(0);
      // [K, 1] row indices of the rows that need each prediction
      Operand<TInt64> condRows = tf.where(tf.math.notEqual(scale, tf.constant(0f)));
      Operand<TInt64> uncondRows = tf.where(tf.math.notEqual(scale, tf.constant(1f)));
      Operand<TInt32> condCount = rowCount(tf, condRows);
      Operand<TFloat32> rows =
          tf.concat(List.of(tf.gatherNd(x, condRows), tf.gatherNd(x, uncondRows)), zero);
      Operand<TInt32> times =
          tf.concat(List.of(tf.gatherNd(t, condRows), tf.gatherNd(t, uncondRows)), zero);
      Operand<TInt32> classes =
          tf.concat(
              List.of(
                  tf.gatherNd(labels, condRows),
                  tf.fill(
                      tf.reshape(rowCount(tf, uncondRows), tf.constant(new int[] {1})),
                      tf.constant(nullLabel))),
              zero);
      Operand<TFloat32> out = network.apply(tf, weights, rows, times, classes);
      List<org.tensorflow.Output<TFloat32>> parts =
          tf.splitV(
                  out,
                  tf.concat(
                      List.of(
                          tf.reshape(condCount, tf.constant(new int[] {1})),
                          tf.constant(new int[] {-1})),
                      zero),
                  zero,
                  2L)
              .output();
      // rows that skip a prediction hold 0 there, which the combination multiplies away exactly:
      // w = 1 gives 0 + 1 · (cond - 0) = cond, w = 0 gives uncond + 0 · (0 - uncond) = uncond
      Operand<TInt64> shape = tf.shape(x, TInt64.class);
      Operand<TFloat32> cond = tf.scatterNd(condRows, parts.get(0), shape);
      Operand<TFloat32> uncond = tf.scatterNd(uncondRows, parts.get(1), shape);
      return combine(tf, uncond, cond, scale);
    };
  }

  /** The number of rows of a [K, 1] index list, as an int32 scalar. */
  private static Operand<TInt32> rowCount(Ops tf, Operand<TInt64> rows) {
    return tf.gather(tf.shape(rows), tf.constant(0), tf.constant(0));
  }
}
