package org.tfdiffusion.cli;

import java.util.List;
import java.util.Set;
import org.tfdiffusion.model.UNetConfig;
import picocli.CommandLine.Option;

/** The options that shape a U-Net, shared by every command that builds one (picocli mixin). */
public final class ModelOptions {
  @Option(names = "--image-size", description = "Image height and width in pixels.")
  Integer imageSize;

  @Option(names = "--channels", description = "Image channels: 1 (grayscale) or 3 (RGB).")
  Integer channels;

  @Option(
      names = {"--base-width", "--hidden-dim"},
      description = "Channels at full resolution (the tutorial's hidden_dim).")
  Integer baseWidth;

  @Option(
      names = {"--levels", "--num-layers"},
      description = "Resolution levels, widths x1, x2, x4, ... (the tutorial's num_layers).")
  Integer levels;

  @Option(
      names = "--channel-mult",
      split = ",",
      description = "Width multiplier per level, e.g. 1,2,2,4 (overrides --levels).")
  List<Integer> channelMultipliers;

  @Option(names = "--blocks-per-level", description = "Residual blocks per level and path.")
  Integer blocksPerLevel;

  @Option(
      names = "--attention",
      split = ",",
      description = "Feature-map sizes with self-attention, e.g. 16.")
  Set<Integer> attention;

  @Option(names = "--attention-heads", description = "Heads of the self-attention.")
  Integer attentionHeads;

  @Option(names = "--dropout", description = "Dropout rate in residual blocks while training.")
  Double dropout;

  @Option(names = "--classes", description = "Number of class labels (0 = unconditional).")
  Integer numClasses;

  /** {@code base} with every given option applied; validated. */
  public UNetConfig apply(UNetConfig base) {
    UNetConfig.Builder b = base.toBuilder();
    if (imageSize != null) {
      b.imageSize(imageSize);
    }
    if (channels != null) {
      b.channels(channels);
    }
    if (baseWidth != null) {
      b.baseWidth(baseWidth);
    }
    if (levels != null) {
      b.levels(levels);
    }
    if (channelMultipliers != null) {
      b.channelMultipliers(channelMultipliers);
    }
    if (blocksPerLevel != null) {
      b.blocksPerLevel(blocksPerLevel);
    }
    if (attention != null) {
      b.attentionResolutions(attention);
    }
    if (attentionHeads != null) {
      b.attentionHeads(attentionHeads);
    }
    if (dropout != null) {
      b.dropout(dropout);
    }
    if (numClasses != null) {
      b.numClasses(numClasses);
    }
    return b.build();
  }
}
