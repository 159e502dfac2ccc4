package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.testing.NativeOps;

class TrainingGraphTest {
  @TempDir Path temp;

  private static TrainConfig withAccumulation(int accumulation) {
    TrainConfig c = TrainerTest.tiny(4, 0, 1e-3);
    return c.withTraining(c.training().toBuilder().batch(8, accumulation).build());
  }

  /**
   * Accumulating the same micro-batch twice and applying must equal one plain step on it: the
   * accumulator averages (sum / k), it does not sum.
   */
  @Test
  void accumulationAveragesMicroBatchGradients() {
    float[] images = new float[4 * 28 * 28];
    Random random = new Random(3);
    for (int i = 0; i < images.length; i++) {
      images[i] = random.nextFloat() * 2 - 1;
    }
    float[] plain = stepOnce(withAccumulation(1), images, 1, temp.resolve("a"));
    float[] accumulated = stepOnce(withAccumulation(2), images, 2, temp.resolve("b"));
    assertThat(accumulated).hasSameSizeAs(plain);
    for (int i = 0; i < plain.length; i++) {
      assertThat(accumulated[i]).isCloseTo(plain[i], within(1e-6f + 1e-5f * Math.abs(plain[i])));
    }
  }

  /**
   * The step with oneDNN's convolutions ({@code train --conv onednn}) is the step with
   * TensorFlow's: the same loss and gradient norm at each of three steps (float32 rounding apart:
   * the kernels sum in other orders, and AdamW's first steps move each weight by about ±lr whatever
   * its gradient's size), and the graph holds the native ops, forward and backward, in place of
   * {@code Conv2D}.
   */
  @Test
  void nativeConvolutionsTrainAsTensorFlowsDo() {
    NativeOps.assumeNativeConv();
    TrainConfig config = withAccumulation(1);
    float[] images = new float[4 * 28 * 28];
    Random random = new Random(5);
    for (int i = 0; i < images.length; i++) {
      images[i] = random.nextFloat() * 2 - 1;
    }
    float[][] standard = lossAndNorm(config, images, false);
    float[][] onednn = lossAndNorm(config, images, true);
    for (int step = 0; step < 3; step++) {
      assertThat(onednn[0][step])
          .as("loss at step %d", step + 1)
          .isCloseTo(standard[0][step], within(1e-4f * Math.abs(standard[0][step])));
      assertThat(onednn[1][step])
          .as("gradient norm at step %d", step + 1)
          .isCloseTo(standard[1][step], within(1e-3f * Math.abs(standard[1][step])));
    }
    assertThat(standard[0][2]).isNotEqualTo(standard[0][0]); // the steps moved the weights
  }

  /** Loss and gradient norm of three steps on the same batch, with or without native kernels. */
  private float[][] lossAndNorm(TrainConfig config, float[] images, boolean nativeConvolutions) {
    float[][] out = new float[2][3];
    try (TrainingGraph g =
            new TrainingGraph(
                config, TrainingGraph.Options.stepOnly().nativeConvolutions(nativeConvolutions));
        Session s = new Session(g.graph);
        TFloat32 x = TensorIO.floats(Shape.of(4, 28, 28, 1), images);
        TFloat32 lr = TFloat32.scalarOf(1e-3f)) {
      List<String> types = new ArrayList<>();
      g.graph.operations().forEachRemaining(op -> types.add(op.type()));
      if (nativeConvolutions) {
        assertThat(types).contains("TfdConv2D", "TfdConv2DBackprop").doesNotContain("Conv2D");
      } else {
        assertThat(types).contains("Conv2D").doesNotContain("TfdConv2D");
      }
      s.initialize();
      for (int step = 0; step < 3; step++) {
        try (TInt64 seed = TInt64.vectorOf(1, step);
            Result r =
                s.runner()
                    .feed(g.images, x)
                    .feed(g.seed, seed)
                    .feed(g.learningRate, lr)
                    .addTarget(g.update)
                    .fetch(g.loss)
                    .fetch(g.gradientNorm)
                    .run()) {
          out[0][step] = ((TFloat32) r.get(0)).getFloat();
          out[1][step] = ((TFloat32) r.get(1)).getFloat();
        }
      }
    }
    return out;
  }

  /** Every variable a checkpoint must hold, by name: weights, EMA, m, v and the step. */
  private static java.util.Map<String, float[]> state(TrainingGraph g, Session s) {
    java.util.Map<String, org.tensorflow.Operand<TFloat32>> all = new java.util.LinkedHashMap<>();
    g.weights.variables().forEach(all::put);
    g.ema.shadows().forEach((k, v) -> all.put("ema/" + k, v));
    g.adamw.firstMoments().forEach((k, v) -> all.put("m/" + k, v));
    g.adamw.secondMoments().forEach((k, v) -> all.put("v/" + k, v));
    java.util.Map<String, float[]> out = new java.util.LinkedHashMap<>();
    Session.Runner runner = s.runner();
    all.values().forEach(runner::fetch);
    runner.fetch(g.step);
    try (Result r = runner.run()) {
      int i = 0;
      for (String k : all.keySet()) {
        out.put(k, TensorIO.toFloats(r.get(i++)));
      }
      out.put("global_step", new float[] {((TInt64) r.get(i)).getLong()});
    }
    return out;
  }

  @Test
  void saveThenRestoreGivesIdenticalWeightsAndOptimizerState() {
    TrainConfig config = withAccumulation(1);
    float[] images = new float[4 * 28 * 28];
    java.util.Arrays.fill(images, 0.25f);
    Checkpoints checkpoints = new Checkpoints(temp.resolve("ckpt"), RunDirectory.json());
    java.util.Map<String, float[]> before;
    Checkpoints.Checkpoint saved;
    try (TrainingGraph g =
            new TrainingGraph(config, TrainingGraph.Options.withTensorBoard(temp.resolve("tb1")));
        Session s = new Session(g.graph);
        TFloat32 x = TensorIO.floats(Shape.of(4, 28, 28, 1), images);
        TFloat32 lr = TFloat32.scalarOf(1e-3f)) {
      s.initialize();
      for (int step = 1; step <= 2; step++) {
        try (TInt64 seed = TInt64.vectorOf(1, step)) {
          s.runner()
              .feed(g.images, x)
              .feed(g.seed, seed)
              .feed(g.learningRate, lr)
              .addTarget(g.update)
              .run()
              .close();
        }
      }
      before = state(g, s);
      saved =
          checkpoints.save(s, new Checkpoints.State(2, 0, 8, 1, 0.5, 2000, "test"), 3, () -> {});
    }
    assertThat(before.get("global_step")).containsExactly(2f);
    try (TrainingGraph g =
            new TrainingGraph(config, TrainingGraph.Options.withTensorBoard(temp.resolve("tb2")));
        Session s = new Session(g.graph)) {
      Checkpoints.restore(s, saved);
      java.util.Map<String, float[]> after = state(g, s);
      assertThat(after.keySet()).isEqualTo(before.keySet());
      before.forEach((k, v) -> assertThat(after.get(k)).as(k).containsExactly(v));
    }
    assertThat(checkpoints.latest()).map(c -> c.state().cursor()).contains(8);
  }

  /** One optimizer step feeding the same micro-batch {@code micro} times; the output conv after. */
  private static float[] stepOnce(TrainConfig config, float[] images, int micro, Path tb) {
    try (TrainingGraph g = new TrainingGraph(config, TrainingGraph.Options.withTensorBoard(tb));
        Session s = new Session(g.graph);
        TFloat32 x = TensorIO.floats(Shape.of(4, 28, 28, 1), images);
        TInt64 seed = TInt64.vectorOf(9, 9);
        TFloat32 lr = TFloat32.scalarOf(1e-3f)) {
      s.initialize();
      for (int k = 0; k < micro; k++) {
        Session.Runner r = s.runner().feed(g.images, x).feed(g.seed, seed);
        if (g.accumulate.isPresent()) {
          r.addTarget(g.accumulate.get()).run().close();
        } else {
          r.feed(g.learningRate, lr).addTarget(g.update).run().close();
        }
      }
      if (g.accumulate.isPresent()) {
        s.runner().feed(g.learningRate, lr).addTarget(g.update).run().close();
      }
      try (Result r = s.runner().fetch(g.weights.variables().get("output_conv.weight")).run()) {
        return TensorIO.toFloats(r.get(0));
      }
    }
  }
}
