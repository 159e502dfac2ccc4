package org.tfdiffusion.train.bench;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.function.BiConsumer;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.BigStack;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.StepProfile;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.VariableParameters;
import org.tfdiffusion.sampling.HostLoop;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Times sampling with a model's real network (random weights: the compute is the same): one forward
 * pass, a step of the compiled {@code While} loop and a step of the host loop, all at the same
 * batch, so that the loop's overhead over the network shows.
 */
public final class SamplingBenchmark {
  private SamplingBenchmark() {}

  /** Median seconds of one forward pass, of one compiled-loop step and of one host-loop step. */
  public record Result(
      int batch,
      int steps,
      double forwardSeconds,
      double compiledStepSeconds,
      double hostStepSeconds) {
    /** How much a compiled-loop step costs over a plain forward pass, e.g. 0.03 for 3%. */
    public double compiledOverhead() {
      return compiledStepSeconds / forwardSeconds - 1;
    }
  }

  /**
   * Measures one sampler.
   *
   * @param repeats timed repetitions of each measurement after a warm-up (medians reported)
   */
  public static Result run(
      UNetConfig config, Sampler sampler, int batch, SessionOptions options, int repeats) {
    return run(config, sampler, batch, options, repeats, Optional.empty());
  }

  /**
   * Measures one sampler, then traces one more forward pass ("forward pass") and one more run of
   * the compiled loop ("compiled loop, N steps") and hands each to {@code profile} with its label.
   */
  public static Result run(
      UNetConfig config,
      Sampler sampler,
      int batch,
      SessionOptions options,
      int repeats,
      Optional<BiConsumer<String, StepProfile>> profile) {
    NoiseSchedule schedule = NoiseSchedule.linear();
    SamplingPlan plan = sampler.plan(schedule, Prediction.EPSILON);
    UNet unet = new UNet(config);
    int s = config.imageSize();
    Shape image = Shape.of(s, s, config.channels());
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters weights = new VariableParameters(tf, 0);
      // the plain forward pass
      Placeholder<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, s, s, config.channels())));
      Placeholder<TInt32> t = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      Operand<TFloat32> eps =
          unet.apply(options.inferenceScope(tf, weights), x, t, Optional.empty());
      SamplingLoop.Model net =
          (f, w, xi, ti, cond) ->
              unet.apply(options.inferenceScope(f, w), xi, ti, Optional.empty());
      // the compiled loop reads the same variables as loop invariants
      Placeholder<TInt64> seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      Map<String, Operand<TFloat32>> vars = Map.copyOf(weights.variables());
      Operand<TFloat32> samples =
          SamplingLoop.compiled(tf, plan, image, net, vars, seeds, List.of(), 0).samples();
      HostLoop host = new HostLoop(tf, plan, image, net, weights, List.of());
      float[] input = new float[batch * s * s * config.channels()];
      Random random = new Random(1);
      for (int i = 0; i < input.length; i++) {
        input[i] = (float) random.nextGaussian();
      }
      int[] times = new int[batch];
      Arrays.fill(times, 500);
      long[] seedValues = new long[batch];
      for (int i = 0; i < batch; i++) {
        seedValues[i] = i;
      }
      try (Session session = new Session(g, options.toConfigProto());
          TFloat32 xs = TensorIO.floats(Shape.of(batch, s, s, config.channels()), input);
          TInt32 ts = TInt32.vectorOf(times);
          TInt64 seedTensor = TensorIO.longs(seedValues)) {
        session.initialize();
        double forward =
            median(
                repeats, () -> session.runner().feed(x, xs).feed(t, ts).fetch(eps).run().close());
        profile.ifPresent(
            p ->
                p.accept(
                    "forward pass",
                    StepProfile.trace(
                        session, session.runner().feed(x, xs).feed(t, ts).fetch(eps))));
        double compiled =
            median(
                    repeats,
                    () ->
                        BigStack.call(
                                () -> session.runner().feed(seeds, seedTensor).fetch(samples).run())
                            .close())
                / plan.steps();
        profile.ifPresent(
            p ->
                p.accept(
                    "compiled loop, " + plan.steps() + " steps",
                    BigStack.call(
                        () ->
                            StepProfile.trace(
                                session,
                                session.runner().feed(seeds, seedTensor).fetch(samples)))));
        double hostStep =
            median(repeats, () -> host.run(session, seedTensor, Map.of(), i -> {}).close())
                / plan.steps();
        return new Result(batch, plan.steps(), forward, compiled, hostStep);
      }
    }
  }

  private static double median(int repeats, Runnable action) {
    action.run(); // warm-up: graph optimisation and compilation happen here
    double[] seconds = new double[repeats];
    for (int i = 0; i < repeats; i++) {
      long start = System.nanoTime();
      action.run();
      seconds[i] = (System.nanoTime() - start) / 1e9;
    }
    Arrays.sort(seconds);
    return repeats % 2 == 1
        ? seconds[repeats / 2]
        : (seconds[repeats / 2 - 1] + seconds[repeats / 2]) / 2;
  }
}
