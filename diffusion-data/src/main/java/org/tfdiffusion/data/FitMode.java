package org.tfdiffusion.data;

import java.util.List;
import org.tfdiffusion.naming.Named;

/**
 * How an image is brought to the model's square {@code size × size}. See {@link ImageFit} for the
 * exact arithmetic.
 */
public enum FitMode implements Named {
  /**
   * The default. IDX data (MNIST, Fashion-MNIST, the embedded subset) is {@link #PAD}ded when the
   * images are no larger than the model (28×28 → 32×32: two pixels of background on every side, as
   * LeNet-5 did with MNIST; the pixels stay exact) and {@link #CENTER_CROP}ped otherwise. Image
   * folders are always center-cropped.
   */
  AUTO,
  /**
   * Centre the image on a background canvas (value 0, i.e. -1 in the model's range) without
   * scaling. Odd margins put the extra pixel at the bottom / right. Fails for images larger than
   * the model.
   */
  PAD,
  /**
   * Crop the largest centred square (side = the shorter side), then resize it to the model size; no
   * scaling when the shorter side already equals the model size. The aspect ratio is kept. This is
   * torchvision's {@code Resize(size)} followed by {@code CenterCrop(size)}.
   */
  CENTER_CROP,
  /** Resize the whole image to {@code size × size}; a non-square image is stretched. */
  RESIZE;

  /**
   * The mode named {@code name}, case-insensitive, with {@code -} or {@code _}: {@code auto},
   * {@code pad}, {@code center-crop}, {@code resize}.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static FitMode lookup(String name) {
    return Named.lookup(FitMode.class, "fit mode", name);
  }

  @Override
  public List<String> names() {
    return List.of(name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
  }
}
