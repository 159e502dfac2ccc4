package org.tfdiffusion.testing;

import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.sampling.RowNoise;

/** The graph's own per-row noise ({@link RowNoise}) for given seeds and counters, as arrays. */
public final class RowNoiseValues {
  private RowNoiseValues() {}

  /**
   * Row noise for {@code counters[j]} in entry j, each [B, H, W, C] row-major.
   *
   * @param imageShape [H, W, C]
   */
  public static float[][] draw(long[] seeds, Shape imageShape, long... counters) {
    float[][] out = new float[counters.length][];
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> counter = tf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
      Operand<TFloat32> z = RowNoise.normal(tf, tf.constant(seeds), counter, imageShape);
      try (Session s = new Session(g)) {
        for (int j = 0; j < counters.length; j++) {
          try (TInt64 value = TInt64.scalarOf(counters[j]);
              Result r = s.runner().feed(counter, value).fetch(z).run()) {
            out[j] = TensorIO.toFloats(r.get(0));
          }
        }
      }
    }
    return out;
  }

  /** Counters {@code base + 0 .. base + count - 1}. */
  public static long[] counters(long base, int count) {
    long[] out = new long[count];
    for (int j = 0; j < count; j++) {
      out[j] = base + j;
    }
    return out;
  }
}
