package org.tfdiffusion.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.Session;
import org.tensorflow.framework.optimizers.Adam;
import org.tensorflow.framework.optimizers.Optimizer.GradAndVar;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TType;
import org.tfdiffusion.diffusion.GaussianDiffusion;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.StepProfile;
import org.tfdiffusion.model.ModelSummary;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.VariableParameters;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.train.ModelOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Times one training step (forward, backward, Adam update) of the DDPM loss, next to the PyTorch
 * peer ({@code peer/seed_bench.py}) when Debian's python3-torch is installed.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = {
      "Time one training step (forward + backward + Adam) of the DDPM loss at a given batch,",
      "and the tutorial's PyTorch code (../shared/peer/seed_bench.py) in the same run when",
      "/usr/bin/python3 has torch (Debian: apt-get install python3-torch)."
    })
final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ModelPreset preset;

  @Mixin ModelOptions model;

  @Option(
      names = "--batch",
      defaultValue = "32",
      description = "Training batch (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(
      names = "--steps",
      defaultValue = "5",
      description = "Timed steps after one warm-up (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(
      names = "--peer",
      defaultValue = "../shared/peer/seed_bench.py",
      description =
          "The PyTorch peer's seed_bench.py; skipped when missing (default: ${DEFAULT-VALUE}).")
  Path peer;

  @Option(names = "--no-peer", description = "Do not run the PyTorch peer.")
  boolean noPeer;

  @Option(names = "--xla", description = "Compile with XLA JIT.")
  boolean xla;

  @Option(names = "--bf16", description = "bfloat16 auto mixed precision (oneDNN).")
  boolean bf16;

  @Option(names = "--nchw", description = "Let Grappler convert convolutions to NCHW.")
  boolean nchw;

  @Option(names = "--threads", split = ",", description = "intra,inter op threads (0 = default).")
  int[] threads = {0, 0};

  @Option(
      names = "--profile",
      description = "Trace one more step and print the time per op type (TensorFlow step stats).")
  boolean profile;

  @Override
  public Integer call() throws IOException, InterruptedException {
    UNetConfig config = model.apply(preset.base());
    UNet unet = new UNet(config);
    ModelSummary summary = unet.summary();
    out()
        .printf(
            "model: %s%nparameters: %,d; forward: %.3f GFLOP per image%n",
            summary.description(), summary.totalParameters(), summary.gflopsPerImage());
    double ours = median(trainStepSeconds(unet));
    double trainGflop = 3 * summary.gflopsPerImage() * batch;
    out()
        .printf(
            "tfdiffusion: train step %.3f s (median of %d, batch %d): %.1f img/s, %.1f GFLOP/s%n",
            ours, steps, batch, batch / ours, trainGflop / ours);
    if (!noPeer) {
      Optional<Double> theirs = runPeer(config);
      theirs.ifPresent(
          t ->
              out()
                  .printf(
                      "peer (PyTorch): train step %.3f s: %.1f img/s; tfdiffusion / peer time ratio %.2f%n",
                      t, batch / t, ours / t));
    }
    return 0;
  }

  private double[] trainStepSeconds(UNet unet) {
    UNetConfig config = unet.config();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters weights = new VariableParameters(tf, 0);
      NetScope scope = NetScope.inference(tf, weights);
      GaussianDiffusion diffusion = new GaussianDiffusion(tf, NoiseSchedule.linear());
      Operand<TFloat32> x0 =
          tf.constant(TestImages.batch(batch, config.imageSize(), config.channels()));
      GaussianDiffusion.Loss loss =
          diffusion.trainingLoss(
              (xt, t) -> unet.apply(scope, xt, t, Optional.empty()),
              Prediction.EPSILON,
              x0,
              tf.constant(new long[] {0, 1}));
      List<Variable<TFloat32>> vars = new ArrayList<>(weights.variables().values());
      Gradients grads = tf.gradients(loss.value(), vars);
      List<GradAndVar<? extends TType>> pairs = new ArrayList<>();
      for (int i = 0; i < vars.size(); i++) {
        pairs.add(
            new GradAndVar<>(grads.<TFloat32>dy(i), (Output<TFloat32>) vars.get(i).asOutput()));
      }
      Op train = new Adam(g, 1e-4f).applyGradients(pairs, "adam");
      SessionOptions options =
          SessionOptions.defaults()
              .withXla(xla)
              .withBfloat16(bf16)
              .withNchw(nchw)
              .withThreads(threads[0], threads[1]);
      out().println("session: " + options.describe());
      try (Session session = new Session(g, options.toConfigProto())) {
        double[] seconds = new double[steps];
        for (int i = -1; i < steps; i++) {
          long start = System.nanoTime();
          session.runner().addTarget(train).fetch(loss.value()).run().close();
          if (i >= 0) {
            seconds[i] = (System.nanoTime() - start) / 1e9;
          }
        }
        if (profile) {
          out()
              .printf(
                  "%s",
                  StepProfile.trace(session, session.runner().addTarget(train).fetch(loss.value()))
                      .format(25));
        }
        return seconds;
      }
    }
  }

  private Optional<Double> runPeer(UNetConfig config) throws IOException, InterruptedException {
    if (!Files.isRegularFile(peer)) {
      out().println("peer: " + peer + " not found, skipped");
      return Optional.empty();
    }
    List<String> command =
        List.of(
            "/usr/bin/python3", peer.toString(),
            "--hidden", String.valueOf(config.baseWidth()),
            "--layers", String.valueOf(config.levels()),
            "--size", String.valueOf(config.imageSize()),
            "--channels", String.valueOf(config.channels()),
            "--batch", String.valueOf(batch),
            "--steps", String.valueOf(steps));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().remove("OPENBLAS_CORETYPE");
    pb.environment().remove("OPENBLAS_L2_SIZE");
    Process p = pb.start();
    String json = null;
    StringBuilder all = new StringBuilder();
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        all.append(line).append('\n');
        if (line.startsWith("{")) {
          json = line;
        }
      }
    }
    if (p.waitFor() != 0 || json == null) {
      out()
          .println(
              "peer: not run ("
                  + all.toString().strip().lines().reduce((a, b) -> b).orElse("no output")
                  + ")");
      return Optional.empty();
    }
    out().println("peer: " + json);
    String key = "\"train_step_s\": ";
    int at = json.indexOf(key);
    int end = json.indexOf(',', at);
    return Optional.of(Double.parseDouble(json.substring(at + key.length(), end).trim()));
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  private java.io.PrintWriter out() {
    return spec.commandLine().getOut();
  }
}
