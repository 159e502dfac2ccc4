package org.tfdiffusion.api;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tfdiffusion.eval.ModelSource;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.ConvKernels;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.ImageSampler;
import org.tfdiffusion.train.TrainConfig;
import org.tfdiffusion.train.TrainedModel;

/**
 * Generates images from a trained model: a run folder (its latest checkpoint, EMA weights), a
 * checkpoint folder, or an export ({@code saved_models/NAME} or {@code saved_models/NAME/VERSION}).
 * Both sample with DPM-Solver++ on this machine's fastest float32 kernels (an export's weights are
 * loaded into this process's own sampling graph).
 *
 * <pre>{@code
 * try (Generator generator = Generator.open(Path.of("saved_models/fashion-mnist"))) {
 *   List<GeneratedImage> images =
 *       generator.generate(Request.of(0, 1, 2, 3).withClass("Trouser").withGuidance(2));
 *   images.get(0).writePng(Path.of("trouser-0.png"), 2);
 * }
 * }</pre>
 *
 * The same seed gives the same image in any batch. Not thread-safe; owns native resources (close
 * it).
 */
public final class Generator implements AutoCloseable {
  private static final int DEFAULT_STEPS = 20;

  private final ModelSource source;
  private final Map<Integer, ImageSampler> bySteps = new HashMap<>();
  private boolean closed;

  private Generator(ModelSource source) {
    this.source = source;
  }

  /**
   * Opens a run, a checkpoint or an export.
   *
   * @throws IllegalArgumentException naming the path when it holds none of them
   */
  public static Generator open(Path path) {
    checkArgument(Files.exists(path), "%s does not exist; give a run folder or an export", path);
    boolean export =
        Files.isRegularFile(path.resolve("saved_model.pb"))
            || !ModelExporter.versions(path).isEmpty();
    return new Generator(
        export ? ModelSource.export(path) : ModelSource.run(path, TrainedModel.Weights.EMA));
  }

  /** What was opened, for logs. */
  public String description() {
    return source.description();
  }

  /** The class names, index = label; empty for an unconditional model. */
  public List<String> classNames() {
    return config().conditioning().classNames();
  }

  /** Image height and width in pixels. */
  public int imageSize() {
    return config().model().imageSize();
  }

  /** 1 (gray) or 3 (RGB). */
  public int channels() {
    return config().model().channels();
  }

  /**
   * Generates one image per seed of the request.
   *
   * @throws IllegalArgumentException for a class the model does not know, a class asked of an
   *     unconditional model, or more steps than the model offers
   */
  public List<GeneratedImage> generate(Request request) {
    checkState(!closed, "this generator is closed");
    TrainConfig config = config();
    UNetConfig model = config.model();
    long[] seeds = request.seeds();
    int n = seeds.length;
    int[] labels = new int[0];
    float[] guidance = new float[0];
    Optional<String> className = Optional.empty();
    if (model.conditional()) {
      String wanted =
          request
              .className()
              .orElseThrow(
                  () ->
                      new IllegalArgumentException(
                          "this model is class-conditional: name a class, one of "
                              + String.join(", ", classNames())));
      int label = config.conditioning().classIndex(wanted);
      className = Optional.of(classNames().get(label));
      labels = new int[n];
      guidance = new float[n];
      java.util.Arrays.fill(labels, label);
      java.util.Arrays.fill(
          guidance, (float) (double) request.guidance().orElse(config.conditioning().guidance()));
    } else {
      checkArgument(
          request.className().isEmpty() && request.guidance().isEmpty(),
          "this model is unconditional: it takes no class or guidance");
    }
    int steps = request.steps().orElse(DEFAULT_STEPS);
    float[] pixels = sampler(steps).sample(seeds, labels, guidance, i -> {}).pixels();
    int size = model.imageSize() * model.imageSize() * model.channels();
    List<GeneratedImage> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out.add(
          new GeneratedImage(
              seeds[i],
              className,
              model.imageSize(),
              model.imageSize(),
              model.channels(),
              java.util.Arrays.copyOfRange(pixels, i * size, (i + 1) * size)));
    }
    return out;
  }

  private TrainConfig config() {
    return source.config();
  }

  private ImageSampler sampler(int steps) {
    ImageSampler sampler = bySteps.get(steps);
    if (sampler == null) {
      int timesteps = config().noiseSchedule().timesteps();
      checkArgument(
          steps <= timesteps,
          "steps %s must be at most the model's %s timesteps",
          steps,
          timesteps);
      SessionOptions options =
          SessionOptions.sampling().withNativeConvolutions(ConvKernels.AUTO.resolve(false, false));
      sampler = source.sampler(SamplerKind.DPMPP.create(steps, 0), false, 0, options);
      bySteps.put(steps, sampler);
    }
    return sampler;
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      bySteps.values().forEach(ImageSampler::close);
      bySteps.clear();
    }
  }
}
