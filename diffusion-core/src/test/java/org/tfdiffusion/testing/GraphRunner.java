package org.tfdiffusion.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.TensorIO;

/** Test helper: builds a small graph, runs it once and returns the fetched values as arrays. */
public final class GraphRunner {
  private GraphRunner() {}

  /** Builds one float32 output with {@code build} and returns its values, row-major. */
  public static float[] eval(Function<Ops, Operand<TFloat32>> build) {
    return evalAll(tf -> List.of(build.apply(tf))).get(0);
  }

  /** Builds several float32 outputs and returns each one's values, row-major. */
  public static List<float[]> evalAll(Function<Ops, List<Operand<TFloat32>>> build) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      List<Operand<TFloat32>> outputs = build.apply(tf);
      try (Session s = new Session(g)) {
        Session.Runner runner = s.runner();
        outputs.forEach(runner::fetch);
        try (Result r = runner.run()) {
          List<float[]> values = new ArrayList<>();
          for (int i = 0; i < outputs.size(); i++) {
            values.add(TensorIO.toFloats(r.get(i)));
          }
          return values;
        }
      }
    }
  }

  /** Row-major float array of a seeded standard normal sample (plain Java, no graph). */
  public static float[] gaussian(long seed, int n) {
    java.util.Random random = new java.util.Random(seed);
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) random.nextGaussian();
    }
    return out;
  }
}
