package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * How a weight starts: a pure function of its shape and a seed, so that the same seed gives the
 * same initial weights on every run and in every graph.
 */
public sealed interface Initializer {

  /**
   * Builds the initial value in {@code tf} (normally an init scope).
   *
   * @param seed int64 [2], the stateless RNG seed of this weight
   */
  Operand<TFloat32> build(Ops tf, Shape shape, Operand<TInt64> seed);

  /**
   * U(-bound, bound): PyTorch's default for conv and linear layers with {@code bound = 1/√fan_in}
   * (kaiming_uniform with a = √5), which is what the tutorial's model starts from.
   */
  static Initializer uniform(double bound) {
    return new Uniform(bound);
  }

  /** The PyTorch default for a layer with the given fan-in. */
  static Initializer fanIn(long fanIn) {
    checkArgument(fanIn > 0, "fan-in must be positive, got %s", fanIn);
    return new Uniform(1.0 / Math.sqrt(fanIn));
  }

  /** N(0, std²). */
  static Initializer normal(double std) {
    return new Normal(std);
  }

  /** Every element equal to {@code value} (0 for biases of norms, 1 for their scales). */
  static Initializer constant(double value) {
    return new Constant(value);
  }

  /** U(-bound, bound). */
  record Uniform(double bound) implements Initializer {
    public Uniform {
      checkArgument(
          bound > 0 && Double.isFinite(bound), "uniform bound must be > 0, got %s", bound);
    }

    @Override
    public Operand<TFloat32> build(Ops tf, Shape shape, Operand<TInt64> seed) {
      Operand<TFloat32> u =
          tf.random.statelessRandomUniform(tf.constant(shape), seed, TFloat32.class);
      // u in [0, 1) -> (2u - 1) * bound in [-bound, bound)
      return tf.math.mul(
          tf.math.sub(tf.math.mul(u, tf.constant(2f)), tf.constant(1f)),
          tf.constant((float) bound));
    }
  }

  /** N(0, std²). */
  record Normal(double std) implements Initializer {
    public Normal {
      checkArgument(std > 0 && Double.isFinite(std), "normal std must be > 0, got %s", std);
    }

    @Override
    public Operand<TFloat32> build(Ops tf, Shape shape, Operand<TInt64> seed) {
      return tf.math.mul(
          tf.random.statelessRandomNormal(tf.constant(shape), seed, TFloat32.class),
          tf.constant((float) std));
    }
  }

  /** A constant fill. */
  record Constant(double value) implements Initializer {
    public Constant {
      checkArgument(Double.isFinite(value), "constant initializer must be finite, got %s", value);
    }

    @Override
    public Operand<TFloat32> build(Ops tf, Shape shape, Operand<TInt64> seed) {
      return tf.fill(tf.constant(shape), tf.constant((float) value));
    }
  }
}
