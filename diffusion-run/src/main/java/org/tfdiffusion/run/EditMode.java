package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.sampling.editing.ImageToImage;
import org.tfdiffusion.sampling.editing.Inpainting;
import org.tfdiffusion.sampling.editing.Interpolation;

/**
 * What an {@link ImageSampler} draws: images from noise, or one of the edits of {@code
 * org.tfdiffusion.sampling.editing} (see docs/editing.md). The mode is fixed when the sampling
 * graph is built; the images and masks it edits are given with each call.
 */
public sealed interface EditMode
    permits EditMode.Plain, EditMode.FromImage, EditMode.Inpaint, EditMode.Interpolate {

  /** Plain sampling: x_T ~ N(0, I) per seed, every step of the plan. */
  static EditMode plain() {
    return Plain.INSTANCE;
  }

  /** Image-to-image (SDEdit) at strength s ∈ (0, 1]. */
  static EditMode imageToImage(double strength) {
    return new FromImage(ImageToImage.of(strength));
  }

  /** Inpainting, with RePaint's resampling or {@code Resampling.none()}. */
  static EditMode inpaint(Inpainting mode) {
    return new Inpaint(mode);
  }

  /** A strip of {@code frames} frames between two seeds, sampled with a deterministic sampler. */
  static EditMode interpolate(int frames) {
    return new Interpolate(new Interpolation(frames));
  }

  /** Whether the mode edits given images (image-to-image, inpainting). */
  default boolean takesImages() {
    return this instanceof FromImage || this instanceof Inpaint;
  }

  /** A short description for logs, e.g. {@code image-to-image, strength 0.6}. */
  String describe();

  /** Plain sampling. */
  record Plain() implements EditMode {
    static final Plain INSTANCE = new Plain();

    @Override
    public String describe() {
      return "from noise";
    }
  }

  /** Image-to-image. */
  record FromImage(ImageToImage mode) implements EditMode {
    public FromImage {
      checkArgument(mode != null, "image-to-image needs a mode");
    }

    @Override
    public String describe() {
      return "image-to-image, strength " + mode.strength().value();
    }
  }

  /** Inpainting. */
  record Inpaint(Inpainting mode) implements EditMode {
    public Inpaint {
      checkArgument(mode != null, "inpainting needs a mode");
    }

    @Override
    public String describe() {
      return "inpainting, strength "
          + mode.strength().value()
          + (mode.resampling().active()
              ? ", RePaint jump length "
                  + mode.resampling().jumpLength()
                  + " x "
                  + mode.resampling().count()
              : "");
    }
  }

  /** Interpolation between two seeds. */
  record Interpolate(Interpolation mode) implements EditMode {
    public Interpolate {
      checkArgument(mode != null, "interpolation needs a mode");
    }

    @Override
    public String describe() {
      return "interpolation, " + mode.frames() + " frames";
    }
  }
}
