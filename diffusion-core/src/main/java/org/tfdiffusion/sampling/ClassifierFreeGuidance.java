package org.tfdiffusion.sampling;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.nn.Parameters;

/**
 * Classifier-free guidance (Ho &amp; Salimans 2022): one network trained both with labels and with
 * a null label is evaluated on both and extrapolated away from the unconditional prediction,
 *
 * <pre>
 *   ε̂ = ε_θ(x, t, ∅) + w · (ε_θ(x, t, y) - ε_θ(x, t, ∅))
 * </pre>
 *
 * so w = 0 is unconditional and w = 1 plain conditional. Both predictions come from one batched
 * forward pass over [x; x] with labels [y; ∅], inside the compiled loop, for every sampler (the
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
   * @param nullLabel the label index meaning "no class" (the number of classes)
   */
  public static SamplingLoop.Model guided(ConditionalNetwork network, int nullLabel) {
    return (tf, weights, x, t, conditioning) -> {
      @SuppressWarnings("unchecked")
      Operand<TInt32> labels = (Operand<TInt32>) conditioning.get(0);
      @SuppressWarnings("unchecked")
      Operand<TFloat32> scale = (Operand<TFloat32>) conditioning.get(1);
      Operand<TInt32> zero = tf.constant(0);
      Operand<TFloat32> both = tf.concat(List.of(x, x), zero);
      Operand<TInt32> times = tf.concat(List.of(t, t), zero);
      Operand<TInt32> classes =
          tf.concat(List.of(labels, tf.fill(tf.shape(labels), tf.constant(nullLabel))), zero);
      Operand<TFloat32> out = network.apply(tf, weights, both, times, classes);
      List<org.tensorflow.Output<TFloat32>> halves = tf.split(zero, out, 2L).output();
      return combine(tf, halves.get(1), halves.get(0), scale);
    };
  }
}
