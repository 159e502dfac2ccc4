package org.tfdiffusion.cli;

import java.nio.file.Path;
import java.util.Optional;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.ImageFit;
import org.tfdiffusion.data.PixelImage;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.EditInputs;
import org.tfdiffusion.run.EditMode;
import org.tfdiffusion.sampling.editing.Inpainting;
import org.tfdiffusion.sampling.editing.Resampling;
import org.tfdiffusion.sampling.editing.Strength;
import picocli.CommandLine.Option;

/**
 * The editing options of {@code sample} (picocli mixin): image-to-image ({@code --init}, {@code
 * --strength}), inpainting ({@code --mask}, RePaint's {@code --jump-length} and {@code
 * --resample-count}) and interpolation between two seeds ({@code --interpolate}, {@code --frames}).
 * See docs/editing.md.
 */
final class EditOptions {
  /** The strength of {@code --init} when none is given. */
  static final double DEFAULT_STRENGTH = 0.6;

  /** The frames of {@code --interpolate} when none are given. */
  static final int DEFAULT_FRAMES = 8;

  /** The most frames of one strip (one batch of {@code sample}). */
  static final int MAX_FRAMES = SampleCommand.BATCH;

  @Option(
      names = "--init",
      paramLabel = "IMAGE",
      description =
          "Image-to-image (SDEdit): start from this PNG or JPEG noised to --strength, not from pure"
              + " noise; one result per seed.")
  Path init;

  @Option(
      names = "--strength",
      paramLabel = "S",
      description =
          "How far results move from --init, in (0, 1]: the share of the sampler's steps that"
              + " run (1 = from pure noise, the image unused) (default: "
              + DEFAULT_STRENGTH
              + " with --init alone, 1 with --mask).")
  Double strength;

  @Option(
      names = "--mask",
      paramLabel = "MASK",
      description =
          "Inpainting of --init: a PNG of its size, white where pixels are regenerated, black"
              + " where they are kept (grays blend).")
  Path mask;

  @Option(
      names = "--jump-length",
      paramLabel = "L",
      description =
          "RePaint's resampling with --mask: after every L steps go back L steps (default: "
              + Resampling.REPAINT_JUMP_LENGTH
              + ", the paper's; below the steps that run).")
  Integer jumpLength;

  @Option(
      names = "--resample-count",
      paramLabel = "U",
      description =
          "RePaint's resampling with --mask: each stretch of L steps runs U times (default: 1, no"
              + " resampling; the paper's 10 runs about 10 times the steps).")
  Integer resampleCount;

  @Option(
      names = "--fit",
      paramLabel = "MODE",
      converter = NamedOption.Fit.class,
      completionCandidates = NamedOption.Fit.class,
      description =
          "Brings an --init (and its --mask) of another size to the model's, as train --fit does:"
              + " center-crop (the centred square, resized), resize (stretched), pad (a border"
              + " around a smaller image) or auto (center-crop) (default: refuse another size).")
  FitMode fit;

  @Option(
      names = "--interpolate",
      paramLabel = "SEED_A,SEED_B",
      description =
          "A strip of --frames images between two seeds' images (spherical interpolation of their"
              + " starting noises, sampled with a deterministic sampler); with --out X.gif also an"
              + " animation.")
  String interpolate;

  @Option(
      names = "--frames",
      paramLabel = "N",
      description =
          "Frames of --interpolate, the two seeds' own images included (default: "
              + DEFAULT_FRAMES
              + ", at most "
              + MAX_FRAMES
              + ").")
  Integer frames;

  /** Whether any editing option is given. */
  boolean editing() {
    return init != null || interpolate != null;
  }

  /** Whether this is an interpolation. */
  boolean interpolating() {
    return interpolate != null;
  }

  /**
   * Checks that the options go together, before anything is loaded.
   *
   * @param seedOrCountGiven whether {@code --seed} or {@code -n} was given
   * @throws IllegalArgumentException naming the option and the fix
   */
  void check(boolean seedOrCountGiven) {
    if (interpolate != null) {
      require(
          init == null && mask == null,
          "--interpolate samples between two seeds from noise: it takes no --init or --mask");
      require(
          !seedOrCountGiven,
          "--interpolate draws --frames images between its two seeds: drop --seed and -n");
      seeds();
      int f = frameCount();
      require(
          f >= 2 && f <= MAX_FRAMES,
          "--frames %s is out of range: give 2 to %s (the two seeds' own images included)",
          f,
          MAX_FRAMES);
    } else {
      require(frames == null, "--frames goes with --interpolate SEED_A,SEED_B");
    }
    require(
        mask == null || init != null,
        "--mask needs the image to inpaint: give it with --init IMAGE");
    require(
        strength == null || init != null,
        "--strength goes with --init IMAGE (image-to-image) or --init IMAGE --mask MASK"
            + " (inpainting)");
    require(
        (jumpLength == null && resampleCount == null) || mask != null,
        "--jump-length and --resample-count are RePaint's resampling for inpainting: give --init"
            + " IMAGE --mask MASK");
    require(fit == null || init != null, "--fit brings --init (and --mask) to the model's size");
    if (strength != null) {
      double s = strength;
      require(
          s > 0 && s <= 1,
          "--strength %s is out of range: give a number in (0, 1] (1 = from pure noise, the image"
              + " unused; near 0 = close to the image)",
          strength);
    }
    require(
        jumpLength == null || jumpLength >= 1,
        "--jump-length must be >= 1 step, got %s",
        jumpLength);
    require(
        resampleCount == null || resampleCount >= 1,
        "--resample-count must be >= 1 (1 = no resampling), got %s",
        resampleCount);
  }

  /** The edit the options ask for. */
  EditMode mode() {
    if (interpolate != null) {
      return EditMode.interpolate(frameCount());
    }
    if (init == null) {
      return EditMode.plain();
    }
    if (mask == null) {
      return EditMode.imageToImage(strength != null ? strength : DEFAULT_STRENGTH);
    }
    int count = resampleCount != null ? resampleCount : 1;
    int length = jumpLength != null ? jumpLength : Resampling.REPAINT_JUMP_LENGTH;
    Resampling resampling = count > 1 ? new Resampling(length, count) : Resampling.none();
    return EditMode.inpaint(
        new Inpainting(strength != null ? new Strength(strength) : Strength.FULL, resampling));
  }

  /** The two seeds of {@code --interpolate}. */
  long[] seeds() {
    String[] parts = interpolate.split(",", -1);
    require(
        parts.length == 2,
        "--interpolate takes two seeds, SEED_A,SEED_B (e.g. 3,7), got '%s'",
        interpolate);
    long[] out = new long[2];
    for (int i = 0; i < 2; i++) {
      try {
        out[i] = Long.parseLong(parts[i].trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            String.format(
                "--interpolate takes two whole-number seeds, SEED_A,SEED_B (e.g. 3,7), got '%s'",
                interpolate));
      }
    }
    return out;
  }

  int frameCount() {
    return frames != null ? frames : DEFAULT_FRAMES;
  }

  /** What was read: the inputs in the model's shape and one line per file for the log. */
  record Read(EditInputs inputs, String log) {}

  /**
   * Reads {@code --init} (and {@code --mask}) and brings them to the model's shape: channels as
   * training converts them, the size by {@code --fit}.
   *
   * @throws IllegalArgumentException for a missing or unreadable file, an image of another size
   *     without {@code --fit}, a mask of another size than its image or a mask with colours
   */
  Read read(UNetConfig model) {
    if (init == null) {
      return new Read(EditInputs.none(), "");
    }
    int size = model.imageSize();
    PixelImage image = PixelImage.read(init, "init image");
    Optional<FitMode> mode = Optional.ofNullable(fit);
    if (!image.hasSize(size) && mode.isEmpty()) {
      throw new IllegalArgumentException(
          String.format(
              "the init image %s is %s but the model makes %s×%s images: give --fit"
                  + " center-crop (the centred square, resized), --fit resize (stretched) or"
                  + " --fit pad (a border around a smaller image), or resize it yourself",
              init, image.describe(), size, size));
    }
    ImageFit imageFit = ImageFit.to(size, model.channels()).withMode(mode.orElse(FitMode.AUTO));
    PixelImage fitted = image.fit(imageFit);
    StringBuilder log =
        new StringBuilder(
            String.format(
                "init image: %s, %s, %s", init, image.describe(), image.describeFit(imageFit)));
    if (mask == null) {
      return new Read(EditInputs.image(fitted.unitRange(), 1), log.toString());
    }
    PixelImage m = PixelImage.read(mask, "mask");
    if (!m.isGray()) {
      throw new IllegalArgumentException(
          String.format(
              "the mask %s has colours: give a grayscale PNG (white = regenerate, black = keep,"
                  + " grays blend)",
              mask));
    }
    if (m.height() != image.height() || m.width() != image.width()) {
      throw new IllegalArgumentException(
          String.format(
              "the mask %s is %s×%s but the init image %s is %s×%s: give a mask of the image's"
                  + " size (white = regenerate, black = keep)",
              mask, m.height(), m.width(), init, image.height(), image.width()));
    }
    PixelImage fittedMask = m.fit(ImageFit.to(size, 1).withMode(mode.orElse(FitMode.AUTO)));
    float[] values = fittedMask.unitRange();
    double sum = 0;
    for (float v : values) {
      sum += v;
    }
    log.append(
        String.format(
            java.util.Locale.ROOT,
            "%nmask: %s, %.0f%% of the pixels regenerated",
            mask,
            100 * sum / values.length));
    return new Read(EditInputs.inpaint(fitted.unitRange(), 1, values, 1), log.toString());
  }

  private static void require(boolean condition, String template, Object... args) {
    if (!condition) {
      throw new IllegalArgumentException(String.format(template, args));
    }
  }
}
