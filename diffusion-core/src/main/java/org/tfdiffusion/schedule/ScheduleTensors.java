package org.tfdiffusion.schedule;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.EnumMap;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TNumber;

/**
 * A {@link NoiseSchedule} inside one graph: each coefficient becomes a float32 constant of shape
 * [T] (created once, on first use) and is gathered per sample by the batch's timesteps.
 *
 * <p>Bound to one {@link Ops} (one graph or one function body); build another for another graph.
 */
public final class ScheduleTensors {
  /** The rank of an image batch [B, H, W, C], the default broadcast target. */
  public static final int IMAGE_RANK = 4;

  private final Ops tf;
  private final NoiseSchedule schedule;
  private final Map<Coefficient, Operand<TFloat32>> constants = new EnumMap<>(Coefficient.class);

  public ScheduleTensors(Ops tf, NoiseSchedule schedule) {
    this.tf = tf.withSubScope("schedule");
    this.schedule = schedule;
  }

  public NoiseSchedule schedule() {
    return schedule;
  }

  /** The whole coefficient array as a float32 constant of shape [T]. */
  public Operand<TFloat32> constant(Coefficient coefficient) {
    return constants.computeIfAbsent(
        coefficient,
        c -> {
          double[] values = schedule.get(c).toArray();
          float[] floats = new float[values.length];
          for (int i = 0; i < values.length; i++) {
            floats[i] = (float) values[i];
          }
          return tf.withName(c.formulaName()).constant(floats);
        });
  }

  /**
   * {@code coefficient[t]} per sample, shaped [B, 1, 1, 1] to broadcast against an image batch.
   *
   * @param t timesteps of shape [B] with values in [0, T)
   */
  public Operand<TFloat32> extract(Coefficient coefficient, Operand<? extends TNumber> t) {
    return extract(coefficient, t, IMAGE_RANK);
  }

  /**
   * {@code coefficient[t]} per sample, shaped [B, 1, ..., 1] with {@code rank} dimensions.
   *
   * @param t timesteps of shape [B] with values in [0, T); TensorFlow's gather fails at run time on
   *     an index outside that range
   */
  public Operand<TFloat32> extract(
      Coefficient coefficient, Operand<? extends TNumber> t, int rank) {
    checkArgument(rank >= 1, "broadcast rank must be at least 1, got %s", rank);
    Operand<TFloat32> gathered = tf.gather(constant(coefficient), t, tf.constant(0));
    int[] shape = new int[rank];
    java.util.Arrays.fill(shape, 1);
    shape[0] = -1;
    return tf.reshape(gathered, tf.constant(shape));
  }
}
