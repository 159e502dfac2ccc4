package org.tfdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.sampling.ClassifierFreeGuidance;
import org.tfdiffusion.sampling.HostLoop;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.train.SampleGrid;
import org.tfdiffusion.train.SamplerOptions;
import org.tfdiffusion.train.TrainedModel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code sample}: images from a trained run, seeded and reproducible. */
@Command(
    name = "sample",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Generate images from a trained run with DDPM, DDIM or DPM-Solver++. Image i uses seed",
      "--seed + i, so the same seed gives the same file in any batch size. EMA weights by default."
    })
final class SampleCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @ArgGroup(multiplicity = "1")
  Source source;

  /** Where the model comes from. */
  static final class Source {
    @Option(names = "--run", required = true, description = "A run folder (its latest checkpoint).")
    Path run;

    @Option(
        names = "--checkpoint",
        required = true,
        description = "A checkpoint folder (runs/X/checkpoints/ckpt-N).")
    Path checkpoint;

    Path path() {
      return run != null ? run : checkpoint;
    }
  }

  @Mixin SamplerOptions sampler;

  @Option(
      names = "--class",
      split = ",",
      description =
          "Class-conditional models: class names or indices, one grid row each (default: all).")
  List<String> classes;

  @Option(
      names = "--guidance",
      description =
          "Guidance scale w: 0 = unconditional, 1 = conditional, above 1 stronger (default: the"
              + " run's).")
  Double guidance;

  @Option(
      names = "--seed",
      defaultValue = "0",
      description = "Seed of the first image (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = {"-n", "--n"},
      defaultValue = "16",
      description =
          "Number of images, per class for conditional models (default: ${DEFAULT-VALUE}).")
  int count;

  @Option(
      names = "--out",
      defaultValue = "samples.png",
      description = "The grid PNG (default: ${DEFAULT-VALUE}).")
  Path out;

  @Option(
      names = "--out-dir",
      description = "Also write each image as seed-N.png into this folder.")
  Path outDir;

  @Option(names = "--columns", description = "Grid columns (default: square).")
  Integer columns;

  @Option(
      names = "--strip",
      description = "Also write a progress strip of predicted x0 (one row per image).")
  Path strip;

  @Option(
      names = "--strip-steps",
      defaultValue = "8",
      description = "Columns of the strip (default: ${DEFAULT-VALUE}).")
  int stripSteps;

  @Option(
      names = "--weights",
      defaultValue = "ema",
      description = "ema or raw (default: ${DEFAULT-VALUE}).")
  String weights;

  @Option(
      names = "--loop",
      defaultValue = "compiled",
      description =
          "compiled (one While op) or host (one run per step, with a progress bar) (default: ${DEFAULT-VALUE}).")
  String loop;

  @Option(
      names = "--xla",
      negatable = true,
      defaultValue = "false",
      fallbackValue = "true",
      description = "Compile with XLA JIT.")
  boolean xla;

  @Override
  public Integer call() {
    if (count < 1) {
      throw new IllegalArgumentException("--n must be >= 1, got " + count);
    }
    boolean host =
        switch (loop.trim().toLowerCase(java.util.Locale.ROOT)) {
          case "compiled" -> false;
          case "host" -> true;
          default ->
              throw new IllegalArgumentException(
                  "unknown --loop '" + loop + "'; valid: compiled, host");
        };
    TrainedModel.Weights which =
        switch (weights.trim().toLowerCase(java.util.Locale.ROOT)) {
          case "ema" -> TrainedModel.Weights.EMA;
          case "raw" -> TrainedModel.Weights.RAW;
          default ->
              throw new IllegalArgumentException(
                  "unknown --weights '" + weights + "'; valid: ema, raw");
        };
    PrintWriter log = spec.commandLine().getOut();
    SessionOptions options = SessionOptions.defaults().withXla(xla);
    Graphs g = new Graphs();
    try (TrainedModel model =
        TrainedModel.load(source.path(), which, options, m -> g.build(m, host))) {
      UNetConfig config = model.config().model();
      log.printf("model: %s%nsampler: %s%n", model.describe(), g.plan.name());
      long start = System.nanoTime();
      float[] images;
      float[] snapshots = null;
      long[] seeds = g.seedValues;
      int total = seeds.length;
      try (TInt64 seedTensor = TensorIO.longs(seeds);
          TInt32 labelTensor = g.labelValues == null ? null : TInt32.vectorOf(g.labelValues);
          TFloat32 guidanceTensor =
              g.labelValues == null ? null : TFloat32.vectorOf(g.guidanceValues)) {
        Map<Operand<?>, org.tensorflow.Tensor> feeds = new java.util.HashMap<>();
        if (labelTensor != null) {
          feeds.put(g.labels, labelTensor);
          feeds.put(g.scales, guidanceTensor);
        }
        if (host) {
          try (ProgressBar bar =
                  new ProgressBarBuilder()
                      .setTaskName("sample")
                      .setInitialMax(g.plan.steps())
                      .setStyle(ProgressBarStyle.ASCII)
                      .setConsumer(new ConsoleProgressBarConsumer(System.err))
                      .build();
              TFloat32 result = g.host.run(model.session(), seedTensor, feeds, bar::stepTo)) {
            images = toUnit(TensorIO.toFloats(result));
          }
        } else {
          Session.Runner runner =
              model.session().runner().feed(g.seeds, seedTensor).fetch(g.samples);
          feeds.forEach(runner::feed);
          g.x0Strip.ifPresent(runner::fetch);
          try (Result r = runner.run()) {
            images = TensorIO.toFloats(r.get(0));
            if (g.x0Strip.isPresent()) {
              snapshots = TensorIO.toFloats(r.get(1));
            }
          }
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      int s = config.imageSize();
      int c = config.channels();
      SampleGrid grid =
          g.labelValues != null
              ? SampleGrid.of(images, total, s, s, c, count)
              : columns == null
                  ? SampleGrid.square(images, total, s, s, c)
                  : SampleGrid.of(images, total, s, s, c, columns);
      grid.writePng(out);
      if (outDir != null) {
        int per = s * s * c;
        for (int i = 0; i < total; i++) {
          float[] one = java.util.Arrays.copyOfRange(images, i * per, (i + 1) * per);
          String name =
              (g.labelValues == null ? "" : "class-" + g.labelValues[i] + "-")
                  + "seed-"
                  + seeds[i]
                  + ".png";
          SampleGrid.of(one, 1, s, s, c, 1).writePng(outDir.resolve(name));
        }
      }
      if (snapshots != null) {
        writeStrip(snapshots, total, s, c);
      }
      log.printf(
          "sampled %d images%s in %.2f s (%.3f s per step, %s loop)%nwrote %s%s%s%n",
          total,
          g.labelValues == null ? "" : ", one row per class, guidance " + g.guidanceValues[0],
          seconds,
          seconds / g.plan.steps(),
          host ? "host" : "compiled",
          out,
          outDir != null ? "\nwrote " + outDir + "/seed-N.png" : "",
          snapshots != null ? "\nwrote " + strip : "");
    }
    return 0;
  }

  /** Rows = images, columns = x0 snapshots over the loop. */
  private void writeStrip(float[] snapshots, int n, int s, int c) {
    int k = stripSteps;
    int per = s * s * c;
    float[] reordered = new float[snapshots.length];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < k; j++) {
        float[] src =
            java.util.Arrays.copyOfRange(snapshots, (j * n + i) * per, (j * n + i + 1) * per);
        System.arraycopy(toUnit(src), 0, reordered, (i * k + j) * per, per);
      }
    }
    SampleGrid.of(reordered, n * k, s, s, c, k).writePng(strip);
  }

  private static float[] toUnit(float[] x) {
    float[] out = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = Math.max(0f, Math.min(1f, (x[i] + 1f) / 2f));
    }
    return out;
  }

  /** The sampling graph, built inside the loaded model's graph. */
  private final class Graphs {
    SamplingPlan plan;
    Placeholder<TInt64> seeds;
    Operand<TFloat32> samples;
    Optional<Operand<TFloat32>> x0Strip = Optional.empty();
    HostLoop host;
    Placeholder<TInt32> labels;
    Placeholder<TFloat32> scales;
    long[] seedValues;
    int[] labelValues;
    float[] guidanceValues;

    /** Seeds (and labels and guidance for conditional models), one per image. */
    private List<Operand<?>> requests(Ops tf, org.tfdiffusion.train.TrainConfig trained) {
      UNetConfig config = trained.model();
      if (!config.conditional()) {
        if (classes != null || guidance != null) {
          throw new IllegalArgumentException(
              "this model is unconditional (trained without labels): it takes no --class or"
                  + " --guidance");
        }
        seedValues = new long[count];
        for (int i = 0; i < count; i++) {
          seedValues[i] = seed + i;
        }
        return List.of();
      }
      var conditioning = trained.conditioning();
      List<Integer> rows = new java.util.ArrayList<>();
      if (classes == null) {
        for (int k = 0; k < config.numClasses(); k++) {
          rows.add(k);
        }
      } else {
        for (String name : classes) {
          rows.add(conditioning.classIndex(name));
        }
      }
      double w = guidance != null ? guidance : conditioning.guidance();
      if (!(w >= 0) || Double.isInfinite(w)) {
        throw new IllegalArgumentException("--guidance must be >= 0, got " + w);
      }
      int total = rows.size() * count;
      seedValues = new long[total];
      labelValues = new int[total];
      guidanceValues = new float[total];
      for (int i = 0; i < total; i++) {
        seedValues[i] = seed + i % count; // the same seeds in every row
        labelValues[i] = rows.get(i / count);
        guidanceValues[i] = (float) w;
      }
      labels = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      scales = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
      return List.of(labels, scales);
    }

    void build(TrainedModel model, boolean useHost) {
      Ops tf = model.tf();
      UNetConfig config = model.config().model();
      UNet unet = new UNet(config);
      plan =
          sampler
              .build(model.config().noiseSchedule().timesteps())
              .plan(model.config().noiseSchedule(), model.config().predictionType());
      if (strip != null && (stripSteps < 1 || stripSteps > plan.steps())) {
        throw new IllegalArgumentException("--strip-steps must be in [1, " + plan.steps() + "]");
      }
      List<Operand<?>> conditioning = requests(tf, model.config());
      Shape image = Shape.of(config.imageSize(), config.imageSize(), config.channels());
      SamplingLoop.Model net =
          config.conditional()
              ? ClassifierFreeGuidance.guided(
                  (f, w, x, t, y) -> unet.apply(NetScope.inference(f, w), x, t, Optional.of(y)),
                  config.numClasses())
              : (f, w, x, t, cond) -> unet.apply(NetScope.inference(f, w), x, t, Optional.empty());
      if (useHost) {
        host =
            new HostLoop(tf, plan, image, net, new BoundParameters(model.weights()), conditioning);
        return;
      }
      seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      SamplingLoop.Outputs outputs =
          SamplingLoop.compiled(
              tf,
              plan,
              image,
              net,
              model.weights(),
              seeds,
              conditioning,
              strip == null ? 0 : stripSteps);
      samples = SamplingLoop.toUnitRange(tf, outputs.samples());
      x0Strip = outputs.x0Snapshots();
    }
  }
}
