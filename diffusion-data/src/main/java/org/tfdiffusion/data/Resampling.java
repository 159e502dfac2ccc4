package org.tfdiffusion.data;

import java.util.List;
import org.tfdiffusion.naming.Named;

/**
 * The filter that resizes an image, applied separably (rows, then columns). Source pixel k covers
 * the interval [k, k+1); output pixel j of an axis scaled from {@code in} to {@code out} pixels
 * covers [j·s, (j+1)·s) with {@code s = in / out}.
 */
public enum Resampling implements Named {
  /**
   * The default: each output pixel is the mean of the source pixels it covers, weighted by the
   * covered fraction (TensorFlow's {@code area}, OpenCV's {@code INTER_AREA}). Alias-free when
   * shrinking; when enlarging it copies pixels, blending only where a boundary falls inside.
   */
  AREA,
  /**
   * Linear interpolation between the two nearest source pixel centres, with half-pixel centres:
   * output pixel j samples source position {@code (j + 0.5)·s - 0.5}, clamped to [0, in-1]
   * (TensorFlow 2's {@code tf.image.resize(..., "bilinear")} without antialiasing). Smooth when
   * enlarging; aliases when shrinking by more than 2.
   */
  BILINEAR;

  /**
   * The filter named {@code name}, case-insensitive: {@code area} or {@code bilinear}.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static Resampling lookup(String name) {
    return Named.lookup(Resampling.class, "resampling", name);
  }

  @Override
  public List<String> names() {
    return List.of(name().toLowerCase(java.util.Locale.ROOT));
  }
}
