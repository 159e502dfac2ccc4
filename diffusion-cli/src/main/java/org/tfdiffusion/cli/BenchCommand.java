package org.tfdiffusion.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.StepProfile;
import org.tfdiffusion.model.ModelSummary;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.train.ModelOptions;
import org.tfdiffusion.train.TrainConfig;
import org.tfdiffusion.train.TrainPreset;
import org.tfdiffusion.train.TrainStepBenchmark;
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

  @Option(
      names = "--xla",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description = "Compile with XLA JIT (default: on, as train; --no-xla turns it off).")
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
            "tfdiffusion: train step %.3f s (median of %d, batch %d): %.1f img/s, %.1f GFLOP/s,"
                + " peak memory %.0f MiB%n",
            ours, steps, batch, batch / ours, trainGflop / ours, peakMemoryMib());
    if (!noPeer) {
      Optional<Double> theirs = runPeer(config);
      theirs.ifPresent(
          t ->
              out()
                  .printf(
                      "peer (PyTorch): train step %.3f s: %.1f img/s, peak memory %.0f MiB;"
                          + " tfdiffusion / peer time ratio %.2f%n",
                      t, batch / t, peerPeakMib, ours / t));
    }
    return 0;
  }

  private double[] trainStepSeconds(UNet unet) {
    TrainConfig base = TrainPreset.TUTORIAL.config();
    TrainConfig.Training t = base.training();
    TrainConfig config =
        new TrainConfig(
            base.format(),
            unet.config(),
            base.schedule(),
            base.prediction(),
            base.data(),
            base.optimizer(),
            base.ema(),
            new TrainConfig.Training(
                steps, batch, 1, 0, 1, 0, 1, 0, 1, t.sampler(), t.samplerSteps()),
            "bench");
    SessionOptions options =
        SessionOptions.defaults()
            .withXla(xla)
            .withBfloat16(bf16)
            .withNchw(nchw)
            .withThreads(threads[0], threads[1]);
    out().println("session: " + options.describe());
    return TrainStepBenchmark.run(
        config,
        options,
        steps,
        profile
            ? Optional.of(
                (session, runner) ->
                    out().printf("%s", StepProfile.trace(session, runner).format(25)))
            : Optional.empty());
  }

  /** The peak resident memory of this process so far (VmHWM), in MiB; -1 if unknown. */
  static double peakMemoryMib() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }

  private Optional<Double> runPeer(UNetConfig config) throws IOException, InterruptedException {
    if (!Files.isRegularFile(peer)) {
      out().println("peer: " + peer + " not found, skipped");
      return Optional.empty();
    }
    List<String> command = new java.util.ArrayList<>();
    if (Files.isExecutable(Path.of(TIME))) {
      command.addAll(List.of(TIME, "-f", PEAK_MARK + "%M"));
    }
    command.addAll(
        List.of(
            "/usr/bin/python3", peer.toString(),
            "--hidden", String.valueOf(config.baseWidth()),
            "--layers", String.valueOf(config.levels()),
            "--size", String.valueOf(config.imageSize()),
            "--channels", String.valueOf(config.channels()),
            "--batch", String.valueOf(batch),
            "--steps", String.valueOf(steps)));
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
        } else if (line.startsWith(PEAK_MARK)) {
          peerPeakMib = Long.parseLong(line.substring(PEAK_MARK.length()).trim()) / 1024.0;
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

  private static final String TIME = "/usr/bin/time";
  private static final String PEAK_MARK = "PEAK_KB ";
  private double peerPeakMib = -1;

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
