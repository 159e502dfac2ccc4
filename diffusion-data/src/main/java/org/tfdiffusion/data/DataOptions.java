package org.tfdiffusion.data;

import static com.google.common.base.Preconditions.checkNotNull;

import java.util.Optional;

/**
 * How {@link DataSources} loads a dataset.
 *
 * <table>
 *   <caption>Fields</caption>
 *   <tr><th>field</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>split</td><td>{@link Split#TRAIN}</td><td>IDX folders: which split to load (the
 *       embedded subset has only its one split and ignores this)</td></tr>
 *   <tr><td>dataset</td><td>{@link KnownDataset#AUTO}</td><td>IDX folders: which dataset,
 *       for the class names</td></tr>
 *   <tr><td>fit</td><td>none</td><td>the model's shape to fit every image to; without it
 *       images keep their size (all images of a folder must then share one size and channel
 *       count)</td></tr>
 *   <tr><td>convertMixedChannels</td><td>false</td><td>image folders: when grayscale and RGB
 *       images are mixed, replicate the grayscale ones into RGB instead of failing</td></tr>
 * </table>
 */
public record DataOptions(
    Split split, KnownDataset dataset, Optional<ImageFit> fit, boolean convertMixedChannels) {

  public DataOptions {
    checkNotNull(split, "split must not be null; Split.TRAIN is the default");
    checkNotNull(dataset, "dataset must not be null; KnownDataset.AUTO is the default");
    checkNotNull(fit, "fit must not be null; use Optional.empty() to keep the images' size");
  }

  /** Train split, dataset from the path, no fitting, mixed channels are an error. */
  public static DataOptions defaults() {
    return new DataOptions(Split.TRAIN, KnownDataset.AUTO, Optional.empty(), false);
  }

  public DataOptions withSplit(Split split) {
    return new DataOptions(split, dataset, fit, convertMixedChannels);
  }

  public DataOptions withDataset(KnownDataset dataset) {
    return new DataOptions(split, dataset, fit, convertMixedChannels);
  }

  public DataOptions withFit(ImageFit fit) {
    return new DataOptions(split, dataset, Optional.of(fit), convertMixedChannels);
  }

  public DataOptions withConvertMixedChannels(boolean convertMixedChannels) {
    return new DataOptions(split, dataset, fit, convertMixedChannels);
  }
}
