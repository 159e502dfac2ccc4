package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TNumber;

/**
 * The timestep embedding of the tutorial: sinusoidal features (Vaswani et al. 2017) followed by an
 * MLP {@code Linear(d, 4d) → SiLU → Linear(4d, d)}.
 *
 * <pre>
 *   f_k = exp(-ln(10000) · k / (d/2 - 1)),  k = 0..d/2-1
 *   emb(t) = [sin(t f_0) .. sin(t f_{d/2-1}), cos(t f_0) .. cos(t f_{d/2-1})]
 * </pre>
 */
public final class TimeEmbedding {
  /** The base period of the sinusoids. */
  public static final double MAX_PERIOD = 10000.0;

  /** The MLP's hidden width as a multiple of d. */
  public static final int MLP_EXPANSION = 4;

  private TimeEmbedding() {}

  /** The frequencies f_k in double precision. */
  public static double[] frequencies(int dim) {
    checkArgument(
        dim >= 4 && dim % 2 == 0, "time embedding size must be even and >= 4, got %s", dim);
    int half = dim / 2;
    double[] f = new double[half];
    double scale = Math.log(MAX_PERIOD) / (half - 1);
    for (int k = 0; k < half; k++) {
      f[k] = Math.exp(-scale * k);
    }
    return f;
  }

  /** The sinusoidal features of t [B] (any numeric type): [B, dim]. */
  public static Operand<TFloat32> sinusoidal(Ops tf, Operand<? extends TNumber> t, int dim) {
    double[] f = frequencies(dim);
    float[] freqs = new float[f.length];
    for (int k = 0; k < f.length; k++) {
      freqs[k] = (float) f[k];
    }
    Operand<TFloat32> tf32 = tf.dtypes.cast(t, TFloat32.class);
    Operand<TFloat32> args =
        tf.math.mul(
            tf.expandDims(tf32, tf.constant(1)), tf.expandDims(tf.constant(freqs), tf.constant(0)));
    return tf.concat(List.of(tf.math.sin(args), tf.math.cos(args)), tf.constant(1));
  }

  /** Sinusoidal features → MLP: [B, dim]. Weights under {@code mlp_0} and {@code mlp_2}. */
  public static Operand<TFloat32> apply(NetScope scope, Operand<? extends TNumber> t, int dim) {
    Ops tf = scope.tf();
    Operand<TFloat32> features = sinusoidal(tf, t, dim);
    Operand<TFloat32> h = Dense.apply(scope.child("mlp_0"), features, dim, dim * MLP_EXPANSION);
    h = Activations.silu(tf, h);
    return Dense.apply(scope.child("mlp_2"), h, dim * MLP_EXPANSION, dim);
  }
}
