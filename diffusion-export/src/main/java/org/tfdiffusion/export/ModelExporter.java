package org.tfdiffusion.export;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.tensorflow.Operand;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.run.DurableFiles;
import org.tfdiffusion.run.ExportMetadata;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.PlanTable;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.editing.ImageToImage;
import org.tfdiffusion.sampling.editing.Inpainting;
import org.tfdiffusion.sampling.editing.Resampling;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Writes a trained run as a SavedModel in TensorFlow Serving's layout, {@code BASE/NAME/VERSION/},
 * with the whole sampling loop as one {@code While} op:
 *
 * <ul>
 *   <li>{@code serving_default}: {@code seed} int64 [B] (and {@code class_label} int32 [B], {@code
 *       guidance_scale} float32 [B] for conditional models) → {@code images} float32 [B, H, W, C]
 *       in [0, 1] and {@code images_png_bytes} string [B];
 *   <li>{@code sample}: the same with {@code num_steps} int32 (and {@code eta} float32 for DDIM)
 *       chosen per request;
 *   <li>{@code denoise}: {@code x_t} [B, H, W, C], {@code t} int32 [B] (and {@code class_label}) →
 *       {@code eps};
 *   <li>{@code img2img}: {@code seed}, {@code images} float32 [B, H, W, C] in [0, 1], {@code
 *       strength} float64 scalar in (0, 1] (and the conditioning) → {@code images}, {@code
 *       images_png_bytes}: SDEdit on serving_default's plan (docs/editing.md);
 *   <li>{@code inpaint}: the same with {@code mask} float32 [B, H, W, 1] in [0, 1], 1 = regenerate,
 *       0 = keep;
 *   <li>{@code inpaint_repaint}: inpainting from pure noise with RePaint's resampling (Lugmayr et
 *       al. 2022), its jump length and resample count fixed at export ({@link #repaintFor}): {@code
 *       seed}, {@code images}, {@code mask} (and the conditioning), no strength.
 * </ul>
 *
 * Readers look signatures up by key, so an export without {@code img2img} and {@code inpaint} loads
 * and serves its other signatures.
 *
 * <p>The version is the next integer after the highest one there; versions are 64-bit, as in
 * TensorFlow Serving (a folder named like a timestamp is a version). The model is written into a
 * hidden temporary folder under BASE/NAME (which TensorFlow Serving ignores: its name is not a
 * number), forced to disk, and renamed into place only when complete, together with BASE's
 * models.config; an export that fails at any point publishes nothing. So a server watching BASE
 * never sees half a model, and a crash or power cut leaves either no new version or a complete one.
 *
 * <p>A temporary folder carries the name of its host and the id of the process writing it; ones
 * left by a killed export (a process that is gone, or for another host's or an older name, one
 * untouched for {@link #STALE_AFTER}) are removed by the next export to the same model.
 */
public final class ModelExporter {
  /** TensorFlow Serving's method name for predict signatures. */
  public static final String PREDICT = "tensorflow/serving/predict";

  /** The key of the image-to-image signature. */
  public static final String IMG2IMG = "img2img";

  /** The key of the inpainting signature. */
  public static final String INPAINT = "inpaint";

  /** The key of the inpainting signature with RePaint's resampling. */
  public static final String INPAINT_REPAINT = "inpaint_repaint";

  /**
   * The resampling of {@code inpaint_repaint} for a plan of N steps: the paper's jump length 10 and
   * 10 runs of each stretch, the jump length cut to ⌊N / 2⌋ (at least 1) where N ≤ 10 leaves no
   * room for a jump of 10. About U = 10 times serving_default's model evaluations.
   */
  public static Resampling repaintFor(int steps) {
    int jump = Math.max(1, Math.min(Resampling.REPAINT_JUMP_LENGTH, steps / 2));
    return new Resampling(jump, Resampling.REPAINT_COUNT);
  }

  private static final String TEMP_PREFIX = ".tmp-export-";

  /** How long a temporary folder of an unknown writer must be untouched to count as stale. */
  static final Duration STALE_AFTER = Duration.ofHours(1);

  /** models.config, written next to the model folders. */
  static final String MODELS_CONFIG = "models.config";

  /** What an export wrote. */
  public record Exported(Path directory, long version, String name, SamplingPlan plan) {}

  private ModelExporter() {}

  /**
   * Exports a run.
   *
   * @param run a run folder or a checkpoint folder
   * @param sampler the sampler of serving_default (its kind also drives the sample signature)
   * @param kind the sampler's kind (for the run-time plans of the sample signature)
   * @param plans the sampler of the same kind with N steps, for the sample signature
   * @param beforeRename called after the files are written and before the rename (tests)
   */
  public static Exported export(
      Path run,
      String name,
      Path base,
      TrainedModel.Weights weights,
      Sampler sampler,
      SamplerKind kind,
      IntFunction<Sampler> plans,
      Runnable beforeRename) {
    return export(run, name, base, weights, sampler, kind, plans, null, beforeRename);
  }

  /**
   * Exports a run, with {@code defaultGuidance} (when not null) as the export's default guidance
   * scale instead of the run's (its metadata and config; the web page and {@code sample --model}
   * start from it).
   */
  public static Exported export(
      Path run,
      String name,
      Path base,
      TrainedModel.Weights weights,
      Sampler sampler,
      SamplerKind kind,
      IntFunction<Sampler> plans,
      Double defaultGuidance,
      Runnable beforeRename) {
    checkArgument(
        defaultGuidance == null || (defaultGuidance >= 0 && Double.isFinite(defaultGuidance)),
        "--guidance must be >= 0, got %s",
        defaultGuidance);
    checkArgument(
        name.matches("[A-Za-z0-9][A-Za-z0-9_.-]*"),
        "model name '%s' must be letters, digits, '_', '.' or '-' (it becomes a folder and a URL part)",
        name);
    Path modelDir = base.resolve(name);
    Path temp;
    try {
      Files.createDirectories(modelDir);
      removeStaleTemporaries(modelDir, Instant.now());
      temp = modelDir.resolve(temporaryName());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + modelDir, e);
    }
    SamplingPlan[] plan = new SamplingPlan[1];
    List<Signature> signatures = new ArrayList<>();
    try (TrainedModel model =
        TrainedModel.load(
            run,
            weights,
            SessionOptions.defaults(),
            m -> plan[0] = buildSignatures(m, sampler, kind, plans, signatures))) {
      SavedModelBundle.Exporter exporter =
          SavedModelBundle.exporter(temp.toString()).withSession(model.session());
      signatures.forEach(exporter::withSignature);
      exporter.export();
      writeMetadata(temp, model, plan[0], kind, name, defaultGuidance);
      beforeRename.run();
      long version = publish(temp, base, name, DurableFiles.FileSync.DISK);
      return new Exported(modelDir.resolve(String.valueOf(version)), version, name, plan[0]);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot export to " + modelDir + ": " + e.getMessage(), e);
    } finally {
      deleteQuietly(temp);
    }
  }

  /**
   * The existing versions of a model folder as {@code int}s, for callers that predate 64-bit
   * versions; see {@link #versionNumbers}.
   *
   * @throws IllegalArgumentException naming the version when one does not fit an {@code int} (a
   *     timestamp-sized version), rather than leaving it out and taking an older one for the latest
   */
  public static List<Integer> versions(Path modelDir) {
    List<Long> all = versionNumbers(modelDir);
    for (long v : all) {
      checkArgument(
          v <= Integer.MAX_VALUE,
          "%s holds version %s, beyond what this command reads (%s); give the version folder"
              + " itself, %s",
          modelDir,
          v,
          Integer.MAX_VALUE,
          modelDir.resolve(String.valueOf(v)));
    }
    return all.stream().map(Long::intValue).toList();
  }

  /**
   * The existing versions of a model folder: its sub-folders named by a 64-bit number, in ascending
   * order (other names, and numbers beyond 64 bits, are not versions).
   */
  public static List<Long> versionNumbers(Path modelDir) {
    return ExportedModel.versionNumbers(modelDir);
  }

  private static Optional<Long> parseLong(String digits) {
    try {
      return Optional.of(Long.parseLong(digits));
    } catch (NumberFormatException notANumber) {
      return Optional.empty();
    }
  }

  /**
   * Publishes the complete export in {@code temp} as the next version of {@code base/name},
   * together with BASE/models.config: the export is forced to disk and renamed into place, then
   * models.config is replaced (durably, see {@link DurableFiles}); if that fails, the version is
   * taken back, so a failed export publishes nothing.
   *
   * @return the version published
   */
  static long publish(Path temp, Path base, String name, DurableFiles.FileSync sync)
      throws IOException {
    Path modelDir = base.resolve(name);
    DurableFiles.syncTree(temp, sync);
    long version = moveIntoPlace(temp, modelDir, sync);
    try {
      DurableFiles.write(
          base.resolve(MODELS_CONFIG), modelsConfig(base).getBytes(StandardCharsets.UTF_8), sync);
    } catch (IOException | RuntimeException e) {
      Files.move(modelDir.resolve(String.valueOf(version)), temp, StandardCopyOption.ATOMIC_MOVE);
      sync.force(modelDir);
      throw new IOException(
          "cannot write " + base.resolve(MODELS_CONFIG) + " (" + e + "); nothing was published", e);
    }
    return version;
  }

  /** Renames the complete export to the next free version; never reuses an existing one. */
  private static long moveIntoPlace(Path temp, Path modelDir, DurableFiles.FileSync sync)
      throws IOException {
    while (true) {
      List<Long> existing = versionNumbers(modelDir);
      long highest = existing.isEmpty() ? 0 : existing.get(existing.size() - 1);
      if (highest == Long.MAX_VALUE) {
        throw new IOException(
            modelDir + " already holds the highest 64-bit version; remove or renumber it");
      }
      long version = highest + 1;
      Path target = modelDir.resolve(String.valueOf(version));
      try {
        DurableFiles.rename(temp, target, false, sync);
        return version;
      } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException raced) {
        // another export took this version first: try the next one
      }
    }
  }

  /**
   * A temporary folder's name: host, process id and time, so that others can tell if it is live.
   */
  private static String temporaryName() {
    return TEMP_PREFIX + hostName() + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
  }

  static String hostName() {
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      host = "localhost";
    }
    return host.replaceAll("[^A-Za-z0-9.]", "_");
  }

  /**
   * Removes the temporary folders of exports that were killed: those of a process of this host that
   * is gone, and those of other hosts or without a process id that were not touched for {@link
   * #STALE_AFTER}. A live export's folder is never removed.
   */
  static void removeStaleTemporaries(Path modelDir, Instant now) throws IOException {
    List<Path> temporaries;
    try (Stream<Path> entries = Files.list(modelDir)) {
      temporaries =
          entries.filter(p -> p.getFileName().toString().startsWith(TEMP_PREFIX)).toList();
    }
    String host = hostName();
    for (Path temp : temporaries) {
      String[] parts = temp.getFileName().toString().substring(TEMP_PREFIX.length()).split("-");
      Optional<Long> pid =
          parts.length >= 3 ? parseLong(parts[parts.length - 2]) : Optional.empty();
      String writer =
          parts.length >= 3 ? String.join("-", Arrays.copyOf(parts, parts.length - 2)) : "";
      boolean stale;
      if (pid.isPresent() && writer.equals(host)) {
        stale = ProcessHandle.of(pid.get()).map(p -> !p.isAlive()).orElse(true);
      } else {
        Instant touched = Files.getLastModifiedTime(temp).toInstant();
        stale = touched.plus(STALE_AFTER).isBefore(now);
      }
      if (stale) {
        deleteQuietly(temp);
      }
    }
  }

  private static SamplingPlan buildSignatures(
      TrainedModel model,
      Sampler sampler,
      SamplerKind kind,
      IntFunction<Sampler> plans,
      List<Signature> out) {
    Common c = Common.of(model);
    SamplingPlan plan =
        sampler.plan(model.config().noiseSchedule(), model.config().predictionType());
    out.add(servingDefault(c, plan));
    out.add(sampleSignature(c, kind, plans));
    out.add(denoiseSignature(c));
    out.addAll(editSignatures(c, plan));
    return plan;
  }

  /**
   * What the signatures share: the op factories (graph and "inputs" scope), the model, the image
   * shape, the {@code seed} input, a conditional model's {@code class_label} and {@code
   * guidance_scale} inputs and the sampling loop's conditioning built from them, and the network
   * the samplers call.
   */
  private record Common(
      Ops tf,
      Ops in,
      TrainedModel model,
      UNet unet,
      Shape image,
      Placeholder<TInt64> seed,
      Optional<Placeholder<TInt32>> label,
      Optional<Placeholder<TFloat32>> guidance,
      List<Operand<?>> conditioning,
      SamplingLoop.Model net) {
    static Common of(TrainedModel model) {
      Ops tf = model.tf();
      UNetConfig config = model.config().model();
      UNet unet = new UNet(config);
      int size = config.imageSize();
      Ops in = tf.withSubScope("inputs");
      Placeholder<TInt64> seed =
          in.withName("seed").placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      List<Operand<?>> conditioning = new ArrayList<>();
      Optional<Placeholder<TInt32>> label = Optional.empty();
      Optional<Placeholder<TFloat32>> guidance = Optional.empty();
      if (config.conditional()) {
        label =
            Optional.of(
                in.withName("class_label")
                    .placeholder(TInt32.class, Placeholder.shape(Shape.of(-1))));
        guidance =
            Optional.of(
                in.withName("guidance_scale")
                    .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1))));
        conditioning.add(checkedLabels(tf, label.get(), config.numClasses()));
        conditioning.add(guidance.get());
      }
      return new Common(
          tf,
          in,
          model,
          unet,
          Shape.of(size, size, config.channels()),
          seed,
          label,
          guidance,
          List.copyOf(conditioning),
          unet.samplingNetwork(NetScope::inference));
    }

    NoiseSchedule schedule() {
      return model.config().noiseSchedule();
    }

    Prediction prediction() {
      return model.config().predictionType();
    }

    /** A predict signature that takes {@code seed} and, if conditional, the label and scale. */
    Signature.Builder signature(String key) {
      Signature.Builder b = Signature.builder().key(key).methodName(PREDICT).input("seed", seed);
      label.ifPresent(l -> b.input("class_label", l));
      guidance.ifPresent(g -> b.input("guidance_scale", g));
      return b;
    }

    /** Adds the {@code images} outputs, in [0, 1] and as PNG bytes, to a signature. */
    Signature images(Signature.Builder b, Operand<TFloat32> samples) {
      Operand<TFloat32> images = SamplingLoop.toUnitRange(tf, samples);
      return b.output("images", images)
          .output("images_png_bytes", PngRows.encode(tf, images))
          .build();
    }
  }

  /** serving_default: the export's sampler and steps. */
  private static Signature servingDefault(Common c, SamplingPlan plan) {
    return c.images(
        c.signature(Signature.DEFAULT_KEY),
        SamplingLoop.compiled(
                c.tf(),
                plan,
                c.image(),
                c.net(),
                c.model().weights(),
                c.seed(),
                c.conditioning(),
                0)
            .samples());
  }

  /** sample: N (and DDIM's eta) per request, from a table of the plans for N = 1..max. */
  private static Signature sampleSignature(Common c, SamplerKind kind, IntFunction<Sampler> plans) {
    Ops tf = c.tf();
    int max = ExportMetadata.maxSampleSteps(kind, c.schedule().timesteps());
    PlanTable table =
        PlanTable.of(
            kind.configName() + " 1.." + max,
            n -> plans.apply(n).plan(c.schedule(), c.prediction()),
            max);
    Placeholder<TInt32> numSteps =
        c.in().withName("num_steps").placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
    Operand<TInt32> checkedSteps =
        withAssert(
            tf,
            numSteps,
            tf.math.logicalAnd(
                tf.math.greaterEqual(numSteps, tf.constant(1)),
                tf.math.lessEqual(numSteps, tf.constant(max))),
            "num_steps must be in [1, " + max + "]");
    // plan N runs its own number of model evaluations (N for most samplers, 2N - 1 for Heun)
    Operand<TInt32> offset =
        tf.gather(tf.constant(table.offsets().toArray()), checkedSteps, tf.constant(0));
    Operand<TInt32> evaluations =
        tf.gather(tf.constant(table.lengths().toArray()), checkedSteps, tf.constant(0));
    Optional<Placeholder<TFloat32>> eta = Optional.empty();
    Optional<Operand<TFloat32>> checkedEta = Optional.empty();
    if (kind == SamplerKind.DDIM) {
      Placeholder<TFloat32> e =
          c.in().withName("eta").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
      eta = Optional.of(e);
      checkedEta =
          Optional.of(
              withAssert(
                  tf,
                  e,
                  tf.math.logicalAnd(
                      tf.math.greaterEqual(e, tf.constant(0f)),
                      tf.math.lessEqual(e, tf.constant(1f))),
                  "eta must be in [0, 1]"));
    }
    Operand<TFloat32> sampled =
        SamplingLoop.compiled(
                tf,
                table.plan(),
                new SamplingLoop.RuntimeSteps(offset, evaluations, checkedEta),
                c.image(),
                c.net(),
                c.model().weights(),
                c.seed(),
                c.conditioning())
            .samples();
    Signature.Builder sample = c.signature("sample").input("num_steps", numSteps);
    eta.ifPresent(e -> sample.input("eta", e));
    return c.images(sample, sampled);
  }

  /** denoise: one evaluation of the network. */
  private static Signature denoiseSignature(Common c) {
    Ops tf = c.tf();
    UNetConfig config = c.model().config().model();
    int timesteps = c.schedule().timesteps();
    Placeholder<TFloat32> xt =
        c.in()
            .withName("x_t")
            .placeholder(
                TFloat32.class,
                Placeholder.shape(
                    Shape.of(-1, config.imageSize(), config.imageSize(), config.channels())));
    Placeholder<TInt32> t =
        c.in().withName("t").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
    Operand<TInt32> checkedT =
        withAssert(
            tf,
            t,
            tf.math.logicalAnd(
                tf.reduceAll(tf.math.greaterEqual(t, tf.constant(0)), tf.constant(0)),
                tf.reduceAll(tf.math.less(t, tf.constant(timesteps)), tf.constant(0))),
            "t must be in [0, " + timesteps + ")");
    Operand<TFloat32> eps =
        c.unet()
            .apply(
                NetScope.inference(
                    tf.withSubScope("denoise"),
                    new org.tfdiffusion.nn.BoundParameters(c.model().weights())),
                xt,
                checkedT,
                c.label().map(l -> checkedLabels(tf, l, config.numClasses())));
    Signature.Builder denoise =
        Signature.builder().key("denoise").methodName(PREDICT).input("x_t", xt).input("t", t);
    c.label().ifPresent(l -> denoise.input("class_label", l));
    return denoise.output("eps", eps).build();
  }

  /**
   * The {@code img2img} and {@code inpaint} signatures: the edits of docs/editing.md on
   * serving_default's plan (its sampler and N steps), the strength s per request, as {@code
   * ImageSampler} with {@code EditMode.imageToImage(s)} and {@code EditMode.inpaint(new
   * Inpainting(new Strength(s), Resampling.none()))} compute them:
   *
   * <pre>
   *   x_0 = 2 p - 1                                   p: the request's images in [0, 1]
   *   k = N - min(⌊N · s⌋, N),   x_{t_k} = √ᾱ_{t_k} x_0 + √(1 - ᾱ_{t_k}) ε,   ε from (seed_b, 0)
   *   steps k..N-1 of the plan; inpaint pastes the kept region (mask 0) after every step
   * </pre>
   *
   * Inputs: {@code seed} int64 [B], {@code images} float32 [B, H, W, C] in [0, 1] (the range of the
   * {@code images} outputs), {@code strength} float64 scalar in (0, 1] (float64 so that ⌊N · s⌋ is
   * the one Java and Python compute for a decimal s), {@code inpaint}'s {@code mask} float32 [B, H,
   * W, 1] in [0, 1] (1 = regenerate, 0 = keep), and {@code class_label}, {@code guidance_scale} for
   * conditional models. Images (and masks) outside [0, 1], a batch of images that is neither 1 nor
   * one per seed, and a strength that runs no step fail with an InvalidArgument error naming the
   * range.
   */
  private static List<Signature> editSignatures(Common c, SamplingPlan plan) {
    Ops tf = c.tf();
    Ops in = c.in();
    TrainedModel model = c.model();
    Shape image = c.image();
    SamplingLoop.Model net = c.net();
    Placeholder<TInt64> seed = c.seed();
    Optional<Placeholder<TInt32>> label = c.label();
    Optional<Placeholder<TFloat32>> guidance = c.guidance();
    List<Operand<?>> conditioning = c.conditioning();
    long size = image.get(0);
    Placeholder<TFloat32> pixels =
        in.withName("images")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, size, size, image.get(2))));
    Placeholder<TFloat64> strength =
        in.withName("strength").placeholder(TFloat64.class, Placeholder.shape(Shape.scalar()));
    Placeholder<TFloat32> mask =
        in.withName("mask")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, size, size, 1)));
    // x_0 = 2 p - 1, from pixels checked to lie in [0, 1] and to be 1 or one per seed
    Operand<TFloat32> x0 =
        tf.math.sub(
            tf.math.mul(
                tf.constant(2f),
                withAssert(
                    tf,
                    withAssert(
                        tf,
                        pixels,
                        inUnitRange(tf, pixels),
                        "images must be in [0, 1] (8-bit pixels divided by 255)"),
                    oneOrPerSeed(tf, pixels, seed),
                    "images must hold one image per seed (or one for every seed)")),
            tf.constant(1f));
    Operand<TFloat32> checkedMask =
        withAssert(
            tf,
            withAssert(
                tf,
                mask,
                inUnitRange(tf, mask),
                "mask must be in [0, 1] (1 = regenerate, 0 = keep; 8-bit masks divided by 255)"),
            oneOrPerSeed(tf, mask, seed),
            "mask must hold one mask per seed (or one for every seed)");
    ImageToImage.AtRuntime fromImage = ImageToImage.atRuntime(tf, plan, image, strength, x0, seed);
    ImageToImage.AtRuntime filled =
        Inpainting.atRuntime(tf, plan, image, strength, x0, checkedMask, seed);
    List<Signature> out = new ArrayList<>();
    for (ImageToImage.AtRuntime edit : List.of(fromImage, filled)) {
      boolean inpaint = edit == filled;
      Operand<TFloat32> edited =
          SamplingLoop.toUnitRange(
              tf,
              SamplingLoop.compiled(
                      tf,
                      edit.trajectory(),
                      edit.steps(),
                      image,
                      net,
                      model.weights(),
                      conditioning)
                  .samples());
      Signature.Builder b =
          Signature.builder()
              .key(inpaint ? INPAINT : IMG2IMG)
              .methodName(PREDICT)
              .input("seed", seed)
              .input("images", pixels);
      if (inpaint) {
        b.input("mask", mask);
      }
      b.input("strength", strength);
      label.ifPresent(l -> b.input("class_label", l));
      guidance.ifPresent(g -> b.input("guidance_scale", g));
      out.add(
          b.output("images", edited)
              .output("images_png_bytes", PngRows.encode(tf, edited))
              .build());
    }
    if (plan.steps() >= 2) {
      // RePaint from pure noise on the same plan, the jumps fixed at export
      Ops scope = tf.withSubScope("inpaint_repaint");
      Operand<TFloat32> repainted =
          SamplingLoop.toUnitRange(
              scope,
              SamplingLoop.compiled(
                      scope,
                      Inpainting.withResampling(repaintFor(plan.steps()))
                          .trajectory(scope, plan, image, x0, checkedMask, seed),
                      image,
                      net,
                      model.weights(),
                      conditioning,
                      0)
                  .samples());
      Signature.Builder b =
          Signature.builder()
              .key(INPAINT_REPAINT)
              .methodName(PREDICT)
              .input("seed", seed)
              .input("images", pixels)
              .input("mask", mask);
      label.ifPresent(l -> b.input("class_label", l));
      guidance.ifPresent(g -> b.input("guidance_scale", g));
      out.add(
          b.output("images", repainted)
              .output("images_png_bytes", PngRows.encode(scope, repainted))
              .build());
    }
    return out;
  }

  /** Whether every value of {@code x} lies in [0, 1]. */
  private static Operand<org.tensorflow.types.TBool> inUnitRange(Ops tf, Operand<TFloat32> x) {
    Operand<TInt32> all = tf.range(tf.constant(0), tf.rank(x), tf.constant(1));
    return tf.math.logicalAnd(
        tf.reduceAll(tf.math.greaterEqual(x, tf.constant(0f)), all),
        tf.reduceAll(tf.math.lessEqual(x, tf.constant(1f)), all));
  }

  /** Whether {@code x} has 1 row or one per seed. */
  private static Operand<org.tensorflow.types.TBool> oneOrPerSeed(
      Ops tf, Operand<TFloat32> x, Operand<TInt64> seeds) {
    Operand<TInt32> rows = tf.gather(tf.shape(x), tf.constant(0), tf.constant(0));
    Operand<TInt32> seedRows = tf.gather(tf.shape(seeds), tf.constant(0), tf.constant(0));
    return tf.math.logicalOr(tf.math.equal(rows, tf.constant(1)), tf.math.equal(rows, seedRows));
  }

  /** Labels checked to lie in [0, classes] (classes itself is the null label, unconditional). */
  private static Operand<TInt32> checkedLabels(Ops tf, Operand<TInt32> labels, int classes) {
    return withAssert(
        tf,
        labels,
        tf.math.logicalAnd(
            tf.reduceAll(tf.math.greaterEqual(labels, tf.constant(0)), tf.constant(0)),
            tf.reduceAll(tf.math.lessEqual(labels, tf.constant(classes)), tf.constant(0))),
        "class_label must be in [0, " + (classes - 1) + "] (or " + classes + " for unconditional)");
  }

  /** {@code value}, after an assertion that fails the request with {@code message}. */
  private static <T extends org.tensorflow.types.family.TType> Operand<T> withAssert(
      Ops tf, Operand<T> value, Operand<org.tensorflow.types.TBool> condition, String message) {
    return tf.withControlDependencies(
            List.of(tf.assertThat(condition, List.of(tf.constant(message)))))
        .identity(value);
  }

  private static void writeMetadata(
      Path dir,
      TrainedModel model,
      SamplingPlan plan,
      SamplerKind kind,
      String name,
      Double defaultGuidance)
      throws IOException {
    TrainConfig config = model.config();
    if (defaultGuidance != null && config.conditioning().enabled()) {
      TrainConfig.Conditioning c = config.conditioning();
      config =
          config.withConditioning(
              new TrainConfig.Conditioning(true, c.pUncond(), defaultGuidance, c.classNames()));
    }
    int timesteps = config.noiseSchedule().timesteps();
    new ExportMetadata(
            name,
            Instant.now().toString(),
            model.checkpoint().runDir().toAbsolutePath().toString(),
            model.checkpoint().state().step(),
            model.which(),
            plan.name(),
            plan.steps(),
            Optional.of(kind),
            ExportMetadata.maxSampleSteps(kind, timesteps),
            config.conditioning().classNames(),
            config.conditioning().guidance(),
            List.of(
                config.model().imageSize(), config.model().imageSize(), config.model().channels()),
            config)
        .write(dir);
  }

  /**
   * BASE/models.config for {@code tensorflow_model_server --model_config_file}: every model folder
   * under BASE that holds a version, with base paths under /models (the docker image's convention).
   */
  static String modelsConfig(Path base) throws IOException {
    StringBuilder s = new StringBuilder("model_config_list {\n");
    List<String> names;
    try (Stream<Path> entries = Files.list(base)) {
      names =
          entries
              .filter(Files::isDirectory)
              .filter(m -> !versionNumbers(m).isEmpty())
              .map(m -> m.getFileName().toString())
              .sorted()
              .toList();
    }
    for (String n : names) {
      s.append("  config {\n")
          .append("    name: \"")
          .append(n)
          .append("\"\n")
          .append("    base_path: \"/models/")
          .append(n)
          .append("\"\n")
          .append("    model_platform: \"tensorflow\"\n")
          .append("  }\n");
    }
    s.append("}\n");
    return s.toString();
  }

  private static void deleteQuietly(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      // a leftover hidden temporary folder is ignored by servers; nothing else to do
    }
  }
}
