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
import org.tfdiffusion.run.EditInputs;
import org.tfdiffusion.run.EditMode;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.sampling.editing.Inpainting;

/**
 * Generates images from a trained model: a run folder (its latest checkpoint, EMA weights), a
 * checkpoint folder, or an export ({@code saved_models/NAME} or {@code saved_models/NAME/VERSION}).
 * Both sample with DPM-Solver++ (a distilled student: DDIM at the steps it was distilled to) on
 * this machine's fastest float32 kernels (an export's weights are loaded into this process's own
 * sampling graph).
 *
 * <pre>{@code
 * try (Generator generator = Generator.open(Path.of("saved_models/fashion-mnist"))) {
 *   List<GeneratedImage> images =
 *       generator.generate(Request.of(0, 1, 2, 3).withClass("Trouser").withGuidance(2));
 *   images.get(0).writePng(Path.of("trouser-0.png"), 2);
 * }
 * }</pre>
 *
 * <p>Besides images from noise it edits given images: {@link #imageToImage}, {@link #inpaint} and
 * {@link #interpolate} between two seeds (see docs/editing.md):
 *
 * <pre>{@code
 * InputImage photo = InputImage.read(Path.of("shirt.png"));
 * List<GeneratedImage> variations = generator.imageToImage(Request.of(1, 2, 3), photo, 0.6);
 * List<GeneratedImage> filled =
 *     generator.inpaint(Request.of(1), photo, InputImage.read(Path.of("mask.png")));
 * List<GeneratedImage> frames = generator.interpolate(Request.of(3, 7), 8);
 * }</pre>
 *
 * The same seed gives the same image in any batch. Not thread-safe; owns native resources (close
 * it).
 */
public final class Generator implements AutoCloseable {
  private static final int DEFAULT_STEPS = 20;

  private final ModelSource source;
  private final Map<Key, ImageSampler> samplers = new HashMap<>();
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
    Conditioning c = conditioning(request, request.seeds().length);
    float[] pixels =
        sampler(request, EditMode.plain())
            .sample(request.seeds(), c.labels, c.guidance, i -> {})
            .pixels();
    return images(request.seeds(), c.className, pixels);
  }

  /**
   * Image-to-image (SDEdit): {@code image} noised to {@code strength} with each seed's noise and
   * denoised from there, one result per seed. At strength 1 the image is unused and the results are
   * {@link #generate}'s; near 0 they stay close to the image. See docs/editing.md.
   *
   * @param strength in (0, 1]: the share of the sampler's steps that run
   * @throws IllegalArgumentException for a strength outside (0, 1] or one that runs no step at the
   *     request's steps, an image of another size than the model's, or a bad class (see {@link
   *     #generate})
   */
  public List<GeneratedImage> imageToImage(Request request, InputImage image, double strength) {
    checkArgument(
        strength > 0 && strength <= 1,
        "strength %s is out of range: give a number in (0, 1] (1 = from pure noise, the image"
            + " unused)",
        strength);
    Conditioning c = conditioning(request, request.seeds().length);
    UNetConfig model = config().model();
    EditInputs inputs =
        EditInputs.image(image.toModel("image", model.imageSize(), model.channels()), 1);
    float[] pixels =
        sampler(request, EditMode.imageToImage(strength))
            .sample(request.seeds(), c.labels, c.guidance, inputs, i -> {})
            .pixels();
    return images(request.seeds(), c.className, pixels);
  }

  /**
   * Inpainting from pure noise without resampling: regenerates the pixels where {@code mask} is
   * white and keeps {@code image}'s where it is black, one result per seed.
   *
   * @see #inpaint(Request, InputImage, InputImage, Inpainting)
   */
  public List<GeneratedImage> inpaint(Request request, InputImage image, InputImage mask) {
    return inpaint(request, image, mask, Inpainting.plain());
  }

  /**
   * Inpainting: regenerates the pixels where {@code mask} is white (1), keeps {@code image}'s where
   * it is black (0) exactly, and blends them where it is gray, one result per seed; with {@code
   * inpainting}'s strength and RePaint's resampling (see docs/editing.md).
   *
   * @param mask gray, the image's size
   * @throws IllegalArgumentException for an image or mask of another size than the model's, a mask
   *     with colours, a strength or resampling that does not fit the request's steps, or a bad
   *     class
   */
  public List<GeneratedImage> inpaint(
      Request request, InputImage image, InputImage mask, Inpainting inpainting) {
    checkArgument(
        mask.isGray(), "the mask has colours: give a gray one (white = regenerate, black = keep)");
    Conditioning c = conditioning(request, request.seeds().length);
    UNetConfig model = config().model();
    EditInputs inputs =
        EditInputs.inpaint(
            image.toModel("image", model.imageSize(), model.channels()),
            1,
            mask.toModel("mask", model.imageSize(), 1),
            1);
    float[] pixels =
        sampler(request, EditMode.inpaint(inpainting))
            .sample(request.seeds(), c.labels, c.guidance, inputs, i -> {})
            .pixels();
    return images(request.seeds(), c.className, pixels);
  }

  /**
   * The frames between the images of the request's two seeds: their starting noises spherically
   * interpolated, each frame sampled with DPM-Solver++ (deterministic), frame 0 equal to {@link
   * #generate}'s image of the first seed and the last to the second's. Every frame's {@code seed()}
   * is the first seed.
   *
   * @param frames at least 2, the two seeds' own images included
   * @throws IllegalArgumentException for a request without exactly two seeds, fewer than 2 frames,
   *     or a bad class
   */
  public List<GeneratedImage> interpolate(Request request, int frames) {
    long[] ends = request.seeds();
    checkArgument(
        ends.length == 2,
        "interpolation runs between two seeds: give Request.of(seedA, seedB), got %s seeds",
        ends.length);
    checkArgument(frames >= 2, "frames must be >= 2 (the two seeds' own images), got %s", frames);
    Conditioning c = conditioning(request, 1);
    float[] pixels =
        sampler(request, EditMode.interpolate(frames))
            .interpolate(
                ends[0],
                ends[1],
                c.labels.length == 0 ? 0 : c.labels[0],
                c.guidance.length == 0 ? 0f : c.guidance[0],
                i -> {})
            .pixels();
    long[] seeds = new long[frames];
    java.util.Arrays.fill(seeds, ends[0]);
    return images(seeds, c.className, pixels);
  }

  /** The labels and guidance scales of {@code n} rows, empty for an unconditional model. */
  private record Conditioning(int[] labels, float[] guidance, Optional<String> className) {}

  private Conditioning conditioning(Request request, int n) {
    checkState(!closed, "this generator is closed");
    TrainConfig config = config();
    if (!config.model().conditional()) {
      checkArgument(
          request.className().isEmpty() && request.guidance().isEmpty(),
          "this model is unconditional: it takes no class or guidance");
      return new Conditioning(new int[0], new float[0], Optional.empty());
    }
    String wanted =
        request
            .className()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "this model is class-conditional: name a class, one of "
                            + String.join(", ", classNames())));
    int label = config.conditioning().classIndex(wanted);
    int[] labels = new int[n];
    float[] guidance = new float[n];
    java.util.Arrays.fill(labels, label);
    java.util.Arrays.fill(
        guidance, (float) (double) request.guidance().orElse(config.conditioning().guidance()));
    return new Conditioning(labels, guidance, Optional.of(classNames().get(label)));
  }

  /** One image per seed from the sampler's pixels. */
  private List<GeneratedImage> images(long[] seeds, Optional<String> className, float[] pixels) {
    UNetConfig model = config().model();
    int size = model.imageSize() * model.imageSize() * model.channels();
    List<GeneratedImage> out = new ArrayList<>(seeds.length);
    for (int i = 0; i < seeds.length; i++) {
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

  /** A sampling graph: the steps and what it draws. */
  private record Key(int steps, EditMode mode) {}

  private ImageSampler sampler(Request request, EditMode mode) {
    // a distilled student samples with the DDIM steps it learnt (see TrainConfig.Distillation)
    TrainConfig.Distillation distilled = config().distillation();
    SamplerKind kind = distilled.active() ? SamplerKind.DDIM : SamplerKind.DPMPP;
    int steps = request.steps().orElse(distilled.active() ? distilled.steps() : DEFAULT_STEPS);
    Key key = new Key(steps, mode);
    ImageSampler sampler = samplers.get(key);
    if (sampler == null) {
      int timesteps = config().noiseSchedule().timesteps();
      checkArgument(
          steps <= timesteps,
          "steps %s must be at most the model's %s timesteps",
          steps,
          timesteps);
      SessionOptions options =
          SessionOptions.sampling().withNativeConvolutions(ConvKernels.AUTO.resolve(false, false));
      sampler = source.sampler(kind.create(steps, 0), mode, false, 0, options);
      samplers.put(key, sampler);
    }
    return sampler;
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      samplers.values().forEach(ImageSampler::close);
      samplers.clear();
    }
  }
}
