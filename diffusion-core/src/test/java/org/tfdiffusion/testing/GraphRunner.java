package org.tfdiffusion.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
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

  /**
   * One fetched tensor: its shape and its values widened to double, row-major (exact for float32,
   * float64 and int32; int64 is exact up to 2^53).
   */
  public record Fetched(long[] shape, double[] values) {
    /** The values narrowed back to float (exact for a float32 tensor). */
    public float[] floats() {
      float[] out = new float[values.length];
      for (int i = 0; i < values.length; i++) {
        out[i] = (float) values[i];
      }
      return out;
    }

    /** The values as ints (exact for an int32 tensor). */
    public int[] ints() {
      int[] out = new int[values.length];
      for (int i = 0; i < values.length; i++) {
        out[i] = Math.toIntExact((long) values[i]);
      }
      return out;
    }
  }

  /**
   * Builds several outputs of any of the types float32, float64, int32 or int64, runs the graph
   * once and returns each output's shape and values.
   */
  public static List<Fetched> fetchAll(Function<Ops, List<? extends Operand<?>>> build) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      List<? extends Operand<?>> outputs = build.apply(tf);
      try (Session s = new Session(g)) {
        Session.Runner runner = s.runner();
        outputs.forEach(runner::fetch);
        try (Result r = runner.run()) {
          List<Fetched> values = new ArrayList<>();
          for (int i = 0; i < outputs.size(); i++) {
            values.add(toFetched(r.get(i)));
          }
          return values;
        }
      }
    }
  }

  private static Fetched toFetched(Tensor tensor) {
    long[] shape = tensor.shape().asArray();
    int n = Math.toIntExact(tensor.shape().size());
    double[] values = new double[n];
    if (tensor instanceof TFloat32 f) {
      float[] raw = new float[n];
      f.copyTo(DataBuffers.of(raw, false, false));
      for (int i = 0; i < n; i++) {
        values[i] = raw[i];
      }
    } else if (tensor instanceof TFloat64 d) {
      d.copyTo(DataBuffers.of(values, false, false));
    } else if (tensor instanceof TInt32 ints) {
      int[] raw = new int[n];
      ints.copyTo(DataBuffers.of(raw, false, false));
      for (int i = 0; i < n; i++) {
        values[i] = raw[i];
      }
    } else if (tensor instanceof TInt64 longs) {
      long[] raw = new long[n];
      longs.copyTo(DataBuffers.of(raw, false, false));
      for (int i = 0; i < n; i++) {
        values[i] = raw[i];
      }
    } else {
      throw new IllegalArgumentException("unsupported tensor type " + tensor.dataType());
    }
    return new Fetched(shape, values);
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
