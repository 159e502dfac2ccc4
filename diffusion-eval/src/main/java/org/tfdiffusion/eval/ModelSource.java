package org.tfdiffusion.eval;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.Tensor;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.eval.classifier.FashionClassifier;
import org.tfdiffusion.graph.BigStack;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.EditMode;
import org.tfdiffusion.run.ExportMetadata;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.DdpmSampler;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.sampling.SamplingPlan;

/**
 * The model under evaluation: a training run (its latest checkpoint, or one checkpoint) sampled
 * with {@link ImageSampler}, or an exported SavedModel sampled through its {@code serving_default}
 * or {@code sample} signature. Knows the model's config, where its evaluation files go and how to
 * name them.
 */
public final class ModelSource {
  private final TrainConfig config;
  private final String description;
  private final Path evalDir;
  private final String tag;
  private final Path path;
  private final TrainedModel.Weights weights;
  private final Optional<ExportedModel> export;

  private ModelSource(
      TrainConfig config,
      String description,
      Path evalDir,
      String tag,
      Path path,
      TrainedModel.Weights weights,
      Optional<ExportedModel> export) {
    this.config = config;
    this.description = description;
    this.evalDir = evalDir;
    this.tag = tag;
    this.path = path;
    this.weights = weights;
    this.export = export;
  }

  /**
   * A run folder (its latest checkpoint) or a checkpoint folder; evaluations go to RUN/eval/.
   *
   * @throws IllegalArgumentException naming the path when it is no run or checkpoint
   */
  public static ModelSource run(Path path, TrainedModel.Weights weights) {
    checkArgument(
        Files.exists(path),
        "%s does not exist; give a run folder (runs/...) or a checkpoint",
        path);
    Checkpoints.Checkpoint checkpoint = Checkpoints.resolve(path);
    Path runDir = checkpoint.runDir();
    TrainConfig config = RunDirectory.open(runDir).config();
    String what =
        String.format(
            "run %s, %s weights of step %d",
            runDir, weights.configName(), checkpoint.state().step());
    String tag =
        "step" + checkpoint.state().step() + (weights == TrainedModel.Weights.RAW ? "-raw" : "");
    return new ModelSource(
        config, what, runDir.resolve("eval"), tag, checkpoint.dir(), weights, Optional.empty());
  }

  /**
   * An export, {@code saved_models/NAME} (its highest version) or {@code
   * saved_models/NAME/VERSION}; evaluations go to saved_models/NAME/eval/ (TensorFlow Serving
   * ignores a folder whose name is not a number).
   *
   * @throws IllegalArgumentException when the folder holds no tfdiffusion export
   */
  public static ModelSource export(Path path) {
    ExportedModel e = ExportedModel.open(path);
    return new ModelSource(
        e.config(),
        e.description(),
        e.versionDir().getParent().resolve("eval"),
        "v" + e.versionDir().getFileName(),
        e.versionDir(),
        e.metadata().weights(),
        Optional.of(e));
  }

  /** The model's training config (from config.json, or from the export's metadata). */
  public TrainConfig config() {
    return config;
  }

  /** One line for logs and reports. */
  public String description() {
    return description;
  }

  /** Where evaluation files go: RUN/eval/ or saved_models/NAME/eval/. */
  public Path evalDir() {
    return evalDir;
  }

  /** What distinguishes this model in file names: {@code step600} or {@code v3}. */
  public String tag() {
    return tag;
  }

  /** Whether this is an export. */
  public boolean isExport() {
    return export.isPresent();
  }

  /** An export's metadata, empty for a run. */
  public Optional<ExportMetadata> exportMetadata() {
    return export.map(ExportedModel::metadata);
  }

  /**
   * The sampler kind an export's signatures sample with, as its metadata records it.
   *
   * @throws IllegalStateException for a run (any kind samples a run)
   * @throws IllegalArgumentException for an export whose metadata names no sampler kind
   */
  public SamplerKind exportSamplerKind() {
    ExportMetadata meta =
        exportMetadata()
            .orElseThrow(() -> new IllegalStateException("a run samples with any sampler kind"));
    return meta.samplerKind()
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    "the export's sampler '"
                        + meta.sampler()
                        + "' names no sampler; export it again"));
  }

  /**
   * Refuses models the Fashion-MNIST classifier cannot judge.
   *
   * @throws IllegalArgumentException naming the model's shape when it is not 28×28×1
   */
  public void checkFashionMnistShape() {
    UNetConfig m = config.model();
    if (m.imageSize() != FashionClassifier.IMAGE_SIZE
        || m.channels() != FashionClassifier.CHANNELS) {
      throw new IllegalArgumentException(
          String.format(
              "eval judges samples with a Fashion-MNIST classifier, which takes 28x28x1 images;"
                  + " this model makes %dx%dx%d images (%s). Evaluate a model trained at"
                  + " --image-size 28 with 1 channel (e.g. train --preset fashion-mnist or demo)",
              m.imageSize(), m.imageSize(), m.channels(), description));
    }
    if (m.conditional() && m.numClasses() != FashionClassifier.CLASSES) {
      throw new IllegalArgumentException(
          String.format(
              "this model has %d classes, Fashion-MNIST has %d; class accuracy needs the same"
                  + " classes",
              m.numClasses(), FashionClassifier.CLASSES));
    }
  }

  /**
   * Opens a generator for {@code sampler}: an export's own signatures when they can draw its plan
   * ({@link #signaturesCanSample}), otherwise the export's weights in this process's sampling
   * graph.
   *
   * @throws IllegalArgumentException when the sampler does not fit the model's schedule, or for an
   *     export whose metadata names no sampler kind
   */
  public ImageGenerator open(Sampler sampler) {
    return open(sampler, SessionOptions.sampling());
  }

  /**
   * The model in a sampling graph of this process's own, for runs and exports alike: any sampler,
   * the host or the compiled loop, this machine's kernels (an export's weights are loaded into it;
   * its own signatures are not used).
   */
  public ImageSampler sampler(
      Sampler sampler, boolean host, int snapshots, SessionOptions options) {
    return sampler(sampler, EditMode.plain(), host, snapshots, options);
  }

  /**
   * {@link #sampler(Sampler, boolean, int, SessionOptions)} drawing an edit (image-to-image,
   * inpainting, interpolation), for runs and exports alike.
   */
  public ImageSampler sampler(
      Sampler sampler, EditMode edit, boolean host, int snapshots, SessionOptions options) {
    return export.isPresent()
        ? ImageSampler.openExport(export.get(), sampler, edit, host, snapshots, options)
        : ImageSampler.open(path, weights, sampler, edit, host, snapshots, options);
  }

  /**
   * {@link #open(Sampler)} with the given runtime options. An export runs as exported (its serving
   * signatures, standard TensorFlow ops), except under bfloat16, which only this process's sampling
   * graph has: then the export's weights are loaded into that graph.
   */
  public ImageGenerator open(Sampler sampler, SessionOptions options) {
    SamplingPlan plan = sampler.plan(config.noiseSchedule(), config.predictionType());
    if (export.isEmpty()) {
      ImageSampler images = ImageSampler.open(path, weights, sampler, false, 0, options);
      return new RunGenerator(images);
    }
    if (options.bfloat16() || !signaturesCanSample(sampler)) {
      return new RunGenerator(
          ImageSampler.openExport(export.get(), sampler, false, 0, options),
          " (the export's weights in this process's sampling graph)");
    }
    return new ExportGenerator(path, sampler, plan, export.get().metadata().sampler());
  }

  /**
   * Whether the export's own signatures can draw {@code sampler}'s plan: its sampler kind, at most
   * as many steps as its sample signature offers, its x̂₀ guard, as its metadata records them.
   * Otherwise the export's weights are loaded into this process's sampling graph, which samples
   * with any sampler.
   *
   * @throws IllegalStateException for a run
   * @throws IllegalArgumentException for an export whose metadata names no sampler kind
   */
  boolean signaturesCanSample(Sampler sampler) {
    SamplerKind exportKind = exportSamplerKind();
    ExportMetadata meta = export.orElseThrow().metadata();
    SamplingPlan plan = sampler.plan(config.noiseSchedule(), config.predictionType());
    return kindOf(sampler) == exportKind
        && plan.steps() <= meta.maxSteps()
        && exportGuard(meta.sampler()).equals(plan.x0Guard().toString());
  }

  /** The x̂₀ guard written in an export's plan name, {@code none} when it names none. */
  static String exportGuard(String exportSampler) {
    return exportSampler.contains(", x0=")
        ? exportSampler.substring(exportSampler.indexOf(", x0=") + 5).replaceAll("[,)].*", "")
        : "none";
  }

  /** The kind of a sampler value. */
  public static SamplerKind kindOf(Sampler sampler) {
    if (sampler instanceof DdpmSampler) {
      return SamplerKind.DDPM;
    }
    if (sampler instanceof DdimSampler) {
      return SamplerKind.DDIM;
    }
    if (sampler instanceof DpmSolverPlusPlusSampler dpm) {
      return dpm.sde() ? SamplerKind.DPMPP_SDE : SamplerKind.DPMPP;
    }
    if (sampler instanceof org.tfdiffusion.sampling.DpmSolverSampler) {
      return SamplerKind.DPM_SOLVER;
    }
    if (sampler instanceof org.tfdiffusion.sampling.UniPcSampler) {
      return SamplerKind.UNIPC;
    }
    if (sampler instanceof org.tfdiffusion.sampling.EulerSampler) {
      return SamplerKind.EULER;
    }
    if (sampler instanceof org.tfdiffusion.sampling.EulerAncestralSampler) {
      return SamplerKind.EULER_ANCESTRAL;
    }
    if (sampler instanceof org.tfdiffusion.sampling.HeunSampler) {
      return SamplerKind.HEUN;
    }
    if (sampler instanceof org.tfdiffusion.sampling.LmsSampler) {
      return SamplerKind.LMS;
    }
    if (sampler instanceof org.tfdiffusion.sampling.PndmSampler) {
      return SamplerKind.PNDM;
    }
    if (sampler instanceof org.tfdiffusion.sampling.DeisSampler) {
      return SamplerKind.DEIS;
    }
    throw new IllegalArgumentException("unknown sampler " + sampler);
  }

  private static final class RunGenerator implements ImageGenerator {
    private final ImageSampler images;
    private final String suffix;

    RunGenerator(ImageSampler images) {
      this(images, "");
    }

    RunGenerator(ImageSampler images, String suffix) {
      this.images = images;
      this.suffix = suffix;
    }

    @Override
    public String samplerName() {
      return images.plan().name() + suffix;
    }

    @Override
    public int steps() {
      return images.plan().steps();
    }

    @Override
    public float[] generate(long[] seeds, int[] labels, float[] guidance) {
      return images.sample(seeds, labels, guidance, i -> {}).pixels();
    }

    @Override
    public void close() {
      images.close();
    }
  }

  /** Calls an export's serving_default (its own sampler) or sample (N and η per request). */
  private static final class ExportGenerator implements ImageGenerator {
    private final SavedModelBundle bundle;
    private final SessionFunction function;
    private final boolean runtimeSteps;
    private final SamplingPlan plan;
    private final Double eta;

    /** For a plan the export's signatures can draw ({@link #signaturesCanSample}). */
    ExportGenerator(Path dir, Sampler sampler, SamplingPlan plan, String exportSampler) {
      this.plan = plan;
      this.runtimeSteps = !plan.name().equals(exportSampler);
      this.eta = sampler instanceof DdimSampler d ? d.eta() : null;
      this.bundle = SavedModelBundle.load(dir.toString(), "serve");
      this.function = bundle.function(runtimeSteps ? "sample" : "serving_default");
    }

    @Override
    public String samplerName() {
      return plan.name() + (runtimeSteps ? " (export's sample signature)" : " (export's default)");
    }

    @Override
    public int steps() {
      return plan.steps();
    }

    @Override
    public float[] generate(long[] seeds, int[] labels, float[] guidance) {
      Map<String, Tensor> inputs = new HashMap<>();
      try {
        inputs.put("seed", TensorIO.longs(seeds));
        if (labels.length > 0) {
          inputs.put("class_label", TInt32.vectorOf(labels));
          inputs.put("guidance_scale", TFloat32.vectorOf(guidance));
        }
        if (runtimeSteps) {
          inputs.put("num_steps", TInt32.scalarOf(plan.steps()));
          if (eta != null) {
            inputs.put("eta", TFloat32.scalarOf(eta.floatValue()));
          }
        }
        try (Result r = BigStack.call(() -> function.call(inputs))) {
          return TensorIO.toFloats(r.get("images").orElseThrow());
        }
      } finally {
        inputs.values().forEach(Tensor::close);
      }
    }

    @Override
    public void close() {
      bundle.close();
    }
  }
}
