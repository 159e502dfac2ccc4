package org.tfdiffusion.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.schedule.NoiseSchedule;

class BigStackTest {

  /**
   * A 1000-step compiled loop run from a thread with only 256 KB of stack, through BigStack: a loop
   * that TensorFlow runs as nested calls (about 9 KB of stack each, an unlowered loop's) would kill
   * the JVM there without it.
   */
  @Test
  void aThousandStepLoopRunsFromASmallStackThread() throws Exception {
    assertFinite(onSmallStack(true));
  }

  /**
   * The sampling loop is lowered into the graph's own frames, whose executor runs iterations one
   * after the other rather than nested: 1000 steps run on the 256 KB thread itself.
   */
  @Test
  void aLoweredLoopDoesNotNestOnTheCallersStack() throws Exception {
    assertFinite(onSmallStack(false));
  }

  private static float[] onSmallStack(boolean viaBigStack) throws InterruptedException {
    SamplingPlan plan = DdimSampler.of(1000, 0).plan(NoiseSchedule.linear(), Prediction.EPSILON);
    AtomicReference<float[]> out = new AtomicReference<>();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread small =
        new Thread(
            null,
            () -> {
              try (Graph g = new Graph()) {
                Ops tf = Ops.create(g);
                Operand<TFloat32> samples =
                    SamplingLoop.compiled(
                            tf,
                            plan,
                            Shape.of(2, 2, 1),
                            (f, w, x, t, c) -> f.math.mul(x, f.constant(0.5f)),
                            Map.of(),
                            tf.constant(new long[] {1, 2}),
                            List.of(),
                            0)
                        .samples();
                try (Session s = new Session(g);
                    Result r =
                        viaBigStack
                            ? BigStack.call(() -> s.runner().fetch(samples).run())
                            : s.runner().fetch(samples).run()) {
                  out.set(TensorIO.toFloats(r.get(0)));
                }
              } catch (Throwable t) {
                failure.set(t);
              }
            },
            "small-stack",
            256 * 1024);
    small.start();
    small.join();
    assertThat(failure.get()).isNull();
    return out.get();
  }

  private static void assertFinite(float[] samples) {
    assertThat(samples).hasSize(8);
    for (float v : samples) {
      assertThat(v).isFinite();
    }
  }

  @Test
  void exceptionsReachTheCaller() {
    assertThatThrownBy(
            () ->
                BigStack.call(
                    () -> {
                      throw new IllegalArgumentException("from the loop thread");
                    }))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("from the loop thread");
  }
}
