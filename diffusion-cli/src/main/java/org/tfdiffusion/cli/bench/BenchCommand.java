package org.tfdiffusion.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.tfdiffusion.cli.Main;
import org.tfdiffusion.cli.ModelOptions;
import org.tfdiffusion.cli.ModelPreset;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.StepProfile;
import org.tfdiffusion.model.ModelSummary;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.ConvKernels;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.train.TrainPreset;
import org.tfdiffusion.train.bench.ChildJvm;
import org.tfdiffusion.train.bench.KernelBenchmark;
import org.tfdiffusion.train.bench.SamplingBenchmark;
import org.tfdiffusion.train.bench.TrainStepBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Measures the training step (forward, backward, clipping, AdamW, EMA) of the tutorial's model and
 * of the small model, each in its own JVM so that peak memory is its own, next to the tutorial's
 * PyTorch code ({@code peer/seed_bench.py}) run in the same command by one or more Pythons with
 * torch installed, each labelled by its torch version, and prints the peers' times over ours.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Time training and sampling steps, with peak memory, optionally next to PyTorch.",
      "The training step of the tutorial's model (32x32x3, hidden 128, 4 levels) and the small"
          + " one (32x32x1, 64, 3) at batch 32, each in its own JVM, with its resident memory"
          + " (graph and session built, initialised, peak); with --peer FILE, next to the"
          + " tutorial's PyTorch code (its seed_bench.py) run by each --peer-python, as ratios"
          + " of the peer's time to ours (above 1: tfdiffusion is faster).",
      "Several PyTorch installations in one run: --peer-python takes a list (--peer"
          + " seed_bench.py --peer-python /usr/bin/python3,venv/bin/python).",
    })
public final class BenchCommand implements Callable<Integer> {
  private static final String RESULT_MARK = "BENCH_RESULT ";
  private static final String TIME = "/usr/bin/time";
  private static final String PEAK_MARK = "PEAK_KB ";

  /** How {@code /usr/bin/time} reports a failed command, before its own figures. */
  private static final String TIME_EXIT = "Command exited with non-zero status";

  private static final String TORCH_VERSION = "import torch;print(torch.__version__)";
  private static final String FASTER = "above 1 = tfdiffusion faster";

  @Spec CommandSpec spec;

  @Option(
      names = "--configs",
      split = ",",
      defaultValue = "tutorial,small",
      description = "Models to measure: tutorial, small (default: ${DEFAULT-VALUE}).",
      converter = ModelPreset.Converter.class)
  List<ModelPreset.Name> configs;

  @Mixin ModelOptions model;

  @Mixin TrainBenchOptions timing;

  @Option(
      names = "--peer",
      paramLabel = "FILE",
      description =
          "The PyTorch peer: the tutorial's seed_bench.py, run next to each model (default:"
              + " none, no peer).")
  Path peer;

  @Option(
      names = "--peer-python",
      paramLabel = "PYTHON",
      split = ",",
      defaultValue = "python3",
      description =
          "The Pythons that run --peer, comma-separated, each with torch installed: each runs the"
              + " peer for each model and is labelled by its torch version; one without torch is"
              + " skipped with a line saying so (Debian: apt-get install python3-torch; or pip"
              + " install torch) (default: ${DEFAULT-VALUE}).")
  List<String> peerPythons;

  @Option(
      names = "--ema-decay",
      description =
          "EMA decay of the timed training step (default: the training default's); 0 keeps no EMA"
              + " copy of the weights, the work of the peer's step.")
  Double emaDecay;

  @Option(names = "--no-peer", description = "Do not run the PyTorch peer.")
  boolean noPeer;

  @Option(
      names = "--bf16",
      description =
          "bfloat16 auto mixed precision (oneDNN); turns XLA off unless --xla is given too.")
  boolean bf16;

  @Option(names = "--nchw", description = "Let Grappler convert convolutions to NCHW.")
  boolean nchw;

  @Option(
      names = "--conv",
      paramLabel = "KERNELS",
      defaultValue = "auto",
      description =
          "Convolution kernels of the training step, as train's --conv: auto, onednn or"
              + " tensorflow (default: ${DEFAULT-VALUE}).")
  String conv;

  @Option(names = "--threads", split = ",", description = "intra,inter op threads (0 = default).")
  int[] threads = {0, 0};

  @Option(names = "--profile", description = "Trace one more step and print where the time goes.")
  boolean profile;

  @Option(
      names = "--sample-batch",
      defaultValue = "16",
      description = "Images per sampling batch (default: ${DEFAULT-VALUE}).")
  int sampleBatch;

  @Option(
      names = "--sample-steps",
      defaultValue = "10",
      description = "Loop length for the per-step sampling times (default: ${DEFAULT-VALUE}).")
  int sampleSteps;

  @Option(
      names = "--sample-xla",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "Compile the sampling graphs with XLA JIT, as sample does (default: on;"
              + " --no-sample-xla turns it off).")
  boolean sampleXla;

  @Option(
      names = "--sample-bf16",
      description =
          "bfloat16 for the sampling graphs (default: off): oneDNN's bfloat16 convolutions with"
              + " --sample-conv auto/onednn, else oneDNN's auto mixed precision (which turns their"
              + " XLA off unless --sample-xla is given too).")
  boolean sampleBf16;

  @Option(
      names = "--sample-conv",
      paramLabel = "KERNELS",
      defaultValue = "auto",
      description =
          "Convolution kernels of the sampling graphs, as sample's --conv: auto, onednn or"
              + " tensorflow (default: ${DEFAULT-VALUE}); with --sample-bf16, oneDNN's bfloat16"
              + " kernels.")
  String sampleConv;

  @Option(names = "--no-sampling", description = "Measure the training step only.")
  boolean noSampling;

  @Option(
      names = "--kernels",
      description =
          "Only time single kernels (3x3 convolution in float32 and bfloat16, its input and"
              + " filter gradients, the matrix product of the same FLOPs) at the U-Net's shapes, in"
              + " this session's runtime (oneDNN; --xla for XLA's; TF_ENABLE_ONEDNN_OPTS=0 for"
              + " Eigen's).")
  boolean kernels;

  @Option(names = "--in-process", hidden = true, description = "Measure here, not in a child JVM.")
  boolean inProcess;

  /** One measured configuration, with each peer's figures for it (none without a peer). */
  record Result(
      String config,
      String model,
      long parameters,
      double gflopPerImage,
      int batch,
      String session,
      double trainStepSeconds,
      double imagesPerSecond,
      double gflopPerSecond,
      double peakMemoryMib,
      double residentAfterSetupMib,
      double residentAfterInitMib,
      Double forwardSeconds,
      Double compiledStepSeconds,
      Double hostStepSeconds,
      List<PeerResult> peers) {

    /** This result with the peers' figures for the same model, their ratios to ours set. */
    Result withPeers(List<PeerResult> measured) {
      List<PeerResult> against = new ArrayList<>();
      for (PeerResult p : measured) {
        against.add(p.against(trainStepSeconds, compiledStepSeconds));
      }
      return new Result(
          config,
          model,
          parameters,
          gflopPerImage,
          batch,
          session,
          trainStepSeconds,
          imagesPerSecond,
          gflopPerSecond,
          peakMemoryMib,
          residentAfterSetupMib,
          residentAfterInitMib,
          forwardSeconds,
          compiledStepSeconds,
          hostStepSeconds,
          List.copyOf(against));
    }
  }

  /** A Python that runs the peer, labelled by its torch version ("PyTorch 2.5.1+cpu"). */
  record Peer(String python, String label) {}

  /**
   * One peer's figures for one model: its median training step, its peak memory (null if unknown)
   * and its median sampling step, and the ratios of its times to ours, the training step's and the
   * compiled sampling loop's (above 1: tfdiffusion is faster; null until compared).
   */
  record PeerResult(
      String label,
      String python,
      double trainStepSeconds,
      Double peakMemoryMib,
      double sampleStepSeconds,
      Double trainRatio,
      Double sampleRatio) {

    PeerResult against(double ourTrainStep, Double ourSampleStep) {
      return new PeerResult(
          label,
          python,
          trainStepSeconds,
          peakMemoryMib,
          sampleStepSeconds,
          trainStepSeconds / ourTrainStep,
          ourSampleStep == null ? null : sampleStepSeconds / ourSampleStep);
    }
  }

  @Override
  public Integer call() throws IOException, InterruptedException {
    ObjectMapper mapper = new ObjectMapper();
    if (kernels) {
      // oneDNN's kernels unless --xla is given explicitly (its default, on, is the training step's)
      boolean xla = timing.xla && explicit("--xla");
      SessionOptions options = SessionOptions.defaults().withXla(xla);
      out().printf("Kernels (%s), median of %d runs:%n", options.describe(), timing.steps);
      out().flush();
      List<KernelBenchmark.Row> rows = KernelBenchmark.run(options, timing.steps);
      out().print(KernelBenchmark.markdown(rows));
      if (timing.json != null) {
        mapper.writerWithDefaultPrettyPrinter().writeValue(timing.json.toFile(), rows);
        out().println("wrote " + timing.json);
      }
      out().flush();
      return 0;
    }
    if (inProcess && configs.size() != 1) {
      throw new picocli.CommandLine.ParameterException(
          spec.commandLine(),
          "--in-process measures one config, got --configs "
              + configs
              + ": its peak memory would be that of all of them");
    }
    List<Peer> peers = inProcess ? List.of() : peers();
    List<Result> results = new ArrayList<>();
    for (ModelPreset.Name name : configs) {
      UNetConfig config = model.apply(name.config());
      Result ours =
          inProcess || configs.size() == 1 && profile
              ? measure(name, config)
              : inChild(name, mapper);
      if (inProcess) {
        out().println(RESULT_MARK + mapper.writeValueAsString(ours));
        continue;
      }
      out()
          .printf(
              "%-8s tfdiffusion: %.3f s per step, %.1f img/s, %.0f GFLOP/s, peak %.0f MiB (%s)%n"
                  + "%-8s resident memory: %.0f MiB with graph and session, %.0f MiB"
                  + " initialised%n",
              name.name().toLowerCase(java.util.Locale.ROOT),
              ours.trainStepSeconds(),
              ours.imagesPerSecond(),
              ours.gflopPerSecond(),
              ours.peakMemoryMib(),
              ours.session(),
              "",
              ours.residentAfterSetupMib(),
              ours.residentAfterInitMib());
      out().flush();
      List<PeerResult> theirs = new ArrayList<>();
      for (Peer p : peers) {
        runPeer(p, peer, peerArgs(config), out()).ifPresent(theirs::add);
      }
      Result full = ours.withPeers(theirs);
      for (PeerResult p : full.peers()) {
        out().print(peerLine(p, timing.batch));
      }
      out().flush();
      results.add(full);
    }
    if (inProcess) {
      return 0;
    }
    out().printf("%nTraining step, batch %d:%n%s", timing.batch, markdown(results));
    if (!noSampling) {
      out()
          .printf(
              "%nSampling, batch %d (per denoising step):%n%s",
              sampleBatch, samplingMarkdown(results));
    }
    if (timing.json != null) {
      Files.writeString(timing.json, json(results));
      out().println("wrote " + timing.json);
    }
    return 0;
  }

  /** The peers of this run: none without --peer or with --no-peer, else each usable Python's. */
  private List<Peer> peers() throws IOException, InterruptedException {
    if (noPeer || peer == null) {
      return List.of();
    }
    if (!Files.isRegularFile(peer)) {
      out().println("peer: " + peer + " not found, skipped");
      return List.of();
    }
    List<Peer> found = peers(peerPythons, out());
    out().flush();
    return found;
  }

  private Result measure(ModelPreset.Name name, UNetConfig config) {
    ModelSummary summary = new UNet(config).summary();
    TrainConfig base = TrainPreset.TUTORIAL.config();
    TrainConfig train = TrainStepBenchmark.config(base, config, timing.steps, timing.batch);
    if (emaDecay != null) {
      train = train.withEma(new TrainConfig.Ema(emaDecay, base.ema().warmup()));
    }
    SessionOptions options =
        SessionOptions.defaults()
            .withFlags(timing.xla, explicit("--xla"), bf16)
            .withNchw(nchw)
            .withThreads(threads[0], threads[1])
            .withNativeConvolutions(ConvKernels.parse(conv).resolve(false, bf16));
    TrainStepBenchmark.Timing measured =
        TrainStepBenchmark.run(
            train,
            options,
            timing.steps,
            profile
                ? Optional.of(
                    (session, runner) ->
                        out().printf("%s", StepProfile.trace(session, runner).format(25)))
                : Optional.empty());
    double median = median(measured.seconds());
    double peak = TrainStepBenchmark.residentMib("VmHWM");
    SamplingBenchmark.Result sampling =
        noSampling
            ? null
            : SamplingBenchmark.run(
                config,
                DdimSampler.of(sampleSteps, 0),
                sampleBatch,
                SessionOptions.sampling()
                    .withFlags(sampleXla, explicit("--sample-xla"), sampleBf16)
                    .withNativeConvolutions(ConvKernels.parse(sampleConv).resolve(false, false)),
                3,
                profile
                    ? Optional.of(
                        (what, trace) -> {
                          out().printf("%nsampling, %s, batch %d:%n", what, sampleBatch);
                          out().printf("%s", trace.format(25));
                        })
                    : Optional.empty());
    return new Result(
        name.name().toLowerCase(java.util.Locale.ROOT),
        summary.description(),
        summary.totalParameters(),
        summary.gflopsPerImage(),
        timing.batch,
        options.describe() + (train.ema().keepsShadows() ? "" : ", no EMA copy"),
        median,
        timing.batch / median,
        3 * summary.gflopsPerImage() * timing.batch / median,
        peak,
        measured.residentAfterSetupMib(),
        measured.residentAfterInitMib(),
        sampling == null ? null : sampling.forwardSeconds(),
        sampling == null ? null : sampling.compiledStepSeconds(),
        sampling == null ? null : sampling.hostStepSeconds(),
        List.of());
  }

  private boolean explicit(String option) {
    return spec.commandLine().getParseResult().hasMatchedOption(option);
  }

  /**
   * The arguments of the child that measures one config: the user's, less their {@code --configs}
   * (the child would otherwise measure each of those too, in one JVM, and report the last, its peak
   * memory that of all of them), plus {@code --in-process --configs config}.
   */
  public static List<String> childArgs(List<String> original, String config) {
    List<String> args = new ArrayList<>();
    for (int i = 0; i < original.size(); i++) {
      String arg = original.get(i);
      if (arg.equals("--configs")) {
        i++; // and its value
      } else if (!arg.startsWith("--configs=")) {
        args.add(arg);
      }
    }
    args.addAll(List.of("--in-process", "--configs", config));
    return args;
  }

  /** Runs this command for one config in a fresh JVM, so that its peak memory is its own. */
  private Result inChild(ModelPreset.Name name, ObjectMapper mapper)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(ChildJvm.command(Main.class));
    command.addAll(
        childArgs(
            spec.commandLine().getParseResult().originalArgs(),
            name.name().toLowerCase(java.util.Locale.ROOT)));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    Result result = null;
    StringBuilder all = new StringBuilder();
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        if (line.startsWith(RESULT_MARK)) {
          result = mapper.readValue(line.substring(RESULT_MARK.length()), Result.class);
        } else if (!line.startsWith("WARNING: All log") && !line.startsWith("I0000")) {
          all.append(line).append('\n');
          if (profile) {
            out().println(line);
          }
        }
      }
    }
    if (p.waitFor() != 0 || result == null) {
      throw new IllegalStateException("the benchmark of " + name + " failed:\n" + all);
    }
    return result;
  }

  /**
   * The peer's environment, from this process's: as {@code seed_bench.py}'s instructions say (the
   * system BLAS switched to OpenBLAS, its two settings unset), and without the launcher's malloc
   * settings, since a user of the tutorial would run it without them.
   */
  public static void peerEnvironment(java.util.Map<String, String> env) {
    env.remove("OPENBLAS_CORETYPE");
    env.remove("OPENBLAS_L2_SIZE");
    env.remove("GLIBC_TUNABLES");
  }

  /**
   * The Pythons that can run the peer, each labelled by the torch version it reports; for each that
   * cannot (no such program, or no torch in it), one line saying so and how to install torch. Two
   * Pythons with the same version get their path in the label too.
   */
  static List<Peer> peers(List<String> pythons, PrintWriter out)
      throws IOException, InterruptedException {
    List<Peer> found = new ArrayList<>();
    for (String python : pythons) {
      List<String> lines = new ArrayList<>();
      int exit;
      try {
        ProcessBuilder pb =
            new ProcessBuilder(python, "-c", TORCH_VERSION).redirectErrorStream(true);
        peerEnvironment(pb.environment());
        Process p = pb.start();
        try (BufferedReader r =
            new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
          for (String line; (line = r.readLine()) != null; ) {
            if (!line.isBlank()) {
              lines.add(line.trim());
            }
          }
        }
        exit = p.waitFor();
      } catch (IOException e) {
        lines.add(e.getMessage());
        exit = -1;
      }
      String last = lines.isEmpty() ? "no output" : lines.get(lines.size() - 1);
      if (exit == 0 && !lines.isEmpty()) {
        found.add(new Peer(python, "PyTorch " + last));
      } else {
        out.printf(
            "peer %s: skipped, cannot import torch (%s); install it: apt-get install"
                + " python3-torch (Debian) or pip install torch%n",
            python, last);
      }
    }
    List<Peer> labelled = new ArrayList<>();
    for (Peer p : found) {
      boolean shared = found.stream().filter(q -> q.label().equals(p.label())).count() > 1;
      labelled.add(shared ? new Peer(p.python(), p.label() + " (" + p.python() + ")") : p);
    }
    return labelled;
  }

  /** The peer's arguments for one model: its shape, the training and sampling batches and steps. */
  private List<String> peerArgs(UNetConfig config) {
    return List.of(
        "--hidden",
        String.valueOf(config.baseWidth()),
        "--layers",
        String.valueOf(config.levels()),
        "--size",
        String.valueOf(config.imageSize()),
        "--channels",
        String.valueOf(config.channels()),
        "--batch",
        String.valueOf(timing.batch),
        "--steps",
        String.valueOf(timing.steps),
        "--sample-batch",
        String.valueOf(sampleBatch),
        "--sample-steps",
        String.valueOf(Math.max(5, sampleSteps)));
  }

  /**
   * Runs the peer {@code file} with {@code peer}'s Python: its median training and sampling step
   * from the JSON line it prints, its peak memory from {@code /usr/bin/time} when there is one;
   * empty, with a line saying why, if it fails.
   */
  static Optional<PeerResult> runPeer(Peer peer, Path file, List<String> args, PrintWriter out)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    if (Files.isExecutable(Path.of(TIME))) {
      command.addAll(List.of(TIME, "-f", PEAK_MARK + "%M"));
    }
    command.add(peer.python());
    command.add(file.toString());
    command.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    peerEnvironment(pb.environment());
    Process p = pb.start();
    JsonNode json = null;
    Double peak = null;
    String last = "no output";
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        if (line.startsWith("{")) {
          json = new ObjectMapper().readTree(line);
        } else if (line.startsWith(PEAK_MARK)) {
          peak = Long.parseLong(line.substring(PEAK_MARK.length()).trim()) / 1024.0;
        } else if (!line.isBlank() && !line.startsWith(TIME_EXIT)) {
          last = line;
        }
      }
    }
    if (p.waitFor() != 0
        || json == null
        || !json.has("train_step_s")
        || !json.has("sample_step_s")) {
      out.printf("peer %s (%s): not run (%s)%n", peer.label(), peer.python(), last);
      return Optional.empty();
    }
    return Optional.of(
        new PeerResult(
            peer.label(),
            peer.python(),
            json.get("train_step_s").asDouble(),
            peak,
            json.get("sample_step_s").asDouble(),
            null,
            null));
  }

  /** The line printed under a model's own for one peer, its training step next to ours. */
  static String peerLine(PeerResult p, int batch) {
    return String.format(
        "%-8s peer %s: %.3f s per step, %.1f img/s, peak %s; peer time / tfdiffusion %.2f"
            + " (%s)%n",
        "",
        p.label(),
        p.trainStepSeconds(),
        batch / p.trainStepSeconds(),
        p.peakMemoryMib() == null ? "unknown" : String.format("%.0f MiB", p.peakMemoryMib()),
        p.trainRatio(),
        FASTER);
  }

  /** The results as {@code --json} writes them, each with its peers' figures and ratios. */
  static String json(List<Result> results) throws IOException {
    return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(results) + "\n";
  }

  /**
   * The training table: a row per model, and a row per further peer of the model (its own columns
   * left empty); the ratio is the peer's time over ours.
   */
  static String markdown(List<Result> results) {
    StringBuilder s = new StringBuilder();
    s.append("| config | params | GFLOP/img | tfdiffusion s/step | img/s | GFLOP/s | peak MiB |")
        .append(" peer | peer s/step | peer peak MiB | peer time / ours (")
        .append(FASTER)
        .append(") |\n")
        .append("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (Result r : results) {
      String ours =
          String.format(
              "| %s | %,d | %.2f | %.3f | %.1f | %.0f | %.0f |",
              r.config(),
              r.parameters(),
              r.gflopPerImage(),
              r.trainStepSeconds(),
              r.imagesPerSecond(),
              r.gflopPerSecond(),
              r.peakMemoryMib());
      appendPeerRows(
          s,
          ours,
          "| " + r.config() + " | | | | | | |",
          peersOf(r),
          " - | - | - | - |",
          p ->
              String.format(
                  " %s | %.3f | %s | %s |",
                  p.label(),
                  p.trainStepSeconds(),
                  p.peakMemoryMib() == null ? "-" : String.format("%.0f", p.peakMemoryMib()),
                  p.trainRatio() == null ? "-" : String.format("%.2f", p.trainRatio())));
    }
    return s.toString();
  }

  /**
   * A model's rows: our columns, then the first peer's (or {@code noPeer}); each further peer on a
   * row of its own with our columns left {@code blank}.
   */
  private static void appendPeerRows(
      StringBuilder s,
      String ours,
      String blank,
      List<PeerResult> peers,
      String noPeer,
      java.util.function.Function<PeerResult, String> peerColumns) {
    if (peers.isEmpty()) {
      s.append(ours).append(noPeer).append('\n');
    }
    for (int i = 0; i < peers.size(); i++) {
      s.append(i == 0 ? ours : blank).append(peerColumns.apply(peers.get(i))).append('\n');
    }
  }

  /**
   * The sampling table: a row per model, and a row per further peer of the model; the ratio is the
   * peer's time per step over our compiled loop's.
   */
  static String samplingMarkdown(List<Result> results) {
    StringBuilder s = new StringBuilder();
    s.append("| config | forward s | compiled loop s/step | loop overhead | host loop s/step |")
        .append(" 16 images: DDPM-1000 / DDIM-50 / DPM++-20 | peer | peer s/step |")
        .append(" peer time / compiled loop (")
        .append(FASTER)
        .append(") |\n")
        .append("|---|---|---|---|---|---|---|---|---|\n");
    for (Result r : results) {
      if (r.compiledStepSeconds() == null) {
        continue;
      }
      double step = r.compiledStepSeconds();
      String ours =
          String.format(
              "| %s | %.3f | %.3f | %+.1f%% | %.3f | %.0f s / %.1f s / %.1f s |",
              r.config(),
              r.forwardSeconds(),
              step,
              100 * (step / r.forwardSeconds() - 1),
              r.hostStepSeconds(),
              1000 * step,
              50 * step,
              20 * step);
      appendPeerRows(
          s,
          ours,
          "| " + r.config() + " | | | | | |",
          peersOf(r),
          " - | - | - |",
          p ->
              String.format(
                  " %s | %.3f | %s |",
                  p.label(),
                  p.sampleStepSeconds(),
                  p.sampleRatio() == null ? "-" : String.format("%.2f", p.sampleRatio())));
    }
    s.append("(seconds for 16 images = steps x the compiled loop's measured time per step)\n");
    return s.toString();
  }

  private static List<PeerResult> peersOf(Result r) {
    return r.peers() == null ? List.of() : r.peers();
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  private PrintWriter out() {
    return spec.commandLine().getOut();
  }
}
