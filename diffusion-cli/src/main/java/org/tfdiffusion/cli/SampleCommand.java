package org.tfdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.tfdiffusion.eval.ModelSource;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.AnimatedGif;
import org.tfdiffusion.run.EditInputs;
import org.tfdiffusion.run.EditMode;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.ProgressMeter;
import org.tfdiffusion.run.SampleGrid;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.Sampler;
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
      "Generate images from a trained run or an export with DDPM, DDIM, DPM-Solver++, Euler or "
          + "Heun. Image i uses seed --seed + i, so the same seed gives the same file in any batch "
          + "size. EMA weights by default.",
      "Or edit: --init IMAGE --strength S (image-to-image), --init IMAGE --mask MASK"
          + " (inpainting), --interpolate SEED_A,SEED_B --frames N (a strip between two seeds)."
    })
final class SampleCommand implements Callable<Integer> {
  /** The most images one command draws (all rows of all classes together). */
  static final int MAX_IMAGES = 10_000;

  /**
   * The most images sampled at once: larger requests run in batches (same images, bounded memory).
   */
  static final int BATCH = 256;

  /** How long each frame of an interpolation's animated GIF shows. */
  static final int GIF_FRAME_MILLIS = 150;

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

    @Option(
        names = "--model",
        required = true,
        description =
            "An export: saved_models/NAME (its highest version) or saved_models/NAME/VERSION,"
                + " e.g. saved_models/fashion-mnist: its weights, with any sampler and this"
                + " machine's kernels.")
    Path model;

    Path path() {
      return run != null ? run : checkpoint != null ? checkpoint : model;
    }
  }

  @Mixin SamplerOptions sampler;

  @Mixin EditOptions edit;

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
          "Number of images, per class for conditional models (default: ${DEFAULT-VALUE}; at"
              + " most "
              + MAX_IMAGES
              + " in all, drawn "
              + BATCH
              + " at a time).")
  int count;

  @Option(
      names = "--out",
      description =
          "The grid PNG (default: RUN/samples/sample-stepK-SAMPLER-STEPS-seedS.png, next to the"
              + " run's training grids; for an export saved_models/NAME/samples/sample-vN-...).")
  Path out;

  @Mixin QuietOption quiet;

  @Option(
      names = "--out-dir",
      description = "Also write each image as seed-N.png into this folder.")
  Path outDir;

  @Option(names = "--columns", description = "Grid columns (default: square).")
  Integer columns;

  @Option(
      names = "--scale",
      description =
          "Upscale factor of the grid and the strip (nearest neighbour; default: the smallest that"
              + " makes a cell at least 56 pixels, 2 for 28x28). Files of --out-dir keep the"
              + " model's size, without a border (an --init reads them back).")
  Integer scale;

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
      converter = NamedOption.Weights.class,
      completionCandidates = NamedOption.Weights.class,
      description = "ema or raw (default: ${DEFAULT-VALUE}).")
  TrainedModel.Weights weights;

  @Option(
      names = "--loop",
      defaultValue = "compiled",
      description =
          "compiled (one While op) or host (one run per step, with a progress bar) (default: ${DEFAULT-VALUE}).")
  String loop;

  @Option(
      names = "--xla",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "Compile with XLA JIT (default: on; host-loop steps 1.5-3x faster here, the compiled"
              + " loop about the same; --no-xla turns it off).")
  boolean xla;

  @Mixin org.tfdiffusion.cli.SamplingRuntime runtime;

  @Override
  public Integer call() {
    if (count < 1) {
      throw new IllegalArgumentException("--n must be >= 1, got " + count);
    }
    checkTotal(count, 1);
    if (strip != null && count > BATCH) {
      throw new IllegalArgumentException(
          "--strip draws one row per image: give --n " + BATCH + " or less with it");
    }
    if (scale != null && (scale < 1 || scale > 64)) {
      throw new IllegalArgumentException("--scale must be in [1, 64], got " + scale);
    }
    var parsed = spec.commandLine().getParseResult();
    edit.check(parsed.hasMatchedOption("--seed") || parsed.hasMatchedOption("--n"));
    if (strip != null && edit.interpolating()) {
      throw new IllegalArgumentException(
          "--strip is not drawn for --interpolate: its frames are the strip");
    }
    boolean host =
        switch (loop.trim().toLowerCase(java.util.Locale.ROOT)) {
          case "compiled" -> false;
          case "host" -> true;
          default ->
              throw new IllegalArgumentException(
                  "unknown --loop '" + loop + "'; valid: compiled, host");
        };
    Path path = source.path();
    PrintWriter log = spec.commandLine().getOut();
    ModelSource model =
        source.model != null ? ModelSource.export(path) : ModelSource.run(path, weights);
    TrainConfig trained = model.config();
    sampler = sampler.forModel(trained);
    Requests requests = edit.interpolating() ? strips(trained) : requests(trained);
    EditOptions.Read read = edit.read(trained.model());
    if (out == null) {
      out =
          defaultGrid(
              model,
              sampler.kind().configName(),
              sampler.steps(trained.noiseSchedule().timesteps()),
              seed);
    }
    Sampler chosen = sampler.build(trained.noiseSchedule().timesteps());
    EditMode mode = edit.mode();
    int stripColumns = strip == null ? 0 : stripSteps;
    if (strip != null && host) {
      throw new IllegalArgumentException("--strip needs the compiled loop");
    }
    try (ImageSampler images =
        model.sampler(
            chosen,
            mode,
            host,
            host ? 0 : stripColumns,
            runtime.apply(SessionOptions.sampling().withXla(xla)))) {
      log.printf("model: %s%nsampler: %s%n", images.model().describe(), images.plan().name());
      if (edit.editing()) {
        log.printf(
            "edit: %s (%s)%n",
            mode.describe(),
            images.steps() > images.plan().steps()
                ? images.steps()
                    + " loop steps: the plan's "
                    + images.plan().steps()
                    + " with RePaint's jumps back"
                : images.steps() + " of the " + images.plan().steps() + " steps");
      }
      if (!read.log().isEmpty()) {
        log.println(read.log());
      }
      log.flush();
      long start = System.nanoTime();
      int calls = edit.interpolating() ? requests.seeds.length : batches(requests.seeds.length);
      Sampled result;
      if (host && !quiet.quiet()) {
        try (ProgressMeter bar =
            ProgressMeter.create("sample", (long) images.steps() * calls, "steps", System.err)) {
          result = draw(images, requests, read.inputs(), stripColumns, trained, bar::stepTo);
        }
      } else {
        result = draw(images, requests, read.inputs(), stripColumns, trained, i -> {});
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      if (edit.interpolating()) {
        writeStrips(trained, requests, result.pixels());
      } else {
        writeImages(trained, requests, result.pixels());
      }
      result.strip().ifPresent(strip -> writeStrip(strip, requests.seeds.length, trained));
      // strips run one loop per row; batches of plain samples and edits count as one loop
      int loops = edit.interpolating() ? requests.seeds.length : 1;
      report(log, requests, seconds, images.steps() * loops, host ? "host" : "compiled");
    }
    return 0;
  }

  /** Plain samples and edits in batches, or one interpolation strip per requested row. */
  private Sampled draw(
      ImageSampler images,
      Requests requests,
      EditInputs inputs,
      int stripColumns,
      TrainConfig trained,
      java.util.function.LongConsumer progress) {
    if (!edit.interpolating()) {
      return sampleInBatches(images, requests, inputs, stripColumns, trained, progress);
    }
    long[] ends = edit.seeds();
    int frames = edit.frameCount();
    int rows = requests.seeds.length;
    UNetConfig config = trained.model();
    int per = config.imageSize() * config.imageSize() * config.channels();
    float[] pixels = new float[rows * frames * per];
    int steps = images.steps();
    for (int row = 0; row < rows; row++) {
      long done = (long) row * steps;
      ImageSampler.Images strip =
          images.interpolate(
              ends[0],
              ends[1],
              requests.labels.length == 0 ? 0 : requests.labels[row],
              requests.guidance.length == 0 ? 0f : requests.guidance[row],
              i -> progress.accept(done + i));
      System.arraycopy(strip.pixels(), 0, pixels, row * frames * per, frames * per);
    }
    return new Sampled(pixels, java.util.Optional.empty());
  }

  /** The images in [0, 1], and the strip's x0 snapshots with one row per image. */
  private record Sampled(float[] pixels, java.util.Optional<float[]> strip) {}

  private static int batches(int images) {
    return (images + BATCH - 1) / BATCH;
  }

  /**
   * Samples the requests {@link #BATCH} images at a time: image i has its own seed, so the images
   * are those of one call, with memory bounded by the batch.
   *
   * @param progress the host loop's steps, counted over all batches
   */
  private static Sampled sampleInBatches(
      ImageSampler images,
      Requests requests,
      EditInputs inputs,
      int stripColumns,
      TrainConfig trained,
      java.util.function.LongConsumer progress) {
    int total = requests.seeds.length;
    int per =
        trained.model().imageSize() * trained.model().imageSize() * trained.model().channels();
    float[] pixels = new float[total * per];
    float[] strip = stripColumns > 0 ? new float[total * stripColumns * per] : null;
    int steps = images.steps();
    for (int from = 0, batch = 0; from < total; from += BATCH, batch++) {
      int to = Math.min(total, from + BATCH);
      int n = to - from;
      long done = (long) batch * steps;
      ImageSampler.Images result =
          images.sample(
              java.util.Arrays.copyOfRange(requests.seeds, from, to),
              requests.labels.length == 0
                  ? requests.labels
                  : java.util.Arrays.copyOfRange(requests.labels, from, to),
              requests.guidance.length == 0
                  ? requests.guidance
                  : java.util.Arrays.copyOfRange(requests.guidance, from, to),
              inputs,
              i -> progress.accept(done + i));
      System.arraycopy(result.pixels(), 0, pixels, from * per, n * per);
      if (strip != null) {
        float[] snapshots = result.snapshots().orElseThrow();
        // snapshot j of image i sits at (j * n + i); the strip has one row of columns per image
        for (int i = 0; i < n; i++) {
          for (int j = 0; j < stripColumns; j++) {
            System.arraycopy(
                snapshots, (j * n + i) * per, strip, ((from + i) * stripColumns + j) * per, per);
          }
        }
      }
    }
    return new Sampled(pixels, java.util.Optional.ofNullable(strip));
  }

  private void report(PrintWriter log, Requests requests, double seconds, int steps, String how) {
    String guided =
        requests.labels.length > 0 ? ", one row per class, guidance " + requests.guidance[0] : "";
    String what;
    if (edit.interpolating()) {
      long[] ends = edit.seeds();
      what =
          String.format(
              "sampled %d frames between seeds %d and %d%s",
              edit.frameCount(), ends[0], ends[1], guided);
    } else {
      what =
          String.format(
              "sampled %d images%s%s",
              requests.seeds.length,
              edit.editing() ? " (" + edit.mode().describe() + ")" : "",
              guided);
    }
    log.printf(
        "%s in %.2f s (%.3f s per step, %s loop)%nwrote %s%s%s%s%n",
        what,
        seconds,
        seconds / steps,
        how,
        out,
        edit.interpolating() && isGif(out) ? "\nwrote " + pngBeside(out) : "",
        outDir != null ? "\nwrote " + outDir + "/" : "",
        strip != null ? "\nwrote " + strip : "");
  }

  /**
   * Where the grid goes without --out: the model's {@code samples/} folder (a run's, beside its
   * training grids, or an export's, beside its versions), named after the model, sampler and seed.
   */
  static Path defaultGrid(ModelSource model, String sampler, int steps, long seed) {
    return model
        .evalDir()
        .resolveSibling("samples")
        .resolve(String.format("sample-%s-%s-%d-seed%d.png", model.tag(), sampler, steps, seed));
  }

  private static boolean isGif(Path file) {
    return file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gif");
  }

  /** {@code strip.gif} → {@code strip.png}: the PNG strip written next to an animation. */
  private static Path pngBeside(Path gif) {
    String name = gif.getFileName().toString();
    return gif.resolveSibling(name.substring(0, name.length() - ".gif".length()) + ".png");
  }

  /**
   * The interpolation strips: one grid row per strip (per class for conditional models), one column
   * per frame; with {@code --out X.gif} also an animation that shows the frames forth and back, and
   * with {@code --out-dir} one PNG per frame.
   */
  private void writeStrips(TrainConfig trained, Requests requests, float[] pixels) {
    UNetConfig config = trained.model();
    int s = config.imageSize();
    int c = config.channels();
    int frames = edit.frameCount();
    int rows = requests.seeds.length;
    int per = s * s * c;
    List<String> labels = new java.util.ArrayList<>();
    if (config.conditional()) {
      List<String> names = trained.conditioning().classNames();
      for (int label : requests.labels) {
        labels.add(label < names.size() ? names.get(label) : "class " + label);
      }
    }
    SampleGrid grid = SampleGrid.of(pixels, rows * frames, s, s, c, frames, factor(s), labels);
    if (!isGif(out)) {
      grid.writePng(out);
    } else {
      grid.writePng(pngBeside(out));
      List<java.awt.image.BufferedImage> animation = new java.util.ArrayList<>();
      for (int f = 0; f < 2 * frames - 2; f++) {
        int frame = f < frames ? f : 2 * frames - 2 - f; // forth, then back
        float[] column = new float[rows * per];
        for (int row = 0; row < rows; row++) {
          System.arraycopy(pixels, (row * frames + frame) * per, column, row * per, per);
        }
        animation.add(SampleGrid.of(column, rows, s, s, c, 1, factor(s), labels).toImage());
      }
      AnimatedGif.write(animation, GIF_FRAME_MILLIS, out);
    }
    if (outDir != null) {
      for (int row = 0; row < rows; row++) {
        for (int f = 0; f < frames; f++) {
          float[] one =
              java.util.Arrays.copyOfRange(
                  pixels, (row * frames + f) * per, (row * frames + f + 1) * per);
          String name =
              (config.conditional() ? "class-" + requests.labels[row] + "-" : "")
                  + String.format(java.util.Locale.ROOT, "frame-%02d.png", f);
          SampleGrid.single(one, s, s, c, 1).writePng(outDir.resolve(name));
        }
      }
    }
  }

  /** The grid (and, with --out-dir, one PNG per image). */
  private void writeImages(TrainConfig trained, Requests requests, float[] pixels) {
    UNetConfig config = trained.model();
    int s = config.imageSize();
    int c = config.channels();
    int total = requests.seeds.length;
    boolean rows = config.conditional();
    List<String> labels = new java.util.ArrayList<>();
    if (rows) {
      List<String> names = trained.conditioning().classNames();
      for (int i = 0; i < total; i += count) {
        int label = requests.labels[i];
        labels.add(label < names.size() ? names.get(label) : "class " + label);
      }
    }
    int gridColumns = rows ? count : columns != null ? columns : (int) Math.ceil(Math.sqrt(total));
    createParent(out);
    SampleGrid.of(pixels, total, s, s, c, gridColumns, factor(s), labels).writePng(out);
    if (outDir != null) {
      int per = s * s * c;
      for (int i = 0; i < total; i++) {
        float[] one = java.util.Arrays.copyOfRange(pixels, i * per, (i + 1) * per);
        String name =
            (rows ? "class-" + requests.labels[i] + "-" : "")
                + "seed-"
                + requests.seeds[i]
                + ".png";
        SampleGrid.single(one, s, s, c, 1).writePng(outDir.resolve(name));
      }
    }
  }

  private static void createParent(Path file) {
    Path parent = file.toAbsolutePath().getParent();
    try {
      java.nio.file.Files.createDirectories(parent);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** The grid's upscale factor: --scale, or a cell of at least 56 pixels. */
  private int factor(int imageSize) {
    return scale != null ? scale : SampleGrid.defaultScale(imageSize);
  }

  /** One seed (and label and guidance scale) per image. */
  private record Requests(long[] seeds, int[] labels, float[] guidance) {}

  private Requests requests(TrainConfig trained) {
    UNetConfig config = trained.model();
    if (!config.conditional()) {
      if (classes != null || guidance != null) {
        throw new IllegalArgumentException(
            "this model is unconditional (trained without labels): it takes no --class or"
                + " --guidance");
      }
      checkTotal(count, 1);
      long[] seeds = new long[count];
      for (int i = 0; i < count; i++) {
        seeds[i] = seed + i;
      }
      return new Requests(seeds, new int[0], new float[0]);
    }
    TrainConfig.Conditioning conditioning = trained.conditioning();
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
    int total = checkTotal(count, rows.size());
    long[] seeds = new long[total];
    int[] labels = new int[total];
    float[] scales = new float[total];
    for (int i = 0; i < total; i++) {
      seeds[i] = seed + i % count; // the same seeds in every row
      labels[i] = rows.get(i / count);
      scales[i] = (float) w;
    }
    return new Requests(seeds, labels, scales);
  }

  /**
   * The rows of an interpolation: one strip, or one per class (all classes, or {@code --class}) for
   * conditional models; the seeds are the strips' first seed, for names only.
   */
  private Requests strips(TrainConfig trained) {
    UNetConfig config = trained.model();
    long first = edit.seeds()[0];
    if (!config.conditional()) {
      if (classes != null || guidance != null) {
        throw new IllegalArgumentException(
            "this model is unconditional (trained without labels): it takes no --class or"
                + " --guidance");
      }
      return new Requests(new long[] {first}, new int[0], new float[0]);
    }
    TrainConfig.Conditioning conditioning = trained.conditioning();
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
    long[] seeds = new long[rows.size()];
    int[] labels = new int[rows.size()];
    float[] scales = new float[rows.size()];
    for (int i = 0; i < rows.size(); i++) {
      seeds[i] = first;
      labels[i] = rows.get(i);
      scales[i] = (float) w;
    }
    return new Requests(seeds, labels, scales);
  }

  /**
   * The number of images, {@code perRow} in each of {@code rows} rows.
   *
   * @throws IllegalArgumentException above {@link #MAX_IMAGES}, before anything is allocated
   */
  private static int checkTotal(int perRow, int rows) {
    long total = (long) perRow * rows;
    if (total > MAX_IMAGES) {
      throw new IllegalArgumentException(
          String.format(
              "--n %d asks for %d images%s; one command draws at most %d: lower --n, or run"
                  + " several commands with --seed N, N + %d, ... (image i has seed --seed + i)",
              perRow,
              total,
              rows > 1 ? " (" + rows + " classes x " + perRow + ")" : "",
              MAX_IMAGES,
              perRow));
    }
    return (int) total;
  }

  /** Rows = images, columns = x0 snapshots over the loop (already in that order). */
  private void writeStrip(float[] rows, int n, TrainConfig trained) {
    int s = trained.model().imageSize();
    int c = trained.model().channels();
    SampleGrid.of(rows, n * stripSteps, s, s, c, stripSteps, factor(s), List.of()).writePng(strip);
  }
}
