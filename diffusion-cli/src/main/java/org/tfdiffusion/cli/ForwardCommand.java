package org.tfdiffusion.cli;

import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.diffusion.GaussianDiffusion;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.VariableParameters;
import org.tfdiffusion.schedule.NoiseSchedule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A smoke test of the graph: build a model, print its summary and run one forward pass of the DDPM
 * loss on a batch of real tensors.
 */
@Command(
    name = "forward",
    mixinStandardHelpOptions = true,
    description = {
      "Print a U-Net's summary and run one forward pass of the DDPM loss.",
      "Build the tutorial's U-Net, print its summary and run one forward pass of the "
          + "DDPM loss: x_t = q_sample(x_0, t, eps) for a batch of test images, "
          + "eps_theta(x_t, t), MSE vs eps.",
    })
final class ForwardCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ModelPreset preset;

  @Mixin ModelOptions model;

  @Option(
      names = "--batch",
      defaultValue = "4",
      description = "Images in the batch (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(
      names = "--seed",
      defaultValue = "0",
      description = "Seed of the weights, t and noise (default: ${DEFAULT-VALUE}).")
  long seed;

  @Override
  public Integer call() {
    UNetConfig config = model.apply(preset.base());
    UNet unet = new UNet(config);
    out().printf("%s", unet.summary().format());
    NoiseSchedule schedule = NoiseSchedule.linear();
    out().println(schedule);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters weights = new VariableParameters(tf, seed);
      NetScope scope = NetScope.inference(tf, weights);
      GaussianDiffusion diffusion = new GaussianDiffusion(tf, schedule);
      Operand<TFloat32> x0 =
          tf.constant(TestImages.batch(batch, config.imageSize(), config.channels()));
      Optional<Operand<TInt32>> labels =
          config.conditional()
              ? Optional.of(tf.zeros(tf.constant(new int[] {batch}), TInt32.class))
              : Optional.empty();
      GaussianDiffusion.Loss loss =
          diffusion.trainingLoss(
              (xt, t) -> unet.apply(scope, xt, t, labels),
              Prediction.EPSILON,
              x0,
              tf.constant(new long[] {seed, 1L}));
      try (Session session = new Session(g)) {
        long start = System.nanoTime();
        try (Result r =
            session.runner().fetch(loss.value()).fetch(loss.t()).fetch(loss.output()).run()) {
          double ms = (System.nanoTime() - start) / 1e6;
          float mse = TensorIO.toFloats(r.get(0))[0];
          int[] t = TensorIO.toInts(r.get(1));
          float[] eps = TensorIO.toFloats(r.get(2));
          Shape shape = r.get(2).shape();
          out()
              .printf(
                  "forward pass: x_0 %s at t = %s -> eps_theta %s in %.0f ms (first run, includes"
                      + " graph setup)%n",
                  Shape.of(batch, config.imageSize(), config.imageSize(), config.channels()),
                  Arrays.toString(t),
                  shape,
                  ms);
          out()
              .printf(
                  "eps_theta: mean %.4f, std %.4f; MSE vs the true noise %.4f (untrained weights)%n",
                  mean(eps), std(eps), mse);
          if (!Float.isFinite(mse)) {
            spec.commandLine()
                .getErr()
                .println("error: the forward pass produced a non-finite loss");
            return 1;
          }
        }
      }
    }
    return 0;
  }

  private static double mean(float[] v) {
    double s = 0;
    for (float x : v) {
      s += x;
    }
    return s / v.length;
  }

  private static double std(float[] v) {
    double m = mean(v);
    double s = 0;
    for (float x : v) {
      s += (x - m) * (x - m);
    }
    return Math.sqrt(s / v.length);
  }

  private java.io.PrintWriter out() {
    return spec.commandLine().getOut();
  }
}
