package org.tfdiffusion.model;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSortedSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The shape of a {@link UNet}. Validated on construction: a config that exists builds.
 *
 * <table>
 *   <caption>Fields</caption>
 *   <tr><th>field</th><th>tutorial default</th><th>meaning</th></tr>
 *   <tr><td>imageSize</td><td>32</td><td>height = width of the images, divisible by
 *       2^(levels-1)</td></tr>
 *   <tr><td>channels</td><td>3</td><td>1 for grayscale, 3 for RGB</td></tr>
 *   <tr><td>baseWidth</td><td>128</td><td>the tutorial's hidden_dim: channels at full resolution
 *       and size of the time embedding</td></tr>
 *   <tr><td>channelMultipliers</td><td>[1, 2, 4, 8]</td><td>width of level r is baseWidth ·
 *       multiplier[r]; its length is the number of levels (the tutorial's num_layers)</td></tr>
 *   <tr><td>blocksPerLevel</td><td>1</td><td>residual blocks per level on each path</td></tr>
 *   <tr><td>attentionResolutions</td><td>none</td><td>feature-map sizes (e.g. 16) after whose
 *       residual blocks self-attention runs</td></tr>
 *   <tr><td>attentionHeads</td><td>1</td><td>heads of that attention</td></tr>
 *   <tr><td>dropout</td><td>0</td><td>dropout rate inside residual blocks, in training</td></tr>
 *   <tr><td>numClasses</td><td>0</td><td>0 = unconditional; else class labels 0..n-1 plus a
 *       null label n</td></tr>
 *   <tr><td>normGroups</td><td>8</td><td>groups of every GroupNorm</td></tr>
 * </table>
 */
public record UNetConfig(
    int imageSize,
    int channels,
    int baseWidth,
    List<Integer> channelMultipliers,
    int blocksPerLevel,
    Set<Integer> attentionResolutions,
    int attentionHeads,
    double dropout,
    int numClasses,
    int normGroups) {

  /** The tutorial's group count. */
  public static final int DEFAULT_NORM_GROUPS = 8;

  public UNetConfig {
    channelMultipliers =
        ImmutableList.copyOf(channelMultipliers == null ? List.of() : channelMultipliers);
    attentionResolutions =
        ImmutableSortedSet.copyOf(attentionResolutions == null ? Set.of() : attentionResolutions);
    checkArgument(!channelMultipliers.isEmpty(), "channelMultipliers must name at least one level");
    for (int m : channelMultipliers) {
      checkArgument(m >= 1, "channel multipliers must be >= 1, got %s", channelMultipliers);
    }
    int levels = channelMultipliers.size();
    checkArgument(imageSize >= 1, "imageSize must be positive, got %s", imageSize);
    int factor = 1 << (levels - 1);
    checkArgument(
        imageSize % factor == 0,
        "image size %s is not divisible by 2^(levels-1) = %s (%s levels); use %s, or fewer levels",
        imageSize,
        factor,
        levels,
        divisibleNeighbours(imageSize, factor));
    checkArgument(
        channels >= 1, "channels must be >= 1 (1 = grayscale, 3 = RGB), got %s", channels);
    checkArgument(normGroups >= 1, "normGroups must be >= 1, got %s", normGroups);
    checkArgument(
        baseWidth >= 4 && baseWidth % 2 == 0,
        "baseWidth (hidden_dim) must be even and >= 4 (it sizes the sinusoidal time embedding),"
            + " got %s",
        baseWidth);
    for (int level = 0; level < levels; level++) {
      int width = baseWidth * channelMultipliers.get(level);
      checkArgument(
          width % normGroups == 0,
          "level %s has %s channels (baseWidth %s x multiplier %s), not divisible by %s norm"
              + " groups",
          level,
          width,
          baseWidth,
          channelMultipliers.get(level),
          normGroups);
    }
    checkArgument(blocksPerLevel >= 1, "blocksPerLevel must be >= 1, got %s", blocksPerLevel);
    checkArgument(attentionHeads >= 1, "attentionHeads must be >= 1, got %s", attentionHeads);
    List<Integer> sizes = new ArrayList<>();
    for (int level = 0; level < levels; level++) {
      sizes.add(imageSize >> level);
    }
    for (int resolution : attentionResolutions) {
      int level = sizes.indexOf(resolution);
      checkArgument(
          level >= 0,
          "attention resolution %s is not a feature-map size of this network; valid: %s",
          resolution,
          sizes);
      int width = baseWidth * channelMultipliers.get(level);
      checkArgument(
          width % attentionHeads == 0,
          "attention at %s: %s channels do not split into %s heads",
          resolution,
          width,
          attentionHeads);
    }
    checkArgument(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got %s", dropout);
    checkArgument(
        numClasses >= 0, "numClasses must be >= 0 (0 = unconditional), got %s", numClasses);
  }

  private static String divisibleNeighbours(int size, int factor) {
    int below = size / factor * factor;
    int above = below + factor;
    return below >= factor ? below + " or " + above : String.valueOf(above);
  }

  /** The tutorial's model: 32×32×3, hidden 128, 4 levels. */
  public static UNetConfig tutorial() {
    return builder().build();
  }

  /** The small benchmark model: 32×32×1, hidden 64, 3 levels. */
  public static UNetConfig small() {
    return builder().channels(1).baseWidth(64).levels(3).build();
  }

  /** A builder starting from the tutorial's defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from this config. */
  public Builder toBuilder() {
    return new Builder()
        .imageSize(imageSize)
        .channels(channels)
        .baseWidth(baseWidth)
        .channelMultipliers(channelMultipliers)
        .blocksPerLevel(blocksPerLevel)
        .attentionResolutions(attentionResolutions)
        .attentionHeads(attentionHeads)
        .dropout(dropout)
        .numClasses(numClasses)
        .normGroups(normGroups);
  }

  /** The number of resolution levels (the tutorial's num_layers). */
  public int levels() {
    return channelMultipliers.size();
  }

  /** The channel width of level r. */
  public int width(int level) {
    return baseWidth * channelMultipliers.get(level);
  }

  /** The feature-map size at level r. */
  public int resolution(int level) {
    return imageSize >> level;
  }

  /** The size of the time (and label) embedding: the base width, as in the tutorial. */
  public int embeddingDim() {
    return baseWidth;
  }

  /** Whether the model takes class labels. */
  public boolean conditional() {
    return numClasses > 0;
  }

  /** A short human description, e.g. {@code 32x32x3, width 128 x [1, 2, 4, 8]}. */
  public String describe() {
    StringBuilder s =
        new StringBuilder()
            .append(imageSize)
            .append('x')
            .append(imageSize)
            .append('x')
            .append(channels)
            .append(", width ")
            .append(baseWidth)
            .append(" x ")
            .append(channelMultipliers)
            .append(", ")
            .append(blocksPerLevel)
            .append(blocksPerLevel == 1 ? " block" : " blocks")
            .append("/level");
    if (!attentionResolutions.isEmpty()) {
      s.append(", attention at ").append(attentionResolutions).append(" (").append(attentionHeads);
      s.append(attentionHeads == 1 ? " head)" : " heads)");
    }
    if (dropout > 0) {
      s.append(", dropout ").append(dropout);
    }
    s.append(numClasses > 0 ? ", " + numClasses + " classes" : ", unconditional");
    return s.toString();
  }

  /** Fluent builder; {@link #build()} validates. */
  public static final class Builder {
    private int imageSize = 32;
    private int channels = 3;
    private int baseWidth = 128;
    private List<Integer> channelMultipliers = List.of(1, 2, 4, 8);
    private int blocksPerLevel = 1;
    private Set<Integer> attentionResolutions = Set.of();
    private int attentionHeads = 1;
    private double dropout = 0;
    private int numClasses = 0;
    private int normGroups = DEFAULT_NORM_GROUPS;

    private Builder() {}

    public Builder imageSize(int imageSize) {
      this.imageSize = imageSize;
      return this;
    }

    public Builder channels(int channels) {
      this.channels = channels;
      return this;
    }

    public Builder baseWidth(int baseWidth) {
      this.baseWidth = baseWidth;
      return this;
    }

    public Builder channelMultipliers(List<Integer> channelMultipliers) {
      this.channelMultipliers = channelMultipliers;
      return this;
    }

    /** The tutorial's num_layers: multipliers 1, 2, 4, ..., 2^(levels-1). */
    public Builder levels(int levels) {
      checkArgument(levels >= 1 && levels <= 16, "levels must be in [1, 16], got %s", levels);
      List<Integer> m = new ArrayList<>();
      for (int r = 0; r < levels; r++) {
        m.add(1 << r);
      }
      this.channelMultipliers = m;
      return this;
    }

    public Builder blocksPerLevel(int blocksPerLevel) {
      this.blocksPerLevel = blocksPerLevel;
      return this;
    }

    public Builder attentionResolutions(Set<Integer> attentionResolutions) {
      this.attentionResolutions = attentionResolutions;
      return this;
    }

    public Builder attentionHeads(int attentionHeads) {
      this.attentionHeads = attentionHeads;
      return this;
    }

    public Builder dropout(double dropout) {
      this.dropout = dropout;
      return this;
    }

    public Builder numClasses(int numClasses) {
      this.numClasses = numClasses;
      return this;
    }

    public Builder normGroups(int normGroups) {
      this.normGroups = normGroups;
      return this;
    }

    public UNetConfig build() {
      return new UNetConfig(
          imageSize,
          channels,
          baseWidth,
          channelMultipliers,
          blocksPerLevel,
          attentionResolutions,
          attentionHeads,
          dropout,
          numClasses,
          normGroups);
    }
  }
}
