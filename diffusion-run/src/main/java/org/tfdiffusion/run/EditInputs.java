package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * What an edit of an {@link ImageSampler} is given with each call: the images (init images, images
 * to inpaint) and the masks, as pixels in [0, 1] (a PNG's 8-bit values divided by 255), the range
 * of the images the sampler returns. One image (used for every seed) or one per seed; one mask or
 * one per seed.
 *
 * @param images [imageCount, H, W, C] row-major, C the model's channels; empty for none
 * @param imageCount 0, 1 or the number of seeds
 * @param masks [maskCount, H, W, 1] row-major: 1 = regenerate, 0 = keep, values between blend the
 *     two; empty for none
 * @param maskCount 0, 1 or the number of seeds
 */
public record EditInputs(float[] images, int imageCount, float[] masks, int maskCount) {
  private static final EditInputs NONE = new EditInputs(new float[0], 0, new float[0], 0);

  public EditInputs {
    checkArgument(images != null && masks != null, "images and masks must not be null");
    checkArgument(imageCount >= 0 && maskCount >= 0, "counts must be >= 0");
    checkArgument(
        (imageCount == 0) == (images.length == 0) && (maskCount == 0) == (masks.length == 0),
        "a count of 0 goes with no values");
    images = images.clone();
    masks = masks.clone();
  }

  /** Nothing: plain sampling and interpolation. */
  public static EditInputs none() {
    return NONE;
  }

  /** One image (or one per seed), for image-to-image. */
  public static EditInputs image(float[] images, int count) {
    return new EditInputs(images, count, new float[0], 0);
  }

  /** Images with masks, for inpainting. */
  public static EditInputs inpaint(float[] images, int imageCount, float[] masks, int maskCount) {
    return new EditInputs(images, imageCount, masks, maskCount);
  }

  @Override
  public float[] images() {
    return images.clone();
  }

  @Override
  public float[] masks() {
    return masks.clone();
  }
}
