package org.tfdiffusion.cli.eval;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.IntConsumer;
import org.tfdiffusion.cli.NamedOption;
import org.tfdiffusion.cli.QuietOption;
import org.tfdiffusion.cli.SamplerOptions;
import org.tfdiffusion.cli.SamplingRuntime;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.eval.EvalSettings;
import org.tfdiffusion.eval.Evaluator;
import org.tfdiffusion.eval.FashionMnistData;
import org.tfdiffusion.eval.Figures;
import org.tfdiffusion.eval.ImageGenerator;
import org.tfdiffusion.eval.ModelSource;
import org.tfdiffusion.eval.Reports;
import org.tfdiffusion.eval.Sweep;
import org.tfdiffusion.eval.SweepPoint;
import org.tfdiffusion.eval.classifier.Classifier;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ProgressMeter;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.Distiller;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code eval}: how good a model's samples are, as FD, KID and class accuracy; or a sweep. */
@Command(
    name = "eval",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "How good a model's samples are: FD, KID, class accuracy; or a sweep. Generates N "
          + "images and compares them with the 10,000 real Fashion-MNIST test images through "
          + "the 128-d features of saved_models/fashion-mnist-classifier: FD (the FID recipe "
          + "with this classifier), KID (unbiased, cubic polynomial kernel, mean and std over "
          + "subsets) and, for class-conditional models, how often the classifier names the "
          + "requested class (N split evenly over the classes). The floor: the same figures "
          + "for N real training images. Writes "
          + "RUN/eval/<sampler>-<steps>-g<w>-n<N>-seed<S>-step<K>.json. With --sweep: FD, KID "
          + "and seconds over samplers and guidance scales as CSV, markdown, JSON and PNG "
          + "plots in RUN/eval/sweep-n<N>-seed<S>-step<K>/.",
    })
public final class EvalCommand implements Callable<Integer> {
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
            "An export: saved_models/NAME (highest version) or saved_models/NAME/VERSION; samples"
                + " through its own signatures when they can (its sampler kind and x0 guard, up"
                + " to their step limit), otherwise (and with --bf16) with its weights in this"
                + " process's sampling graph, any sampler.")
    Path model;
  }

  @Mixin SamplerOptions sampler;

  @Mixin SamplingRuntime runtime;

  @Option(
      names = "--guidance",
      description = "Guidance scale for conditional models (default: the run's).")
  Double guidance;

  @Option(
      names = {"-n", "--n"},
      defaultValue = "10000",
      description =
          "Images to generate, split evenly over the classes (default: ${DEFAULT-VALUE}).")
  int n;

  @Option(
      names = "--seed",
      defaultValue = "0",
      description = "Image i uses seed + i (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--batch-size",
      defaultValue = "250",
      description = "Images per sampling call (default: ${DEFAULT-VALUE}).")
  int batchSize;

  @Option(
      names = "--weights",
      defaultValue = "ema",
      converter = NamedOption.Weights.class,
      completionCandidates = NamedOption.Weights.class,
      description = "Runs: ema or raw (default: ${DEFAULT-VALUE}).")
  TrainedModel.Weights weights;

  @Option(
      names = "--data",
      description =
          "Real images: a folder with the four Fashion-MNIST IDX files (default:"
              + " /usr/share/datasets/fashion-mnist), or embedded (2000 images as both splits:"
              + " smoke tests only).")
  String data;

  @Option(
      names = "--classifier",
      description = "The classifier SavedModel (default: saved_models/fashion-mnist-classifier).")
  Path classifier;

  @Option(
      names = "--kid-subsets",
      defaultValue = "100",
      description = "KID subsets (default: ${DEFAULT-VALUE}).")
  int kidSubsets;

  @Option(
      names = "--kid-subset-size",
      defaultValue = "1000",
      description = "KID subset size, capped by N (default: ${DEFAULT-VALUE}).")
  int kidSubsetSize;

  @Option(
      names = "--out",
      description =
          "The JSON file (or, with --sweep, the folder) to write (default: next to the run).")
  Path out;

  @Option(
      names = "--sweep",
      description = "Sweep samplers (--sweep-samplers) and guidance scales (--sweep-guidance).")
  boolean sweep;

  @Option(
      names = "--resume",
      description =
          "With --sweep: keep the settings already measured in the output folder's sweep.json"
              + " (same model, N, seed, data and KID settings), measure only the others, and write"
              + " the tables and plots of all of them.")
  boolean resume;

  @Option(
      names = "--students",
      description =
          "With --sweep: the folder of a distillation (distill --out): the student of each"
              + " round-N (its latest checkpoint's EMA weights) is measured with the sampler and"
              + " guidance it was distilled for (ddim at N steps), a line of its own beside the"
              + " teacher's samplers.")
  Path students;

  @Option(
      names = "--sweep-samplers",
      split = ",",
      defaultValue = SweepPoint.DEFAULT_SAMPLERS,
      description = "KIND-STEPS list (default: ${DEFAULT-VALUE}).")
  List<String> sweepSamplers;

  @Option(
      names = "--sweep-guidance",
      split = ",",
      defaultValue = SweepPoint.DEFAULT_GUIDANCE,
      description =
          "Guidance scales at --sampler/--steps, conditional models; empty to skip (default:"
              + " ${DEFAULT-VALUE}).")
  List<String> sweepGuidance;

  @Mixin QuietOption quiet;

  @Override
  public Integer call() {
    PrintWriter log = spec.commandLine().getOut();
    if (resume && !sweep) {
      throw new IllegalArgumentException(
          "--resume continues a sweep: give it with --sweep (a single eval is one measurement)");
    }
    if (students != null && !sweep) {
      throw new IllegalArgumentException(
          "--students adds distilled students to a sweep: give it with --sweep (or measure one"
              + " student with eval --run DIR/round-N)");
    }
    List<Path> rounds = students == null ? List.of() : rounds(students);
    EvalSettings settings = new EvalSettings(n, seed, batchSize, kidSubsets, kidSubsetSize);
    ModelSource model =
        source.model != null
            ? ModelSource.export(source.model)
            : ModelSource.run(source.run != null ? source.run : source.checkpoint, weights);
    model.checkFashionMnistShape();
    TrainConfig trained = model.config();
    sampler = sampler.forModel(trained);
    boolean conditional = trained.model().conditional();
    int classes = conditional ? trained.model().numClasses() : 0;
    if (!conditional && guidance != null) {
      throw new IllegalArgumentException(
          "this model is unconditional (trained without labels): it takes no --guidance");
    }
    double w = guidance != null ? guidance : trained.conditioning().guidance();
    if (conditional && (!(w >= 0) || Double.isInfinite(w))) {
      throw new IllegalArgumentException("--guidance must be >= 0, got " + w);
    }
    int timesteps = trained.noiseSchedule().timesteps();
    Sampler chosen = sampler.build(timesteps);
    List<SweepPoint> points = sweep ? SweepPoint.parseList(sweepSamplers) : List.of();
    List<Double> scales = sweep && conditional ? parseScales(sweepGuidance) : List.of();
    for (SweepPoint p : points) {
      if (p.steps() > timesteps) {
        throw new IllegalArgumentException(
            "sweep sampler " + p.label() + ": the model has " + timesteps + " timesteps");
      }
    }
    for (double s : scales) {
      if (!(s >= 0) || Double.isInfinite(s)) {
        throw new IllegalArgumentException("--sweep-guidance values must be >= 0, got " + s);
      }
    }

    ImageDataset test = FashionMnistData.load(data, Split.TEST);
    ImageDataset train = FashionMnistData.load(data, Split.TRAIN);
    if (FashionMnistData.embedded(data)) {
      log.println(
          "note: --data embedded compares with the 2000 embedded images, which are also the"
              + " floor's 'training' images: a smoke test, not a measurement");
    }
    log.printf("model:      %s%n", model.description());
    log.flush();
    try (Classifier c =
        classifier != null ? Classifier.load(classifier) : Classifier.loadDefault()) {
      long t0 = System.nanoTime();
      Evaluator evaluator = new Evaluator(c, test);
      Figures floor = evaluator.floor(train, settings);
      log.printf(
          "classifier: %s%nreal:       %s (%d images), floor from %d training images (%.1f s)%n",
          c.directory(),
          test.description(),
          test.size(),
          floor.images(),
          (System.nanoTime() - t0) / 1e9);
      log.flush();
      Map<String, Object> common = new LinkedHashMap<>();
      common.put("created_at", Instant.now().toString());
      common.put("command", CommandLines.describe(spec));
      common.put("model", model.description());
      common.put("image_shape", List.of(28, 28, 1));
      common.put("conditional", conditional);
      common.put("class_names", trained.conditioning().classNames());
      common.put("n", settings.n());
      common.put("seed", settings.seed());
      common.put("batch_size", settings.batchSize());
      common.put("classifier", c.directory().toString());
      common.put("test_data", test.description());
      common.put("test_images", test.size());
      common.put("train_data", train.description());
      common.put(
          "kid",
          Map.of(
              "kernel",
              "(x.y / d + 1)^3",
              "subsets",
              settings.kidSubsets(),
              "subset_size",
              Math.min(settings.kidSubsetSize(), Math.min(settings.n(), test.size()))));
      if (!sweep) {
        return single(
            log, model, evaluator, chosen, conditional, classes, w, settings, floor, common);
      }
      return sweep(
          log, model, evaluator, chosen, points, scales, rounds, classes, w, settings, floor,
          common);
    }
  }

  private int single(
      PrintWriter log,
      ModelSource model,
      Evaluator evaluator,
      Sampler chosen,
      boolean conditional,
      int classes,
      double w,
      EvalSettings settings,
      Figures floor,
      Map<String, Object> common) {
    Figures generated;
    String samplerName;
    int steps;
    try (ImageGenerator generator = model.open(chosen, runtime.apply(SessionOptions.sampling()))) {
      samplerName = generator.samplerName();
      steps = generator.steps();
      log.printf(
          "sampler:    %s%s, %d images, seed %d%n",
          samplerName,
          conditional ? ", guidance " + Reports.number(w) : "",
          settings.n(),
          settings.seed());
      log.flush();
      generated =
          withProgress(
              label(ModelSource.kindOf(chosen).configName(), steps, conditional, w),
              settings.n(),
              p -> evaluator.generated(generator, classes, w, settings, p));
    }
    Map<String, Object> json = new LinkedHashMap<>(common);
    json.put("sampler", ModelSource.kindOf(chosen).configName());
    json.put("sampler_detail", samplerName);
    json.put("steps", steps);
    json.put("network_evaluations", steps);
    json.put("guidance", conditional ? w : null);
    json.put("x0_guard", sampler.guard().toString());
    json.put("bf16", runtime.bf16());
    json.put("generated", Reports.toJson(generated));
    json.put("floor", Reports.toJson(floor));
    Path file =
        output(
            model,
            String.format(
                Locale.ROOT,
                "%s-%d%s%s%s-n%d-seed%d-%s.json",
                ModelSource.kindOf(chosen).configName(),
                steps,
                conditional ? "-g" + Reports.number(w) : "",
                sampler.guard().active() ? "-" + sampler.guard().toString().replace('+', '_') : "",
                runtime.bf16() ? "-bf16" : "",
                settings.n(),
                settings.seed(),
                model.tag()));
    Reports.writeJson(file, json);
    log.print(table(generated, floor));
    log.printf(
        "sampling took %.1f s (%.1f s per 1000 images)%nwrote %s%n",
        generated.seconds(), generated.secondsPer1000(), file);
    log.flush();
    return 0;
  }

  /** {@code --out} when given, else {@code name} in the model's eval folder. */
  private Path output(ModelSource model, String name) {
    return out != null ? out : model.evalDir().resolve(name);
  }

  private int sweep(
      PrintWriter log,
      ModelSource model,
      Evaluator evaluator,
      Sampler chosen,
      List<SweepPoint> points,
      List<Double> scales,
      List<Path> rounds,
      int classes,
      double w,
      EvalSettings settings,
      Figures floor,
      Map<String, Object> common) {
    boolean conditional = classes > 0;
    Map<String, Object> header = new LinkedHashMap<>(common);
    if (conditional) {
      header.put("sampler_sweep_guidance", w);
    }
    Sweep result = new Sweep(floor, header);
    Path dir =
        output(
            model,
            String.format(
                Locale.ROOT, "sweep-n%d-seed%d-%s", settings.n(), settings.seed(), model.tag()));
    Optional<Sweep.Stored> stored = resumeFrom(dir, header);
    List<Sweep.Row> kept = new ArrayList<>();
    List<Runnable> plan = new ArrayList<>();
    for (SweepPoint p : points) {
      Sampler s =
          p.kind() == ModelSource.kindOf(chosen)
              ? sampler.build(model.config().noiseSchedule().timesteps(), p.steps())
              : p.kind().create(p.steps(), 0);
      plan.add(
          keptOr(
              stored,
              kept,
              result,
              Sweep.Part.SAMPLER,
              planName(model, s),
              conditional ? Optional.of(w) : Optional.empty(),
              () -> measure(log, model, evaluator, s, Sweep.Part.SAMPLER, classes, w, settings)));
    }
    for (Path round : rounds) {
      ModelSource student = ModelSource.run(round, TrainedModel.Weights.EMA);
      TrainConfig c = student.config();
      if (!c.distillation().active()) {
        throw new IllegalArgumentException(
            round + " is not a round of distill (its config.json has no distillation)");
      }
      if (!c.model().equals(model.config().model())) {
        throw new IllegalArgumentException(
            round + "'s model differs from the one measured (" + c.model().describe() + ")");
      }
      Sampler s = SamplerKind.DDIM.create(c.distillation().steps(), 0);
      double sw = c.conditioning().guidance();
      plan.add(
          keptOr(
              stored,
              kept,
              result,
              Sweep.Part.STUDENT,
              planName(student, s),
              conditional ? Optional.of(sw) : Optional.empty(),
              () ->
                  measure(log, student, evaluator, s, Sweep.Part.STUDENT, classes, sw, settings)));
    }
    for (double scale : scales) {
      plan.add(
          keptOr(
              stored,
              kept,
              result,
              Sweep.Part.GUIDANCE,
              planName(model, chosen),
              Optional.of(scale),
              () ->
                  measure(
                      log,
                      model,
                      evaluator,
                      chosen,
                      Sweep.Part.GUIDANCE,
                      classes,
                      scale,
                      settings)));
    }
    // rows of the stored sweep that this one does not list stay in it, after the listed ones
    stored.ifPresent(
        st -> {
          for (Sweep.Row row : st.rows()) {
            if (kept.stream().noneMatch(k -> k == row)) {
              plan.add(() -> result.add(row));
            }
          }
        });
    if (stored.isPresent()) {
      log.printf(
          "resume: %d of %d listed settings already measured in %s%n",
          kept.size(), points.size() + scales.size() + rounds.size(), dir.resolve("sweep.json"));
    }
    log.printf("sweep: %d settings, %d images each%n", plan.size(), settings.n());
    log.flush();
    for (Runnable point : plan) {
      point.run();
      result.write(dir); // after every setting: an interrupted sweep keeps what it measured
    }
    result.write(dir);
    log.printf(
        "floor (real train vs test): FD %s, KID %s ± %s, class accuracy %s%nwrote %s/"
            + "{sweep.csv,sweep.md,sweep.json,quality-vs-nfe.png%s}%n",
        Reports.fd(floor.fd()),
        Reports.kid(floor.kidMean()),
        Reports.kid(floor.kidStd()),
        Reports.accuracy(floor),
        dir,
        conditional && !scales.isEmpty() ? ",guidance.png" : "");
    log.flush();
    return 0;
  }

  /**
   * The rounds of a distillation folder, largest N first.
   *
   * @throws IllegalArgumentException when the folder holds no round with a checkpoint
   */
  private static List<Path> rounds(Path dir) {
    if (!java.nio.file.Files.isDirectory(dir)) {
      throw new IllegalArgumentException(
          "--students " + dir + " is not a folder; give the --out folder of distill");
    }
    List<Path> out = new ArrayList<>();
    for (int steps : Distiller.existingRounds(dir)) {
      Path round = dir.resolve(Distiller.ROUND_PREFIX + steps);
      if (Checkpoints.of(round).latest().isPresent()) {
        out.add(round);
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException(
          "--students "
              + dir
              + " holds no distillation round with a checkpoint (round-N folders written by"
              + " distill --out)");
    }
    return out;
  }

  /** The stored sweep to resume from, when --resume is given and one is there. */
  private Optional<Sweep.Stored> resumeFrom(Path dir, Map<String, Object> header) {
    if (!resume || !Sweep.exists(dir)) {
      return Optional.empty();
    }
    Sweep.Stored stored = Sweep.read(dir.resolve("sweep.json"));
    Map<String, com.fasterxml.jackson.databind.JsonNode> now = Sweep.settings(header);
    List<String> differ = new ArrayList<>();
    now.forEach(
        (k, v) -> {
          if (!Sweep.sameSetting(v, stored.settings().get(k))) {
            differ.add(k);
          }
        });
    if (!differ.isEmpty()) {
      throw new IllegalArgumentException(
          String.format(
              "%s was measured with other settings (%s differ: %s); resume with the same ones,"
                  + " or choose another --out",
              dir.resolve("sweep.json"),
              String.join(", ", differ),
              differ.stream()
                  .map(k -> k + " " + stored.settings().get(k) + " there, " + now.get(k) + " now")
                  .collect(java.util.stream.Collectors.joining("; "))));
    }
    return Optional.of(stored);
  }

  /** A sweep step: the stored row for this setting if there is one, else a measurement. */
  private static Runnable keptOr(
      Optional<Sweep.Stored> stored,
      List<Sweep.Row> kept,
      Sweep result,
      Sweep.Part part,
      String planName,
      Optional<Double> guidance,
      java.util.function.Supplier<Sweep.Row> measurement) {
    Optional<Sweep.Row> found = stored.flatMap(st -> st.find(part, planName, guidance));
    found.ifPresent(kept::add);
    return found
        .<Runnable>map(row -> () -> result.add(row))
        .orElse(() -> result.add(measurement.get()));
  }

  private static String planName(ModelSource model, Sampler s) {
    return s.plan(model.config().noiseSchedule(), model.config().predictionType()).name();
  }

  private Sweep.Row measure(
      PrintWriter log,
      ModelSource model,
      Evaluator evaluator,
      Sampler s,
      Sweep.Part part,
      int classes,
      double w,
      EvalSettings settings) {
    boolean conditional = classes > 0;
    try (ImageGenerator generator = model.open(s, runtime.apply(SessionOptions.sampling()))) {
      String label = label(ModelSource.kindOf(s).configName(), generator.steps(), conditional, w);
      Figures f =
          withProgress(
              label, settings.n(), p -> evaluator.generated(generator, classes, w, settings, p));
      log.printf(
          "%-22s FD %10s  KID %s ± %s  class acc %s  %7.1f s%n",
          label,
          Reports.fd(f.fd()),
          Reports.kid(f.kidMean()),
          Reports.kid(f.kidStd()),
          Reports.accuracy(f),
          f.seconds());
      log.flush();
      return new Sweep.Row(
          part,
          ModelSource.kindOf(s),
          generator.samplerName(),
          generator.steps(),
          conditional ? Optional.of(w) : Optional.empty(),
          f);
    }
  }

  private static List<Double> parseScales(List<String> items) {
    List<Double> out = new ArrayList<>();
    if (items == null) {
      return out;
    }
    for (String item : items) {
      if (item.isBlank()) {
        continue;
      }
      try {
        out.add(Double.parseDouble(item.trim()));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "--sweep-guidance: '" + item + "' is not a number (e.g. 0,1,2,3,5)", e);
      }
    }
    return out;
  }

  private static String label(String kind, int steps, boolean conditional, double w) {
    return kind + "-" + steps + (conditional ? " w=" + Reports.number(w) : "");
  }

  /** Runs {@code work} with a progress bar over N images (unless --quiet). */
  private <T> T withProgress(
      String task, int total, java.util.function.Function<IntConsumer, T> work) {
    if (quiet.quiet()) {
      return work.apply(done -> {});
    }
    try (ProgressMeter bar = ProgressMeter.create(task, total, "img", System.err)) {
      return work.apply(bar::stepTo);
    }
  }

  /** The figures as an aligned table. */
  static String table(Figures generated, Figures floor) {
    String row = "%-28s %12s %12s %10s %10s %12s%n";
    StringBuilder s = new StringBuilder();
    s.append(String.format(row, "", "FD", "KID", "KID std", "class acc", "s/1000 img"));
    s.append(
        String.format(
            row,
            "generated (" + generated.images() + ")",
            Reports.fd(generated.fd()),
            Reports.kid(generated.kidMean()),
            Reports.kid(generated.kidStd()),
            Reports.accuracy(generated),
            Reports.seconds(generated.secondsPer1000())));
    s.append(
        String.format(
            row,
            "real train vs test (" + floor.images() + ")",
            Reports.fd(floor.fd()),
            Reports.kid(floor.kidMean()),
            Reports.kid(floor.kidStd()),
            Reports.accuracy(floor),
            "-"));
    return s.toString();
  }
}
